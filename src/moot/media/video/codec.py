"""Video codecs of the bridge: H.264 and VP8 encoders and decoders over PyAV (libavcodec).

Pictures are I420 numpy arrays (see :mod:`moot.media.video`): ``uint8``, shape
``(h * 3 // 2, w)``, the Y plane then U then V, as ``VideoFrame.to_ndarray()`` gives for
``yuv420p``. Encoded frames are what the RTP payload formats carry: an Annex-B access unit
for H.264 (:mod:`moot.media.video.h264`), a VP8 frame for VP8 (:mod:`moot.media.video.vp8`).

Encoders are configured for real-time conferencing:

* H.264: libx264, constrained baseline profile (``profile-level-id`` 42e0xx compatible: no
  B-frames, no CABAC), preset ultrafast, tune zerolatency (no lookahead, no frame delay),
  SPS and PPS repeated in front of every IDR, constant bit rate (VBV max rate = target, a
  one-second buffer). ``set_bitrate`` reconfigures x264 in place: no new IDR.
* VP8: libvpx, deadline realtime, no lag, error resilient, CBR with a one-second buffer,
  the full quantizer range (2-63: the rate holds on hard content without dropping frames),
  key frames capped in size. Speed: cpu-used -6, i.e. a FIXED speed 6. A positive cpu-used
  makes libvpx adapt its speed to fill a share of each frame interval (8: half of it), so it
  slows down while the CPU looks idle: wrong for a process running many encoders (measured:
  +1-2 ms per 640x360 frame, +4 ms per 1280x720 frame, for no visible gain).
  libavcodec cannot reconfigure libvpx's rate on the fly, so ``set_bitrate`` reopens the
  encoder (which starts with a key frame) at once only for a large change (x1.5 or /1.5 from
  the configured rate); smaller changes wait for the next key frame.

Both encode one picture into one frame (no delay) and produce key frames only on request
(``keyframe=True``, after a decoder's PLI/FIR) and every ``keyframe_interval`` seconds (10 s
by default, the fallback for receivers that never ask).

Threads: every encoder and decoder uses ONE thread (``thread_count = 1``). The media worker
runs many of them in one process, one per view and per received stream, and scales over
worker processes; codec threads would oversubscribe the cores, and libavcodec's frame
threading would also delay every decoded picture by a frame per thread.

Decoders never raise on corrupt input: errors are counted, ``needs_keyframe`` is set (the
caller clears it after sending a PLI) and no picture is returned for undecodable or
concealed (corrupt) frames, so the caller keeps showing the last good picture. A new
resolution (a new SPS, a VP8 key frame of another size) simply yields pictures of the new
size; odd sizes are cropped to even.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from fractions import Fraction
from typing import cast

import av
import numpy as np
import numpy.typing as npt
from av.codec.context import Flags
from av.video.codeccontext import VideoCodecContext
from av.video.frame import PictureType

__all__ = ["CODECS", "EncodedFrame", "Picture", "VideoDecoder", "VideoEncoder"]

CODECS = ("H264", "VP8")
"""The video codecs supported, by SDP encoding name."""

Picture = npt.NDArray[np.uint8]
"""An I420 picture: shape ``(h * 3 // 2, w)``."""

_DECODERS = {"H264": "h264", "VP8": "vp8"}
_ENCODERS = {"H264": "libx264", "VP8": "libvpx"}
_VP8_REOPEN_RATIO = 1.5


def _codec_name(codec: str) -> str:
    name = codec.upper()
    if name not in CODECS:
        raise ValueError(f"unsupported video codec {codec!r} (supported: {', '.join(CODECS)})")
    return name


@dataclass
class EncodedFrame:
    """One encoded picture: an Annex-B access unit (H.264) or a VP8 frame."""

    data: bytes
    keyframe: bool


class VideoDecoder:
    """Decodes a stream of complete frames (access units) into I420 pictures."""

    def __init__(self, codec: str) -> None:
        self.codec = _codec_name(codec)
        self.width = 0
        """Size of the last picture returned (0 before the first)."""
        self.height = 0
        self.frames = 0
        """Pictures returned."""
        self.errors = 0
        """Frames that could not be decoded, or decoded only with concealment."""
        self.needs_keyframe = False
        """Set on an error or while no picture can be decoded yet; the caller clears it."""
        self._ctx = self._open()

    def _open(self) -> VideoCodecContext:
        ctx = cast(VideoCodecContext, av.CodecContext.create(_DECODERS[self.codec], "r"))
        ctx.thread_count = 1
        ctx.flags |= Flags.low_delay
        return ctx

    def decode(self, data: bytes) -> Picture | None:
        """Decode one frame; return the newest picture it yields, or None."""
        if not data:  # an empty packet would put libavcodec into draining (end of stream)
            self._error()
            return None
        try:
            frames = self._ctx.decode(av.Packet(data))
        except EOFError:  # drained after all: start afresh, at the next key frame
            self._ctx = self._open()
            self._error()
            return None
        except (av.FFmpegError, ValueError):
            self._error()
            return None
        if not frames:
            if self.frames == 0:
                self.needs_keyframe = True  # e.g. joined mid-stream: no SPS/PPS, no key frame
            return None
        frame = frames[-1]
        if frame.is_corrupt:
            self._error()
            return None
        picture = _to_i420(frame)
        if picture is None:
            return None
        self.height, self.width = picture.shape[0] * 2 // 3, picture.shape[1]
        self.frames += 1
        return picture

    def _error(self) -> None:
        self.errors += 1
        self.needs_keyframe = True


def _to_i420(frame: av.VideoFrame) -> Picture | None:
    """The frame as an I420 array, cropped to even width and height (None if empty)."""
    width, height = frame.width & ~1, frame.height & ~1
    if width == 0 or height == 0:
        return None
    if frame.format.name not in ("yuv420p", "yuvj420p"):
        frame = frame.reformat(format="yuv420p")
    out = np.empty((height * 3 // 2, width), np.uint8)
    out[:height] = _plane(frame, 0, width, height)
    chroma = out[height:].reshape(2, height // 2, width // 2)
    chroma[0] = _plane(frame, 1, width // 2, height // 2)
    chroma[1] = _plane(frame, 2, width // 2, height // 2)
    return out


def _plane(frame: av.VideoFrame, index: int, width: int, height: int) -> Picture:
    plane = frame.planes[index]
    rows = np.frombuffer(memoryview(plane), np.uint8, count=plane.line_size * height)
    return rows.reshape(height, plane.line_size)[:, :width]


class VideoEncoder:
    """Encodes I420 pictures of a fixed size at a target bit rate (see the module docstring).

    ``slice_max_size`` (H.264 only) limits every NAL unit to that many bytes, for
    ``packetization-mode=0`` receivers (pass the RTP payload MTU).
    """

    def __init__(
        self,
        codec: str,
        width: int,
        height: int,
        fps: int,
        bitrate: int,
        *,
        keyframe_interval: float = 10.0,
        slice_max_size: int | None = None,
    ) -> None:
        self.codec = _codec_name(codec)
        if width <= 0 or height <= 0 or width % 2 or height % 2:
            raise ValueError(f"picture size must be positive and even, not {width}x{height}")
        if fps <= 0 or bitrate <= 0:
            raise ValueError(f"fps and bitrate must be positive, not {fps} and {bitrate}")
        self.width = width
        self.height = height
        self.fps = fps
        self.bitrate = bitrate
        """The target bit rate (bits per second) last asked for."""
        self.frames = 0
        """Frames produced."""
        self.encode_seconds = 0.0
        """Total time spent in :meth:`encode`."""
        self.keyframe_interval = keyframe_interval
        self.slice_max_size = slice_max_size
        self._keyframe_every = max(1, round(keyframe_interval * fps))
        self._since_keyframe = 0
        self._pending: deque[EncodedFrame] = deque()
        self._configured = bitrate
        self._reopen = False
        self._pts = 0
        self._ctx = self._open(bitrate)

    def _open(self, bitrate: int) -> VideoCodecContext:
        ctx = cast(VideoCodecContext, av.CodecContext.create(_ENCODERS[self.codec], "w"))
        ctx.width = self.width
        ctx.height = self.height
        ctx.pix_fmt = "yuv420p"
        ctx.time_base = Fraction(1, self.fps)
        ctx.framerate = Fraction(self.fps, 1)
        ctx.bit_rate = bitrate
        ctx.thread_count = 1
        ctx.gop_size = 1 << 30  # key frames only when encode() asks for them
        rate = str(bitrate)
        if self.codec == "H264":
            ctx.max_b_frames = 0
            params = "repeat-headers=1:scenecut=0:keyint=infinite:min-keyint=1:annexb=1"
            if self.slice_max_size is not None:
                params += f":slice-max-size={self.slice_max_size}"
            ctx.options = {
                "preset": "ultrafast",
                "tune": "zerolatency",
                "profile": "baseline",
                "forced-idr": "1",
                "maxrate": rate,
                "bufsize": rate,
                "x264-params": params,
            }
        else:
            ctx.qmin, ctx.qmax = 2, 63  # WebRTC caps at 56, but it drops frames to hold the rate
            ctx.options = {
                "deadline": "realtime",
                "cpu-used": "-6",  # a fixed speed (see the module docstring)
                "lag-in-frames": "0",
                "auto-alt-ref": "0",
                "error-resilient": "default",
                "minrate": rate,
                "maxrate": rate,
                "bufsize": rate,
                "rc_init_occupancy": rate,  # a full buffer: no starved frame after the first
                "undershoot-pct": "100",
                "overshoot-pct": "15",
                "static-thresh": "1",
                # Key frame size cap, in % of an average frame: half the optimal buffer
                # level (5/6 s) in frames, as WebRTC does.
                "max-intra-rate": str(max(300, 50 * self.fps * 5 // 6)),
            }
        ctx.open()
        self._configured = bitrate
        self._reopen = False
        self._pts = 0
        return ctx

    def set_bitrate(self, bps: int) -> None:
        """Change the target bit rate (see the module docstring for when it applies)."""
        if bps <= 0:
            raise ValueError(f"bitrate must be positive, not {bps}")
        self.bitrate = bps
        if self.codec == "H264":
            self._ctx.bit_rate = bps  # x264_encoder_reconfig on the next frame
            self._configured = bps
        else:
            ratio = bps / self._configured
            self._reopen = not 1 / _VP8_REOPEN_RATIO < ratio < _VP8_REOPEN_RATIO

    def encode(self, picture: Picture, *, keyframe: bool = False) -> EncodedFrame | None:
        """Encode one picture; ``keyframe`` forces an IDR / key frame."""
        started = time.perf_counter()
        try:
            return self._encode(picture, keyframe)
        finally:
            self.encode_seconds += time.perf_counter() - started

    def _encode(self, picture: Picture, keyframe: bool) -> EncodedFrame | None:
        expected = (self.height * 3 // 2, self.width)
        if picture.shape != expected or picture.dtype != np.uint8:
            raise ValueError(
                f"expected a uint8 I420 picture of shape {expected}, got {picture.dtype} {picture.shape}"
            )
        keyframe = keyframe or self._since_keyframe + 1 >= self._keyframe_every
        if self._reopen or (keyframe and self.bitrate != self._configured):
            self._ctx = self._open(self.bitrate)  # a fresh encoder starts with a key frame
            keyframe = True
        frame = av.VideoFrame.from_ndarray(picture, format="yuv420p")
        frame.pts = self._pts
        self._pts += 1
        if keyframe:
            frame.pict_type = PictureType.I
        for packet in self._ctx.encode(frame):
            data = bytes(packet)
            if data:
                self._pending.append(EncodedFrame(data, bool(packet.is_keyframe)))
        if not self._pending:
            return None
        encoded = self._pending.popleft()
        self._since_keyframe = 0 if encoded.keyframe else self._since_keyframe + 1
        self.frames += 1
        return encoded
