"""A synthetic video endpoint on loopback for the video tests and ``bench/video.py``.

It is deliberately INDEPENDENT of Moot's own video code (``moot.media.video``), so that the
two check each other: pictures are encoded and decoded with PyAV (libx264 / libvpx encoders,
FFmpeg's h264 / vp8 decoders), RTP payloads are made and undone with aiortc's H.264
(RFC 6184, packetization-mode 1: single NAL, STAP-A, FU-A) and VP8 (RFC 7741) payloaders,
RTCP feedback is built and parsed with aiortc's RTCP classes. Only the RTP fixed header comes
from :mod:`moot.media.rtp`.

Pictures are I420 numpy arrays as PyAV's ``to_ndarray(format="yuv420p")`` gives them
(shape ``(h * 3 // 2, w)``), or RGB arrays ``(h, w, 3)`` for the analysis helpers.

Parts:

* pictures: :func:`solid_i420` (BT.601 studio range), :func:`pattern_i420` (a solid colour,
  optionally with a moving white box and a little noise), :func:`i420_to_rgb`,
  :func:`make_y4m` (a Y4M file for Chromium's ``--use-file-for-fake-video-capture``);
* analysis: :func:`dominant_colours`, :func:`pane_colours`, :func:`has_colour` sample a grid
  of points, cluster them by colour distance and ignore dark areas (placeholders, borders,
  label strips) and small clusters (label text, the moving box);
* :func:`encode_clip`: a few seconds of one colour pre-encoded and pre-packetized once, that
  a :class:`VideoPeer` replays with rewritten sequence numbers and timestamps (cheap load);
* :class:`VideoPeer`: an asyncio RTP/RTCP endpoint (even RTP port, RTCP on port + 1) that
  sends its colour at ``fps`` (live encoding or clip replay), receives, depacketizes and
  decodes the bridge's stream, answers PLI/FIR with an IDR, asks for keyframes and measures
  the time to the IDR, and sends bad input on demand;
* :func:`start_video_call`: runs the ``uac_video`` sipp scenario and returns the bridge's
  video port from its answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import random
import socket
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal, Protocol

import av
import numpy as np
import numpy.typing as npt
from aiortc.codecs.h264 import H264Encoder, h264_depayload
from aiortc.codecs.vpx import Vp8Encoder, vp8_depayload
from aiortc.rtp import (
    RTCP_PSFB_FIR,
    RTCP_PSFB_PLI,
    RtcpPacket,
    RtcpPsfbPacket,
    RtcpRrPacket,
)

from moot.media.rtp import RtpError, RtpPacket, is_rtcp, parse_header, seq_diff
from tests.sipp_helpers import SippError, SippProcess, start_sipp, write_rtp_pcap

__all__ = [
    "BLACK",
    "BLUE",
    "CLOCK_RATE",
    "CYAN",
    "GREEN",
    "MAGENTA",
    "PALETTE",
    "RED",
    "WHITE",
    "YELLOW",
    "EncodedClip",
    "Picture",
    "ReceivedFrame",
    "Rgb",
    "VideoPeer",
    "VideoPeerStats",
    "colour_distance",
    "colour_share",
    "dominant_colours",
    "encode_clip",
    "has_colour",
    "i420_to_rgb",
    "is_keyframe",
    "make_y4m",
    "pane_colours",
    "pattern_i420",
    "rgb_to_yuv",
    "solid_i420",
    "start_video_call",
]

Rgb = tuple[int, int, int]
Picture = npt.NDArray[np.uint8]
Pattern = Literal["solid", "moving", "noisy"]

CLOCK_RATE = 90_000
"""RTP clock of every video payload format."""

RED: Rgb = (230, 30, 30)
GREEN: Rgb = (30, 200, 30)
BLUE: Rgb = (30, 60, 230)
YELLOW: Rgb = (235, 220, 30)
MAGENTA: Rgb = (220, 30, 220)
CYAN: Rgb = (30, 210, 220)
WHITE: Rgb = (235, 235, 235)
BLACK: Rgb = (0, 0, 0)
PALETTE: tuple[Rgb, ...] = (RED, GREEN, BLUE, YELLOW, MAGENTA, CYAN)
"""Bright colours far apart (> 150 in some channel) after a YUV round trip."""

DEFAULT_PAYLOAD_TYPES: Mapping[int, str] = {96: "H264", 97: "VP8"}
CODEC_NAMES = ("H264", "VP8")


# --------------------------------------------------------------------------------------------
# Pictures
# --------------------------------------------------------------------------------------------


def rgb_to_yuv(rgb: Sequence[int]) -> tuple[int, int, int]:
    """BT.601 studio-range Y'CbCr (Y 16..235, Cb/Cr 16..240) of an 8-bit R'G'B' colour."""
    r, g, b = (float(c) / 255 for c in rgb)
    y = 16 + 65.481 * r + 128.553 * g + 24.966 * b
    u = 128 - 37.797 * r - 74.203 * g + 112.0 * b
    v = 128 + 112.0 * r - 93.786 * g - 18.214 * b
    return round(y), round(u), round(v)


def _check_size(width: int, height: int) -> None:
    if width <= 0 or height <= 0 or width % 2 or height % 2:
        raise ValueError(f"picture size {width}x{height}: both must be positive and even")


def solid_i420(width: int, height: int, rgb: Sequence[int]) -> Picture:
    """An I420 picture (``(h * 3 // 2, w)`` uint8) of one colour."""
    _check_size(width, height)
    out = np.empty((height * 3 // 2, width), dtype=np.uint8)
    for plane, value in zip(_planes(out), rgb_to_yuv(rgb), strict=True):
        plane[...] = value
    return out


@lru_cache(maxsize=8)
def _noise(width: int, height: int) -> npt.NDArray[np.int16]:
    """8 luma noise planes (+-3) reused cyclically: generating noise per frame is too slow."""
    rng = np.random.default_rng(width * 7919 + height)
    return rng.integers(-3, 4, size=(8, height, width), dtype=np.int16)


def pattern_i420(
    width: int, height: int, rgb: Sequence[int], index: int = 0, pattern: Pattern = "solid",
    *, fps: int = 30,
) -> Picture:  # fmt: skip
    """Frame ``index`` of a test pattern: ``solid`` (one colour), ``moving`` (the colour
    with a white box, 1/8 of the width and height, crossing the picture in 4 s), ``noisy``
    (``moving`` plus +-3 luma noise that changes every frame, so an encoder spends a
    realistic bit rate and a decoder realistic work)."""
    out = solid_i420(width, height, rgb)
    if pattern == "solid":
        return out
    if pattern not in ("moving", "noisy"):
        raise ValueError(f"unknown pattern {pattern!r}: solid, moving or noisy")
    if pattern == "noisy":
        noisy = out[:height].astype(np.int16) + _noise(width, height)[index % 8]
        out[:height] = np.clip(noisy, 0, 255).astype(np.uint8)
    bw, bh = max(2, width // 8) & ~1, max(2, height // 8) & ~1
    span = width - bw
    period = 4 * fps
    phase = index % (2 * period)
    x = (span * (phase if phase < period else 2 * period - phase) // period) & ~1
    y = (height // 4) & ~1
    wy, wu, wv = rgb_to_yuv(WHITE)
    luma, u, v = _planes(out)
    luma[y : y + bh, x : x + bw] = wy
    u[y // 2 : (y + bh) // 2, x // 2 : (x + bw) // 2] = wu
    v[y // 2 : (y + bh) // 2, x // 2 : (x + bw) // 2] = wv
    return out


def _planes(picture: Picture) -> tuple[Picture, Picture, Picture]:
    """The Y (h x w), U and V (h/2 x w/2) planes of an I420 picture: views when it is
    C-contiguous (the planes follow each other; U need not start on a row if h % 4 != 0)."""
    rows, width = picture.shape
    height = rows * 2 // 3
    if picture.ndim != 2 or rows != height * 3 // 2 or width % 2 or height % 2:
        raise ValueError(f"{picture.shape} is not an I420 picture of even size")
    flat = np.ascontiguousarray(picture).reshape(-1)  # a view when already contiguous
    luma, chroma = width * height, width * height // 4
    y = flat[:luma].reshape(height, width)
    u = flat[luma : luma + chroma].reshape(height // 2, width // 2)
    v = flat[luma + chroma :].reshape(height // 2, width // 2)
    return y, u, v


def _yuv_to_rgb(y: npt.NDArray[np.floating], u: npt.NDArray[np.floating],
                v: npt.NDArray[np.floating]) -> npt.NDArray[np.uint8]:  # fmt: skip
    c = 1.164 * (y - 16)
    d = u - 128
    e = v - 128
    rgb = np.stack([c + 1.596 * e, c - 0.392 * d - 0.813 * e, c + 2.017 * d], axis=-1)
    out: npt.NDArray[np.uint8] = np.clip(np.rint(rgb), 0, 255).astype(np.uint8)
    return out


def i420_to_rgb(picture: Picture) -> Picture:
    """The ``(h, w, 3)`` RGB of an I420 picture (BT.601 studio range, chroma repeated)."""
    y, u, v = _planes(picture)
    uu = np.repeat(np.repeat(u, 2, axis=0), 2, axis=1)
    vv = np.repeat(np.repeat(v, 2, axis=0), 2, axis=1)
    return _yuv_to_rgb(y.astype(np.float32), uu.astype(np.float32), vv.astype(np.float32))


def make_y4m(
    path: Path | str, width: int, height: int, colour: Sequence[int], frames: int = 90,
    fps: int = 30, *, pattern: Pattern = "moving",
) -> Path:  # fmt: skip
    """Write a Y4M (YUV4MPEG2, 4:2:0) file of :func:`pattern_i420` frames, for Chromium's
    ``--use-fake-device-for-media-stream --use-file-for-fake-video-capture=<path>`` (which
    loops it). A ``moving`` pattern lets a viewer tell a live picture from a frozen one."""
    _check_size(width, height)
    if frames < 1 or fps < 1:
        raise ValueError("frames and fps must be positive")
    path = Path(path)
    with open(path, "wb") as f:
        f.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for i in range(frames):
            f.write(b"FRAME\n")
            f.write(pattern_i420(width, height, colour, i, pattern, fps=fps).tobytes())
    return path


# --------------------------------------------------------------------------------------------
# Picture analysis
# --------------------------------------------------------------------------------------------


def colour_distance(a: Sequence[int], b: Sequence[int]) -> int:
    """Largest per-channel difference of two RGB colours (0..255)."""
    return max(abs(int(x) - int(y)) for x, y in zip(a, b, strict=True))


def _sample(
    picture: Picture, cols: int, rows: int,
    box: tuple[float, float, float, float] = (0.0, 0.0, 1.0, 1.0),
) -> npt.NDArray[np.uint8]:  # fmt: skip
    """RGB of a ``cols`` x ``rows`` grid of points (cell centres) inside ``box`` =
    (left, top, right, bottom) fractions; ``picture`` is I420 or ``(h, w, 3)`` RGB."""
    rgb_input = picture.ndim == 3
    height = picture.shape[0] if rgb_input else picture.shape[0] * 2 // 3
    width = picture.shape[1]
    left, top, right, bottom = box
    xs = ((left + (right - left) * (np.arange(cols) + 0.5) / cols) * width).astype(int)
    ys = ((top + (bottom - top) * (np.arange(rows) + 0.5) / rows) * height).astype(int)
    xs = np.clip(xs, 0, width - 1)
    ys = np.clip(ys, 0, height - 1)
    if rgb_input:
        return picture[np.ix_(ys, xs)].reshape(-1, 3)
    y, u, v = _planes(picture)
    yy = y[np.ix_(ys, xs)].astype(np.float32)
    uu = u[np.ix_(ys // 2, xs // 2)].astype(np.float32)
    vv = v[np.ix_(ys // 2, xs // 2)].astype(np.float32)
    return _yuv_to_rgb(yy, uu, vv).reshape(-1, 3)


def _clusters(points: npt.NDArray[np.uint8], tol: int) -> list[tuple[Rgb, int]]:
    """Greedy clustering: each point joins the first cluster whose mean is within ``tol``
    (per channel), else starts one. Returns (mean colour, count), largest first."""
    sums: list[npt.NDArray[np.int64]] = []
    counts: list[int] = []
    means = np.zeros((0, 3), dtype=np.float64)
    for p in points.astype(np.int64):
        if counts:
            dist = np.abs(means - p).max(axis=1)
            k = int(np.argmin(dist))
            if dist[k] <= tol:
                sums[k] += p
                counts[k] += 1
                means[k] = sums[k] / counts[k]
                continue
        sums.append(p.copy())
        counts.append(1)
        means = np.vstack([means, p.astype(np.float64)])
    out = [
        ((round(m[0]), round(m[1]), round(m[2])), c)
        for m, c in zip(means, counts, strict=True)
    ]
    return sorted(out, key=lambda item: -item[1])


def _is_dark(rgb: Sequence[int], dark: int) -> bool:
    return max(rgb) < dark


def dominant_colours(
    picture: Picture, *, grid: tuple[int, int] = (48, 27), tol: int = 50,
    min_share: float = 0.03, dark: int = 70,
) -> list[tuple[Rgb, float]]:  # fmt: skip
    """The solid colours covering at least ``min_share`` of the picture, largest first, as
    (mean RGB, share of the sampled points).

    A ``grid`` = (columns, rows) of points is sampled and clustered (points within ``tol``
    per channel of a cluster's mean join it). Dark clusters (every channel under ``dark``:
    black borders, placeholder panes, label strips) are left out, so are small ones (label
    text, a moving box). With one distinct colour per source, the length of the result is
    roughly the number of panes showing a picture.
    """
    cols, rows = grid
    points = _sample(picture, cols, rows)
    total = len(points)
    return [
        (rgb, count / total)
        for rgb, count in _clusters(points, tol)
        if count / total >= min_share and not _is_dark(rgb, dark)
    ]


def pane_colours(
    picture: Picture, grid: tuple[int, int], *, tol: int = 50, majority: float = 0.5,
    dark: int = 70,
) -> list[Rgb | None]:  # fmt: skip
    """The colour of each cell of a ``grid`` = (columns, rows) layout, row by row.

    Each cell is sampled (8 x 6 points) away from its edges and from its bottom quarter
    (where the compositor draws names); a cell's colour is the cluster holding at least
    ``majority`` of its points, None when there is none or it is dark (an empty or
    placeholder pane).
    """
    cols, rows = grid
    out: list[Rgb | None] = []
    for r in range(rows):
        for c in range(cols):
            box = (
                (c + 0.12) / cols, (r + 0.1) / rows, (c + 0.88) / cols, (r + 0.72) / rows,
            )  # fmt: skip
            points = _sample(picture, 8, 6, box)
            clusters = _clusters(points, tol)
            rgb, count = clusters[0]
            ok = count / len(points) >= majority and not _is_dark(rgb, dark)
            out.append(rgb if ok else None)
    return out


def colour_share(
    picture: Picture, rgb: Sequence[int], tol: int = 60, *, grid: tuple[int, int] = (48, 27),
) -> float:  # fmt: skip
    """The share (0..1) of a ``grid`` of points within ``tol`` (per channel) of ``rgb``."""
    points = _sample(picture, grid[0], grid[1]).astype(np.int16)
    near = np.abs(points - np.asarray(rgb, dtype=np.int16)).max(axis=1) <= tol
    return float(near.mean())


def has_colour(
    picture: Picture, rgb: Sequence[int], tol: int = 60, *, min_share: float = 0.02,
    grid: tuple[int, int] = (48, 27),
) -> bool:  # fmt: skip
    """True when at least ``min_share`` of a grid of points are within ``tol`` of ``rgb``."""
    return colour_share(picture, rgb, tol, grid=grid) >= min_share


# --------------------------------------------------------------------------------------------
# Coding (PyAV) and payloads (aiortc)
# --------------------------------------------------------------------------------------------


def _codec_name(codec: str) -> str:
    name = codec.upper()
    if name not in CODEC_NAMES:
        raise ValueError(f"video codec {codec!r}: H264 or VP8")
    return name


def is_keyframe(codec: str, frame: bytes) -> bool:
    """H.264: the Annex-B access unit holds an IDR slice (NAL type 5). VP8: the frame tag's
    P bit is 0 and the key frame start code 9d 01 2a follows (RFC 6386 9.1)."""
    if _codec_name(codec) == "VP8":
        return len(frame) >= 6 and not frame[0] & 1 and frame[3:6] == b"\x9d\x01\x2a"
    pos = frame.find(b"\x00\x00\x01")
    while 0 <= pos < len(frame) - 3:
        if frame[pos + 3] & 0x1F == 5:
            return True
        pos = frame.find(b"\x00\x00\x01", pos + 3)
    return False


class _Encoder:
    """A PyAV encoder: libx264 (constrained baseline, ultrafast, zerolatency, IDR only on
    request) or libvpx VP8 (realtime, no lag); one thread, as a media server's would be."""

    def __init__(self, codec: str, width: int, height: int, fps: int, bitrate: int) -> None:
        _check_size(width, height)
        self.codec = _codec_name(codec)
        self.width, self.height, self.fps = width, height, fps
        self.frames = 0
        if self.codec == "H264":
            ctx = av.CodecContext.create("libx264", "w")
            ctx.options = {
                "preset": "ultrafast", "tune": "zerolatency", "forced-idr": "1",
                "x264-params": "scenecut=0:repeat-headers=1",
            }  # fmt: skip
            ctx.profile = "Baseline"
        else:
            ctx = av.CodecContext.create("libvpx", "w")
            ctx.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}
        assert isinstance(ctx, av.VideoCodecContext)
        ctx.width, ctx.height = width, height
        ctx.pix_fmt = "yuv420p"
        ctx.time_base = fractions.Fraction(1, fps)
        ctx.framerate = fractions.Fraction(fps, 1)
        ctx.bit_rate = bitrate
        ctx.gop_size = 10_000
        ctx.thread_count = 1
        self._ctx = ctx

    def encode(self, picture: Picture, *, keyframe: bool = False) -> tuple[bytes, bool] | None:
        frame = av.VideoFrame.from_ndarray(picture, format="yuv420p")
        frame.pts = self.frames
        frame.time_base = fractions.Fraction(1, self.fps)
        frame.pict_type = av.video.frame.PictureType.I if keyframe else av.video.frame.PictureType.NONE
        self.frames += 1
        data = b"".join(bytes(p) for p in self._ctx.encode(frame))
        return (data, is_keyframe(self.codec, data)) if data else None


class _Decoder:
    """A PyAV decoder (FFmpeg h264 / vp8, one thread: no frame-threading delay)."""

    def __init__(self, codec: str) -> None:
        self.codec = _codec_name(codec)
        ctx = av.CodecContext.create("h264" if self.codec == "H264" else "vp8", "r")
        ctx.thread_count = 1
        self._ctx = ctx
        self.errors = 0

    def decode(self, data: bytes) -> Picture | None:
        try:
            frames = self._ctx.decode(av.Packet(data))
        except (av.FFmpegError, ValueError):
            self.errors += 1
            return None
        if not frames:
            return None
        frame = frames[-1]
        assert isinstance(frame, av.VideoFrame)
        w, h = frame.width & ~1, frame.height & ~1
        if (w, h) != (frame.width, frame.height):
            frame = frame.reformat(width=w, height=h)
        picture: Picture = np.asarray(frame.to_ndarray(format="yuv420p"), dtype=np.uint8)
        return picture


class _Payloader:
    """aiortc's payloaders used as such: one encoded frame -> RTP payloads (<= 1300 octets)."""

    def __init__(self, codec: str) -> None:
        self.codec = _codec_name(codec)
        self._impl: H264Encoder | Vp8Encoder = (
            H264Encoder() if self.codec == "H264" else Vp8Encoder()
        )

    def payloads(self, data: bytes) -> list[bytes]:
        packet = av.Packet(data)
        packet.pts = 0
        packet.time_base = fractions.Fraction(1, CLOCK_RATE)
        payloads, _ = self._impl.pack(packet)
        return payloads


def _vp8_picture_id(payload: bytes, picture_id: int) -> bytes:
    """Rewrite the 15-bit PictureID aiortc writes (X=1, I=1, M=1) in a VP8 payload."""
    if len(payload) < 4 or not (payload[0] & payload[1] & payload[2] & 0x80):
        return payload
    high = 0x80 | (picture_id >> 8) & 0x7F
    return bytes([payload[0], payload[1], high, picture_id & 0xFF]) + payload[4:]


@dataclass(frozen=True)
class EncodedClip:
    """Frames of one colour encoded once: frame 0 is a keyframe, the rest predicted from it,
    so replay may restart at 0 at any time (a keyframe on request) or loop."""

    codec: str
    width: int
    height: int
    fps: int
    colour: Rgb
    frames: tuple[tuple[bytes, ...], ...]
    """RTP payloads of each frame."""

    @property
    def bitrate(self) -> float:
        """Average payload bit rate when played at ``fps``."""
        octets = sum(len(p) for frame in self.frames for p in frame)
        return 8 * octets * self.fps / max(1, len(self.frames))


def encode_clip(
    codec: str, width: int, height: int, colour: Sequence[int], *, fps: int = 30,
    seconds: float = 2.0, bitrate: int | None = None, pattern: Pattern = "noisy",
) -> EncodedClip:  # fmt: skip
    """Encode ``seconds`` of :func:`pattern_i420` in ``colour`` and packetize it (see
    :class:`EncodedClip`). ``bitrate`` defaults to 0.1 bit per pixel per frame (720p30:
    2.8 Mbit/s cap; the noisy pattern uses about half)."""
    rate = bitrate or int(0.1 * width * height * fps)
    encoder = _Encoder(codec, width, height, fps, rate)
    payloader = _Payloader(codec)
    count = max(2, round(seconds * fps))
    frames: list[tuple[bytes, ...]] = []
    for i in range(count):
        out = encoder.encode(pattern_i420(width, height, colour, i, pattern, fps=fps),
                             keyframe=i == 0)  # fmt: skip
        if out is None:
            raise RuntimeError(f"{codec} encoder produced no frame for picture {i}")
        data, key = out
        if key != (i == 0):
            raise RuntimeError(f"{codec} frame {i}: keyframe={key} (only frame 0 should be)")
        frames.append(tuple(payloader.payloads(data)))
    rgb = (int(colour[0]), int(colour[1]), int(colour[2]))
    return EncodedClip(_codec_name(codec), width, height, fps, rgb, tuple(frames))


# --------------------------------------------------------------------------------------------
# Frame sources (what a peer sends)
# --------------------------------------------------------------------------------------------


class _Source(Protocol):
    codec: str

    def next_frame(self, index: int, keyframe: bool) -> tuple[list[bytes], bool]: ...

    def set_colour(self, colour: Rgb) -> None: ...


class _LiveSource:
    """Encodes a pattern picture per frame (resolution changes on demand)."""

    def __init__(self, codec: str, width: int, height: int, fps: int, bitrate: int | None,
                 colour: Rgb, pattern: Pattern) -> None:  # fmt: skip
        self.codec = _codec_name(codec)
        self.fps = fps
        self.bitrate = bitrate
        self.colour = colour
        self.pattern: Pattern = pattern
        self.size = (width, height)
        self._encoder: _Encoder | None = None
        self._payloader = _Payloader(codec)

    def set_colour(self, colour: Rgb) -> None:
        self.colour = colour

    def next_frame(self, index: int, keyframe: bool) -> tuple[list[bytes], bool]:
        w, h = self.size
        if self._encoder is None or (self._encoder.width, self._encoder.height) != (w, h):
            rate = self.bitrate or int(0.1 * w * h * self.fps)
            self._encoder = _Encoder(self.codec, w, h, self.fps, rate)
            keyframe = True
        out = self._encoder.encode(
            pattern_i420(w, h, self.colour, index, self.pattern, fps=self.fps), keyframe=keyframe
        )
        if out is None:
            return [], False
        data, key = out
        return self._payloader.payloads(data), key


class _ClipSource:
    """Replays pre-encoded clips; a keyframe request or a colour change restarts at frame 0."""

    def __init__(self, clips: Mapping[Rgb, EncodedClip], colour: Rgb) -> None:
        if colour not in clips:
            raise ValueError(f"no clip of colour {colour}; have {sorted(clips)}")
        self.clips = clips
        self.codec = next(iter(clips.values())).codec
        self.colour = colour
        self._pos = 0
        self._picture_id = random.randrange(1 << 15)

    def set_colour(self, colour: Rgb) -> None:
        if colour not in self.clips:
            raise ValueError(f"no clip of colour {colour}; have {sorted(self.clips)}")
        if colour != self.colour:
            self.colour = colour
            self._pos = 0

    def next_frame(self, index: int, keyframe: bool) -> tuple[list[bytes], bool]:
        clip = self.clips[self.colour]
        if keyframe:
            self._pos = 0
        payloads = list(clip.frames[self._pos])
        key = self._pos == 0
        self._pos = (self._pos + 1) % len(clip.frames)
        if self.codec == "VP8":
            payloads = [_vp8_picture_id(p, self._picture_id) for p in payloads]
            self._picture_id = (self._picture_id + 1) & 0x7FFF
        return payloads, key


# --------------------------------------------------------------------------------------------
# Receiving: RTP -> frames
# --------------------------------------------------------------------------------------------


@dataclass
class ReceivedFrame:
    """One complete frame from the bridge."""

    timestamp: int
    """RTP timestamp."""
    first_arrival: float
    arrival: float
    """``loop.time()`` of its first and last (marker) packet."""
    keyframe: bool
    data: bytes
    """Annex-B access unit (H.264) or VP8 frame, as aiortc's depayloaders rebuild it."""
    decodable: bool
    """Every frame since the last keyframe arrived whole (a decoder can show it)."""
    picture: Picture | None = None
    """The decoded I420 picture (when the peer decodes)."""


class _Assembler:
    """Groups one stream's RTP packets into frames (same timestamp, ending with the marker).

    A sequence gap damages the frame in progress and the one the next packet belongs to;
    a damaged or incomplete frame is dropped and breaks the decoding chain until the next
    keyframe. Reordering does not happen on loopback: a late packet counts as a duplicate.
    """

    def __init__(self, codec: str) -> None:
        self.codec = _codec_name(codec)
        self._depayload = h264_depayload if self.codec == "H264" else vp8_depayload
        self.ssrc: int | None = None
        self._last_seq: int | None = None
        self._ts: int | None = None
        self._parts: list[bytes] = []
        self._first_arrival = 0.0
        self._damaged = False
        self.chain_ok = False
        self.lost = 0
        self.duplicates = 0
        self.incomplete = 0
        self.malformed = 0

    def _drop_current(self) -> None:
        if self._ts is not None:
            self.incomplete += 1
            self.chain_ok = False
        self._ts = None
        self._parts = []
        self._damaged = False

    def push(self, seq: int, ts: int, ssrc: int, marker: bool, payload: bytes,
             arrival: float) -> ReceivedFrame | None:  # fmt: skip
        if ssrc != self.ssrc:
            self.ssrc = ssrc
            self._last_seq = None
            self._ts = None
            self._parts = []
            self._damaged = False
            self.chain_ok = False
        if self._last_seq is not None:
            d = seq_diff(seq, self._last_seq)
            if d <= 0:
                self.duplicates += 1
                return None
            if d > 1:
                self.lost += d - 1
                if self._ts is not None:
                    self._drop_current()
                self._damaged = True  # the new packet's frame may have lost its start
                self.chain_ok = False
        self._last_seq = seq
        if self._ts is not None and ts != self._ts:
            self._drop_current()  # previous frame never got its marker
        if self._ts is None:
            self._ts = ts
            self._first_arrival = arrival
        try:
            self._parts.append(self._depayload(payload))
        except (ValueError, IndexError):
            self.malformed += 1
            self._damaged = True
        if not marker:
            return None
        damaged = self._damaged
        data = b"".join(self._parts)
        self._ts = None
        self._parts = []
        self._damaged = False
        if damaged or not data:
            self.incomplete += 1
            self.chain_ok = False
            return None
        key = is_keyframe(self.codec, data)
        if key:
            self.chain_ok = True
        return ReceivedFrame(ts, self._first_arrival, arrival, key, data, self.chain_ok)


# --------------------------------------------------------------------------------------------
# The peer
# --------------------------------------------------------------------------------------------


@dataclass
class VideoPeerStats:
    """Counters of one :class:`VideoPeer` (since start or :meth:`VideoPeer.reset_stats`)."""

    # sending
    frames_sent: int = 0
    packets_sent: int = 0
    bytes_sent: int = 0
    keyframes_sent: int = 0
    frames_late: int = 0
    """Frame slots skipped because the send loop fell behind."""
    plis_received: int = 0
    firs_received: int = 0
    # receiving
    packets_received: int = 0
    bytes_received: int = 0
    packets_lost: int = 0
    not_rtp: int = 0
    """Datagrams on the RTP port that are neither RTP nor RTCP."""
    frames_received: int = 0
    """Complete frames (all packets, marker seen)."""
    frames_incomplete: int = 0
    frames_undecodable: int = 0
    """Complete frames received while the decoding chain was broken (waiting for an IDR)."""
    frames_decoded: int = 0
    keyframes_received: int = 0
    decode_errors: int = 0
    malformed_payloads: int = 0
    rtcp_received: int = 0
    plis_sent: int = 0
    firs_sent: int = 0
    width: int = 0
    height: int = 0
    """Size of the last decoded picture."""


class _Rtp(asyncio.DatagramProtocol):
    def __init__(self, peer: VideoPeer, rtcp: bool) -> None:
        self.peer = peer
        self.rtcp = rtcp

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if self.rtcp or is_rtcp(data):
            self.peer._on_rtcp(data, addr)
        else:
            self.peer._on_rtp(data, addr)

    def error_received(self, exc: Exception) -> None:  # ICMP port unreachable: ignore
        pass


def _bind_pair(host: str) -> tuple[socket.socket, socket.socket]:
    """Two UDP sockets on an even port and the next one."""
    for _ in range(100):
        rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        rtp.bind((host, 0))
        port = rtp.getsockname()[1]
        if port % 2 == 0 and port < 65535:
            rtcp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                rtcp.bind((host, port + 1))
            except OSError:
                rtcp.close()
            else:
                for s in (rtp, rtcp):
                    s.setblocking(False)
                try:
                    rtp.setsockopt(socket.SOL_SOCKET, 33, 4 << 20)  # SO_RCVBUFFORCE (root)
                except OSError:
                    rtp.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
                return rtp, rtcp
        rtp.close()
    raise OSError(f"no free even/odd UDP port pair on {host}")


class VideoPeer:
    """A video endpoint on ``host``: RTP on an even port (:attr:`port`), RTCP on port + 1.

    Receiving: RTP of the payload types in ``payload_types`` (default 96 H264, 97 VP8) is
    assembled into frames; with ``decode`` the decodable ones are decoded and the newest
    picture is :attr:`latest` (I420). ``on_frame`` is called with every complete frame.
    With ``auto_pli`` the peer sends a PLI (at most every 0.5 s) when it cannot decode
    (loss, or no keyframe yet), as real endpoints do.

    Sending (:meth:`start_sending`): frames of its colour at ``fps`` with 90 kHz timestamps
    and the marker bit on each frame's last packet, from the RTP socket; a PLI or FIR from
    the far end makes the next frame an IDR.
    """

    def __init__(
        self, host: str = "127.0.0.1", *, name: str = "peer", decode: bool = True,
        payload_types: Mapping[int, str] = DEFAULT_PAYLOAD_TYPES, auto_pli: bool = True,
    ) -> None:  # fmt: skip
        self.host = host
        self.name = name
        self.decode = decode
        self.payload_types = {pt: _codec_name(c) for pt, c in payload_types.items()}
        self.auto_pli = auto_pli
        self.ssrc = random.randrange(1, 1 << 32)
        self.stats = VideoPeerStats()
        self.latest: Picture | None = None
        self.latest_time = 0.0
        self.on_frame: Callable[[ReceivedFrame], None] | None = None
        self.remote: tuple[str, int] | None = None
        self.rtcp_remote: tuple[str, int] | None = None
        self.rtp_source: tuple[str, int] | None = None
        """Where the bridge's RTP comes from."""
        self.colour_sent_at: float | None = None
        """``loop.time()`` the first frame of the latest colour (set_colour) was sent."""
        self._rtp: asyncio.DatagramTransport | None = None
        self._rtcp: asyncio.DatagramTransport | None = None
        self._assembler: _Assembler | None = None
        self._assembler_pt: int | None = None
        self._decoder: _Decoder | None = None
        self._source: _Source | None = None
        self._send_task: asyncio.Task[None] | None = None
        self._fps = 30
        self._payload_type = 96
        self._seq = random.randrange(1 << 16)
        self._ts_base = random.randrange(1 << 32)
        self._keyframe_pending = False
        self._colour_pending = False
        self._corrupt_frames = 0
        self._fir_seq = 0
        self._last_auto_pli = -1e9
        self._keyframe_waiters: list[tuple[float, asyncio.Future[float]]] = []
        self._frame_event = asyncio.Event()
        self._rx_times: deque[float] = deque(maxlen=512)
        self._rng = random.Random(self.ssrc)

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> VideoPeer:
        loop = asyncio.get_running_loop()
        rtp, rtcp = _bind_pair(self.host)
        self._rtp, _ = await loop.create_datagram_endpoint(lambda: _Rtp(self, False), sock=rtp)
        self._rtcp, _ = await loop.create_datagram_endpoint(lambda: _Rtp(self, True), sock=rtcp)
        return self

    @property
    def port(self) -> int:
        if self._rtp is None:
            raise RuntimeError("VideoPeer not started")
        return int(self._rtp.get_extra_info("sockname")[1])

    @property
    def rtcp_port(self) -> int:
        return self.port + 1

    async def close(self) -> None:
        await self.stop_sending()
        for t in (self._rtp, self._rtcp):
            if t is not None:
                t.close()
        self._rtp = self._rtcp = None
        for _, fut in self._keyframe_waiters:
            fut.cancel()
        self._keyframe_waiters.clear()

    async def __aenter__(self) -> VideoPeer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def reset_stats(self) -> None:
        self.stats = VideoPeerStats()
        self._rx_times.clear()

    def set_remote(self, remote: tuple[str, int], rtcp: tuple[str, int] | None = None) -> None:
        """Where to send RTP (and RTCP: default the RTP port + 1)."""
        self.remote = remote
        self.rtcp_remote = rtcp or (remote[0], remote[1] + 1)

    # ------------------------------------------------------------------ sending

    def start_sending(
        self, remote: tuple[str, int], *, codec: str = "H264", payload_type: int = 96,
        colour: Sequence[int] = RED, width: int = 640, height: int = 360, fps: int = 30,
        bitrate: int | None = None, pattern: Pattern = "solid",
        clips: Mapping[Rgb, EncodedClip] | None = None, rtcp: tuple[str, int] | None = None,
    ) -> None:  # fmt: skip
        """Send ``colour`` to ``remote`` at ``fps``: encoded live (``width`` x ``height``,
        ``pattern``), or replayed from ``clips`` (by colour; their codec and size apply)."""
        if self._rtp is None:
            raise RuntimeError("VideoPeer not started")
        if self._send_task is not None:
            raise RuntimeError("already sending; stop_sending() first")
        rgb = (int(colour[0]), int(colour[1]), int(colour[2]))
        self.set_remote(remote, rtcp)
        self._payload_type = payload_type
        self._fps = fps
        if clips:
            self._source = _ClipSource(clips, rgb)
        else:
            self._source = _LiveSource(codec, width, height, fps, bitrate, rgb, pattern)
        self._keyframe_pending = True
        self._colour_pending = True
        self._send_task = asyncio.get_running_loop().create_task(self._send_loop())

    @property
    def sending(self) -> bool:
        return self._send_task is not None and not self._send_task.done()

    async def stop_sending(self) -> None:
        """Stop sending (the socket stays open: the peer still receives)."""
        task, self._send_task = self._send_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def set_colour(self, colour: Sequence[int]) -> None:
        """Send ``colour`` from the next frame on; :attr:`colour_sent_at` tells when."""
        if self._source is None:
            raise RuntimeError("not sending")
        self._source.set_colour((int(colour[0]), int(colour[1]), int(colour[2])))
        self._colour_pending = True

    def change_resolution(self, width: int, height: int) -> None:
        """Switch the live encoder to another size mid-stream (the next frame is an IDR with
        new SPS/PPS, or a VP8 keyframe with the new size)."""
        if not isinstance(self._source, _LiveSource):
            raise RuntimeError("resolution changes need a live source (not clips)")
        _check_size(width, height)
        self._source.size = (width, height)

    def corrupt(self, frames: int = 1) -> None:
        """Scramble the payloads of the next ``frames`` frames (headers kept: the first two
        octets of each payload, so they still look like H.264 / VP8 to a depacketizer)."""
        self._corrupt_frames += frames

    def send_keyframe(self) -> None:
        """Make the next frame a keyframe."""
        self._keyframe_pending = True

    def send_garbage(self, count: int = 10) -> None:
        """Send ``count`` random datagrams (not RTP: version bits 0) to the remote RTP port,
        and the same number of truncated RTP headers."""
        if self._rtp is None or self.remote is None:
            raise RuntimeError("no remote to send to")
        for _ in range(count):
            junk = bytes([self._rng.randrange(0x40)]) + self._rng.randbytes(
                self._rng.randrange(1, 200)
            )
            self._rtp.sendto(junk, self.remote)
            self._rtp.sendto(bytes([0x80, self._payload_type]) + self._rng.randbytes(5), self.remote)

    def _scramble(self, payload: bytes) -> bytes:
        if len(payload) <= 2:
            return payload
        return payload[:2] + self._rng.randbytes(len(payload) - 2)

    async def _send_loop(self) -> None:
        loop = asyncio.get_running_loop()
        assert self._source is not None
        start = loop.time()
        index = 0
        period = 1.0 / self._fps
        while True:
            delay = start + index * period - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            elif delay < -2 * period:  # fell behind: skip frame slots rather than burst
                behind = int(-delay / period)
                self.stats.frames_late += behind
                index += behind
            keyframe, self._keyframe_pending = self._keyframe_pending, False
            try:
                payloads, key = self._source.next_frame(index, keyframe)
            except Exception:  # an encoder failure must not kill the peer silently
                self.stats.frames_late += 1
                index += 1
                continue
            if payloads:
                self._send_frame(payloads, index, key)
            index += 1

    def _send_frame(self, payloads: list[bytes], index: int, keyframe: bool) -> None:
        transport, remote = self._rtp, self.remote
        if transport is None or remote is None:
            return
        if self._colour_pending:
            self._colour_pending = False
            self.colour_sent_at = asyncio.get_running_loop().time()
        if self._corrupt_frames:
            self._corrupt_frames -= 1
            payloads = [self._scramble(p) for p in payloads]
        ts = (self._ts_base + round(index * CLOCK_RATE / self._fps)) & 0xFFFFFFFF
        last = len(payloads) - 1
        for i, payload in enumerate(payloads):
            data = RtpPacket(
                payload_type=self._payload_type, sequence_number=self._seq, timestamp=ts,
                ssrc=self.ssrc, marker=i == last, payload=payload,
            ).serialize()  # fmt: skip
            self._seq = (self._seq + 1) & 0xFFFF
            transport.sendto(data, remote)
            self.stats.packets_sent += 1
            self.stats.bytes_sent += len(data)
        self.stats.frames_sent += 1
        if keyframe:
            self.stats.keyframes_sent += 1

    # ------------------------------------------------------------------ RTCP

    def _send_rtcp(self, feedback: RtcpPsfbPacket) -> None:
        target = self.rtcp_remote
        if target is None and self.rtp_source is not None:
            target = (self.rtp_source[0], self.rtp_source[1] + 1)
        if self._rtcp is None or target is None:
            raise RuntimeError("no remote to send RTCP to (not sending, nothing received)")
        # RFC 4585 compound packet: an (empty) receiver report first, then the feedback.
        self._rtcp.sendto(bytes(RtcpRrPacket(ssrc=self.ssrc)) + bytes(feedback), target)

    def send_pli(self) -> None:
        """Send an RTCP Picture Loss Indication (RFC 4585 6.3.1) for the bridge's stream."""
        media = self._assembler.ssrc if self._assembler and self._assembler.ssrc else 0
        self._send_rtcp(RtcpPsfbPacket(fmt=RTCP_PSFB_PLI, ssrc=self.ssrc, media_ssrc=media))
        self.stats.plis_sent += 1

    def send_fir(self) -> None:
        """Send an RTCP Full Intra Request (RFC 5104 4.3.1) for the bridge's stream."""
        media = self._assembler.ssrc if self._assembler and self._assembler.ssrc else 0
        self._fir_seq = (self._fir_seq + 1) & 0xFF
        fci = media.to_bytes(4, "big") + bytes([self._fir_seq, 0, 0, 0])
        self._send_rtcp(RtcpPsfbPacket(fmt=RTCP_PSFB_FIR, ssrc=self.ssrc, media_ssrc=0, fci=fci))
        self.stats.firs_sent += 1

    async def request_keyframe(self, timeout: float = 5.0, *, fir: bool = False) -> float:
        """Send a PLI (or FIR) and return the seconds until a keyframe arrives whole (its
        last packet); TimeoutError if none comes within ``timeout``."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[float] = loop.create_future()
        t0 = loop.time()
        self._keyframe_waiters.append((t0, fut))
        try:
            if fir:
                self.send_fir()
            else:
                self.send_pli()
            arrival = await asyncio.wait_for(fut, timeout)
        finally:
            self._keyframe_waiters = [(t, f) for t, f in self._keyframe_waiters if f is not fut]
        return arrival - t0

    def _on_rtcp(self, data: bytes, addr: tuple[str, int]) -> None:
        self.stats.rtcp_received += 1
        try:
            packets = RtcpPacket.parse(data)
        except (ValueError, IndexError):
            self.stats.not_rtp += 1
            return
        for packet in packets:
            if isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_PLI:
                self.stats.plis_received += 1
                self._keyframe_pending = True
            elif isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_FIR:
                self.stats.firs_received += 1
                self._keyframe_pending = True

    # ------------------------------------------------------------------ receiving

    def _on_rtp(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            pt, marker, seq, ts, ssrc, start, end = parse_header(data)
        except RtpError:
            self.stats.not_rtp += 1
            return
        codec = self.payload_types.get(pt)
        if codec is None:
            self.stats.not_rtp += 1
            return
        loop_time = asyncio.get_running_loop().time()
        self.rtp_source = addr
        self.stats.packets_received += 1
        self.stats.bytes_received += len(data)
        asm = self._assembler
        if asm is None or self._assembler_pt != pt:
            asm = self._assembler = _Assembler(codec)
            self._assembler_pt = pt
            self._decoder = _Decoder(codec) if self.decode else None
        lost, incomplete, malformed = asm.lost, asm.incomplete, asm.malformed
        frame = asm.push(seq, ts, ssrc, marker, data[start:end], loop_time)
        self.stats.packets_lost += asm.lost - lost
        self.stats.frames_incomplete += asm.incomplete - incomplete
        self.stats.malformed_payloads += asm.malformed - malformed
        if frame is None:
            if asm.incomplete != incomplete:
                self._maybe_auto_pli(loop_time)
            return
        self.stats.frames_received += 1
        if frame.keyframe:
            self.stats.keyframes_received += 1
            for t0, fut in self._keyframe_waiters:
                if not fut.done() and frame.arrival >= t0:
                    fut.set_result(frame.arrival)
        if not frame.decodable:
            self.stats.frames_undecodable += 1
            self._maybe_auto_pli(loop_time)
        elif self._decoder is not None:
            errors = self._decoder.errors
            picture = self._decoder.decode(frame.data)
            self.stats.decode_errors += self._decoder.errors - errors
            if picture is not None:
                frame.picture = picture
                self.latest = picture
                self.latest_time = frame.arrival
                self.stats.frames_decoded += 1
                self.stats.height = picture.shape[0] * 2 // 3
                self.stats.width = picture.shape[1]
                self._rx_times.append(frame.arrival)
            elif self._decoder.errors != errors:
                asm.chain_ok = False
                self._maybe_auto_pli(loop_time)
        else:
            self._rx_times.append(frame.arrival)
        if self.on_frame is not None:
            self.on_frame(frame)
        self._frame_event.set()

    def _maybe_auto_pli(self, now: float) -> None:
        if self.auto_pli and now - self._last_auto_pli >= 0.5:
            self._last_auto_pli = now
            with contextlib.suppress(RuntimeError):
                self.send_pli()

    @property
    def receive_fps(self) -> float:
        """Frames shown (decoded, or decodable when not decoding) in the last second."""
        if not self._rx_times:
            return 0.0
        now = asyncio.get_running_loop().time()
        return float(sum(1 for t in self._rx_times if now - t <= 1.0))

    def latest_rgb(self) -> Picture | None:
        return None if self.latest is None else i420_to_rgb(self.latest)

    async def wait_frames(self, count: int, timeout: float = 5.0) -> None:
        """Wait until ``count`` frames were decoded (received decodable when not decoding)."""
        await self.wait_until(
            lambda: (self.stats.frames_decoded if self.decode else self.stats.frames_received)
            >= count,
            timeout,
            f"{count} frames",
        )

    async def wait_colour(self, rgb: Sequence[int], timeout: float = 5.0, *, tol: int = 60,
                          min_share: float = 0.02) -> float:  # fmt: skip
        """Wait until the latest picture shows ``rgb``; return ``loop.time()`` of that
        picture's arrival."""
        await self.wait_until(
            lambda: self.latest is not None and has_colour(self.latest, rgb, tol,
                                                           min_share=min_share),
            timeout,
            f"colour {tuple(rgb)}",
        )  # fmt: skip
        return self.latest_time

    async def wait_until(self, predicate: Callable[[], bool], timeout: float,
                         what: str = "condition") -> None:  # fmt: skip
        """Wait (re-checking at every received frame) until ``predicate()``; AssertionError
        with the peer's counters after ``timeout``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate():
            left = deadline - loop.time()
            if left <= 0:
                raise AssertionError(f"{self.name}: no {what} after {timeout} s; {self.stats}")
            self._frame_event.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._frame_event.wait(), min(left, 0.1))


# --------------------------------------------------------------------------------------------
# sipp: an audio + video call
# --------------------------------------------------------------------------------------------

VIDEO_PORT_FILE = "bridge_video_port.txt"
"""Written by the uac_video scenario in its workdir: the m=video port of the 200's SDP."""


async def start_video_call(
    target: str, workdir: Path, *, rx_port: int, vrx_port: int, hold_ms: int = 10_000,
    service: str | None = None, pcap: Path | None = None, voffer: str = "96 97",
    wait: float = 10.0, **options: object,
) -> tuple[SippProcess, int]:  # fmt: skip
    """Start ``tests/sipp/uac_video.xml`` towards ``target`` (host:port) and wait for the
    answer; return the sipp process and the bridge's video RTP port from the 200's SDP
    (0 when the answer rejects or lacks video). The caller's :class:`VideoPeer` on
    ``vrx_port`` then sends to that port; audio goes to ``rx_port``.

    ``pcap``: the audio sipp plays (PCMU, e.g. ``tone_pcap``); default: silence for the
    whole call, so the bridge gets audio RTP. Other ``options`` (``timeout``, ``transport``,
    ...) go to :func:`tests.sipp_helpers.start_sipp`.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    if pcap is None:
        pcap = workdir / "silence.pcap"
        frames = hold_ms // 20 + 50
        write_rtp_pcap(pcap, [b"\xff" * 160] * frames, payload_type=0, ssrc=0x5110E000,
                       src_port=4000, dst_port=6000)  # fmt: skip
    keys: dict[str, object] = {
        "rx_port": rx_port, "vrx_port": vrx_port, "hold_ms": hold_ms, "voffer": voffer,
        "pcap": Path(pcap).resolve(),
    }  # fmt: skip
    timeout = options.pop("timeout", hold_ms / 1000 + 20)
    assert isinstance(timeout, int | float)
    port_file = workdir / VIDEO_PORT_FILE
    port_file.unlink(missing_ok=True)
    proc = await start_sipp(
        "uac_video", target, workdir=workdir, keys=keys, service=service,
        timeout=float(timeout), **options,  # type: ignore[arg-type]
    )  # fmt: skip
    deadline = time.monotonic() + wait
    while True:
        with contextlib.suppress(OSError):
            text = port_file.read_text().strip()
            if text.endswith(";"):  # the scenario ends the line with ";": fully written
                value = text.rstrip(";").strip()
                return proc, int(value) if value.isdigit() else 0
        if not proc.running:
            result = await proc.wait()
            raise SippError(f"sipp ended before the answer: {result.describe()}")
        if time.monotonic() > deadline:
            result = await proc.stop()
            raise SippError(f"no answer with SDP in {wait} s: {result.describe()}")
        await asyncio.sleep(0.05)
