"""Video codecs (PyAV libx264 / libvpx / libavcodec decoders) through the RTP payload formats."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
import pytest

from moot.media.video import h264, vp8
from moot.media.video.codec import CODECS, EncodedFrame, VideoDecoder, VideoEncoder
from moot.media.video.h264 import FrameAssembler, H264Depacketizer
from moot.media.video.vp8 import Vp8Depacketizer


def solid(width: int, height: int, y: int, u: int, v: int) -> np.ndarray:
    picture = np.empty((height * 3 // 2, width), np.uint8)
    picture[:height] = y
    chroma = picture[height:].reshape(2, height // 2, width // 2)
    chroma[0], chroma[1] = u, v
    return picture


def gradient(width: int, height: int, shift: int = 0) -> np.ndarray:
    """A diagonal ramp moving ``shift`` pixels to the right."""
    rows, cols = np.mgrid[0 : height * 3 // 2, 0:width]
    ramp = 16 + ((cols - shift) % width) * 180 // width + rows * 40 // height
    picture: np.ndarray = ramp.astype(np.uint8)
    return picture


def noise(width: int, height: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    picture: np.ndarray = rng.integers(0, 256, (height * 3 // 2, width), dtype=np.uint8)
    return picture


class Link:
    """Encoder -> packetizer -> depacketizer -> decoder, as between two endpoints."""

    def __init__(self, encoder: VideoEncoder, *, mtu: int = 1200, mode: int = 1) -> None:
        self.encoder = encoder
        self.decoder = VideoDecoder(encoder.codec)
        self.depacketizer: FrameAssembler = (
            H264Depacketizer() if encoder.codec == "H264" else Vp8Depacketizer()
        )
        self.mtu, self.mode = mtu, mode
        self.sequence = 0
        self.packets = 0

    def payloads(self, frame: EncodedFrame) -> list[bytes]:
        if self.encoder.codec == "H264":
            return h264.packetize(frame.data, mtu=self.mtu, mode=self.mode)
        return vp8.packetize(frame.data, picture_id=self.encoder.frames, mtu=self.mtu)

    def send(self, picture: np.ndarray, *, keyframe: bool = False) -> np.ndarray | None:
        frame = self.encoder.encode(picture, keyframe=keyframe)
        assert frame is not None
        payloads = self.payloads(frame)
        assert all(len(p) <= self.mtu for p in payloads)
        self.packets += len(payloads)
        out = None
        for index, payload in enumerate(payloads):
            out = self.depacketizer.push(
                payload,
                sequence=self.sequence,
                timestamp=self.encoder.frames * 3000,
                marker=index == len(payloads) - 1,
            )
            self.sequence += 1
        assert out is not None
        if self.encoder.codec == "H264":  # the same NAL units (start codes normalised)
            assert h264.nal_units(out) == h264.nal_units(frame.data)
        else:
            assert out == frame.data
        return self.decoder.decode(out)


def mean_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def test_codecs() -> None:
    assert CODECS == ("H264", "VP8")
    assert {"libx264", "libvpx", "h264", "vp8"} <= av.codecs_available
    with pytest.raises(ValueError, match="unsupported"):
        VideoDecoder("H265")
    with pytest.raises(ValueError, match="unsupported"):
        VideoEncoder("AV1", 64, 64, 30, 100_000)


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize(
    "colour", [(235, 128, 128), (16, 128, 128), (81, 90, 240), (145, 54, 34), (41, 240, 110)]
)
def test_solid_colours_survive_the_round_trip(codec: str, colour: tuple[int, int, int]) -> None:
    link = Link(VideoEncoder(codec.lower(), 320, 240, 30, 300_000))
    picture = solid(320, 240, *colour)
    decoded = [link.send(picture) for _ in range(15)]
    for out in decoded:
        assert out is not None and out.shape == picture.shape and out.dtype == np.uint8
        assert mean_abs_diff(out, picture) < 2.5  # VP8's rate control settles in a few frames
    assert decoded[-1] is not None and mean_abs_diff(decoded[-1], picture) < 0.5
    assert link.decoder.frames == 15 and link.decoder.errors == 0
    assert (link.decoder.width, link.decoder.height) == (320, 240)


@pytest.mark.parametrize("codec", CODECS)
def test_moving_gradient_survives_the_round_trip(codec: str) -> None:
    link = Link(VideoEncoder(codec, 640, 360, 30, 800_000))
    errors = []
    for shift in range(0, 80, 4):
        picture = gradient(640, 360, shift)
        out = link.send(picture)
        assert out is not None
        errors.append(mean_abs_diff(out, picture))
    assert max(errors) < 3.5  # VP8's rate control takes a few frames to settle
    assert max(errors[-5:]) < 1.5
    assert not link.depacketizer.needs_keyframe and not link.decoder.needs_keyframe


@pytest.mark.parametrize("codec", CODECS)
def test_large_keyframe_is_split_and_decodes(codec: str) -> None:
    link = Link(VideoEncoder(codec, 1280, 720, 30, 2_500_000))
    picture = noise(1280, 720)
    out = link.send(picture, keyframe=True)
    assert link.packets > 20  # FU-A fragments / many VP8 packets
    assert out is not None and out.shape == (1080, 1280)
    # Noise at this rate is coarse; the decoded picture is still the encoded one.
    assert mean_abs_diff(out, picture) < 60
    assert abs(float(out.mean()) - float(picture.mean())) < 3


def test_h264_stream_is_constrained_baseline_with_parameter_sets_before_every_idr() -> None:
    encoder = VideoEncoder("H264", 320, 240, 30, 300_000)
    frames = [encoder.encode(gradient(320, 240, i), keyframe=i == 5) for i in range(8)]
    assert all(f is not None for f in frames)
    keys = [f.keyframe for f in frames if f is not None]
    assert keys == [True, False, False, False, False, True, False, False]
    for frame in frames:
        assert frame is not None
        assert h264.is_keyframe(frame.data) == frame.keyframe
        types = [unit[0] & 0x1F for unit in h264.nal_units(frame.data)]
        if frame.keyframe:
            assert types[:2] == [7, 8] and types[-1] == 5
        else:
            assert types == [1]
    sps = h264.nal_units(frames[5].data)[0] if frames[5] is not None else b""
    profile_idc, constraints, level_idc = sps[1], sps[2], sps[3]
    offered = h264.parse_profile_level_id("42e01f")
    assert profile_idc == offered[0] == 66  # baseline
    assert constraints & 0x40  # constraint_set1: constrained baseline, decodable as 42e0xx
    assert level_idc <= offered[2]


@pytest.mark.parametrize("codec", CODECS)
def test_keyframes_only_on_request_or_interval(codec: str) -> None:
    encoder = VideoEncoder(codec, 160, 120, 30, 200_000, keyframe_interval=0.2)
    keys = []
    for index in range(14):
        frame = encoder.encode(noise(160, 120, index), keyframe=index == 3)
        assert frame is not None
        keys.append(frame.keyframe)
    # Frame 0, the requested 3, then every 6 frames after the last key frame.
    assert [i for i, key in enumerate(keys) if key] == [0, 3, 9]
    assert encoder.frames == 14 and encoder.encode_seconds > 0


def test_h264_set_bitrate_applies_without_a_keyframe() -> None:
    encoder = VideoEncoder("H264", 320, 240, 30, 1_500_000)
    sizes = []
    for index in range(60):
        if index == 30:
            encoder.set_bitrate(150_000)
        frame = encoder.encode(noise(320, 240, index % 7))
        assert frame is not None
        assert frame.keyframe == (index == 0)
        sizes.append(len(frame.data))
    assert encoder.bitrate == 150_000
    before, after = sum(sizes[10:30]), sum(sizes[40:60])
    assert after * 3 < before


def test_vp8_set_bitrate_reopens_only_for_large_changes() -> None:
    encoder = VideoEncoder("VP8", 160, 120, 30, 400_000)

    def next_is_key() -> bool:
        frame = encoder.encode(gradient(160, 120, encoder.frames))
        assert frame is not None
        return frame.keyframe

    assert next_is_key()
    encoder.set_bitrate(360_000)  # small: waits for the next key frame
    assert encoder.bitrate == 360_000
    assert not next_is_key() and not next_is_key()
    encoder.set_bitrate(150_000)  # large: a fresh encoder at once
    assert next_is_key()
    assert not next_is_key()
    encoder.set_bitrate(160_000)
    assert not next_is_key()
    frame = encoder.encode(gradient(160, 120), keyframe=True)  # applied here, for free
    assert frame is not None and frame.keyframe
    assert not next_is_key()
    with pytest.raises(ValueError, match="positive"):
        encoder.set_bitrate(0)


def test_mode_0_with_slice_max_size() -> None:
    encoder = VideoEncoder("H264", 1280, 720, 30, 2_000_000, slice_max_size=1000)
    link = Link(encoder, mtu=1000, mode=0)
    picture = noise(1280, 720, 3)
    out = link.send(picture)
    assert out is not None and out.shape == picture.shape
    assert link.packets > 20


def test_encoder_rejects_bad_pictures_and_sizes() -> None:
    encoder = VideoEncoder("VP8", 64, 48, 15, 100_000)
    with pytest.raises(ValueError, match="I420"):
        encoder.encode(np.zeros((48, 64), np.uint8))
    with pytest.raises(ValueError, match="I420"):
        encoder.encode(np.zeros((72, 64), np.int16))
    with pytest.raises(ValueError, match="even"):
        VideoEncoder("H264", 63, 48, 15, 100_000)
    with pytest.raises(ValueError, match="positive"):
        VideoEncoder("H264", 64, 48, 0, 100_000)


@pytest.mark.parametrize("codec", CODECS)
def test_decoder_survives_corrupt_input(codec: str) -> None:
    encoder = VideoEncoder(codec, 320, 240, 30, 300_000)
    frames = [encoder.encode(gradient(320, 240, i)) for i in range(4)]
    data = [f.data for f in frames if f is not None]
    decoder = VideoDecoder(codec)
    rng = np.random.default_rng(5)
    garbage = [b"", b"\x00", b"\x00\x00\x00\x01", rng.bytes(3000), data[0][: len(data[0]) // 3]]
    garbage += [bytes(rng.integers(0, 256, len(d), dtype=np.uint8)) for d in data]
    for junk in garbage:
        picture = decoder.decode(junk)
        assert picture is None or picture.shape == (360, 320)
    assert decoder.errors > 0 and decoder.needs_keyframe
    decoder.needs_keyframe = False
    for item in data:  # a key frame and what follows decode again
        assert decoder.decode(item) is not None
    assert not decoder.needs_keyframe


@pytest.mark.parametrize("codec", CODECS)
def test_decoder_joining_mid_stream_asks_for_a_keyframe(codec: str) -> None:
    encoder = VideoEncoder(codec, 160, 120, 30, 200_000)
    frames = [encoder.encode(gradient(160, 120, i), keyframe=i == 3) for i in range(5)]
    decoder = VideoDecoder(codec)
    for frame in frames[1:3]:  # P frames without their key frame
        assert frame is not None
        assert decoder.decode(frame.data) is None
        assert decoder.needs_keyframe
    decoder.needs_keyframe = False
    assert frames[3] is not None and frames[4] is not None
    assert decoder.decode(frames[3].data) is not None
    assert decoder.decode(frames[4].data) is not None
    assert decoder.frames == 2


@pytest.mark.parametrize("codec", CODECS)
def test_decoder_follows_a_resolution_change(codec: str) -> None:
    link = Link(VideoEncoder(codec, 320, 240, 30, 300_000))
    small = solid(320, 240, 100, 90, 160)
    out = link.send(small)
    assert out is not None and out.shape == (360, 320)
    # The sender restarts its encoder at a new size: new SPS/PPS + IDR / a bigger key frame.
    link.encoder = VideoEncoder(codec, 640, 480, 30, 600_000)
    big = solid(640, 480, 180, 60, 200)
    for _ in range(2):
        out = link.send(big)
        assert out is not None and out.shape == (720, 640)
        assert mean_abs_diff(out, big) < 2.0
    assert (link.decoder.width, link.decoder.height) == (640, 480)


def test_decoder_crops_odd_sizes_to_even() -> None:
    encoder = av.CodecContext.create("libvpx", "w")
    encoder.width, encoder.height = 321, 241
    encoder.pix_fmt = "yuv420p"
    encoder.time_base = Fraction(1, 30)
    encoder.bit_rate = 300_000
    encoder.open()
    rgb = np.zeros((241, 321, 3), np.uint8)
    rgb[:, :, 1] = 200
    frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
    frame.pts = 0
    packets = encoder.encode(frame)
    assert packets
    decoder = VideoDecoder("VP8")
    picture = decoder.decode(bytes(packets[0]))
    assert picture is not None and picture.shape == (240 * 3 // 2, 320)
    assert (decoder.width, decoder.height) == (320, 240)
    plane = frame.planes[0]
    source_luma = np.frombuffer(memoryview(plane), np.uint8).reshape(241, plane.line_size)[
        :240, :320
    ]
    assert mean_abs_diff(picture[:240], source_luma) < 2.0
