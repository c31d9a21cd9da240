"""A call's video mixer: every leg sees one composed picture in its layout (guide D.1: the
call bridge carries out the transcoding).

Per tick of the call's video clock (30 per second, absolute deadlines like the audio clock):

1. every leg that is sent video gets its *view*: the panes of its layout
   (:func:`moot.media.video.layout.arrange`) at its size, given the participants in join
   order, the active speaker (from the audio mixer) and the previous one, the viewer itself
   left out of big panes;
2. a view is composed once however many legs see it (same size, same panes, same sources);
3. it is encoded once per distinct (view, codec, frame rate, bit rate, packetization) - the
   encoders persist across ticks, keyed so, and are dropped when no leg has used them for
   :data:`ENCODER_IDLE` seconds; the payloads are packetized once per encoder and each leg
   sends them under its own RTP header;
4. a leg asking for a keyframe (PLI/FIR, the API, a new leg, a leg that moved to another
   encoder) makes its encoder produce an IDR picture, which every leg of that encoder gets.

Content sharing: while a leg presents (its screen instead of its camera, from the web app),
every other leg sees it in the big pane of a ``stacked`` view (the content over a row of
the people) whatever its own layout; for SIP legs this is their main video (BFCP, a second
stream, is not done). The presenter keeps its own layout.

A leg can be given a caption (a notice drawn over the top of its picture for some seconds,
or for good: licence enforcement, guide B.4); it is part of the view, so a captioned view is
composed and encoded apart from the others.

Legs with a lower negotiated frame rate are sent every 2nd/3rd... tick. Under overload the
mixer degrades as the guide says the product does (D.1: "the frame rate drops, then the
resolution"): it measures its own work per tick against the frame interval, and the worker
process's CPU share (calls that are each light can saturate the core together), and steps through
:data:`DEGRADE_STEPS` (half the frame rate; then also half the resolution; then a quarter of
the frame rate), and steps back when the load falls. Frames a leg did not get because of
this are counted in its ``frames_dropped``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from moot.media.video import h264, vp8
from moot.media.video.codec import VideoEncoder
from moot.media.video.compositor import Compositor
from moot.media.video.layout import Pane, arrange
from moot.media.video.stream import VIDEO_CLOCK, VideoStream

__all__ = ["DEGRADE_STEPS", "ENCODER_IDLE", "TICK_RATE", "VideoMixer"]

TICK_RATE = 30
TICK = 1.0 / TICK_RATE
ENCODER_IDLE = 2.0
PRESENTATION_LAYOUT = "stacked"
STALE_PICTURE = 3.0
"""A source that has sent no picture for this long is shown as a placeholder."""
MAX_BEHIND = 2
DEGRADE_STEPS: tuple[tuple[int, int], ...] = ((1, 1), (2, 1), (2, 2), (4, 2))
"""(frame rate divider, resolution divider) per overload level."""
OVERLOAD = 0.85
RELIEF = 0.4
WORKER_OVERLOAD = 0.92
"""The worker process's CPU share above which every call on it degrades (the calls' own
shares can each be small while together they saturate the core)."""
WORKER_RELIEF = 0.45
"""... and below which a call may step back (a step up roughly doubles the work)."""
OVERLOAD_AFTER = 1.0
RELIEF_AFTER = 5.0

Picture = npt.NDArray[np.uint8]
ViewKey = tuple[int, int, tuple[Pane, ...], str | None]
EncoderKey = tuple[ViewKey, str, int, int, int]


@dataclass
class _Participant:
    leg_id: str
    name: str
    stream: VideoStream | None


@dataclass
class _EncoderSlot:
    encoder: VideoEncoder
    picture_id: int = 0
    last_used: float = field(default_factory=time.monotonic)


@dataclass
class MixerStats:
    compose_s: float = 0.0
    encode_s: float = 0.0
    frames_composed: int = 0
    frames_encoded: int = 0
    frames_skipped: int = 0
    ticks: int = 0


class VideoMixer:
    """The video of one call on one worker."""

    def __init__(self, loop: asyncio.AbstractEventLoop, call_id: str,
                 on_keyframe_info: Callable[[str], None] | None = None,
                 busy: Callable[[], float] = lambda: 0.0) -> None:
        self.loop = loop
        #: The worker's CPU share over the last second (0..1).
        self.busy = busy
        self.call_id = call_id
        self.on_keyframe_info = on_keyframe_info
        self.participants: dict[str, _Participant] = {}
        self.speaker: str | None = None
        self.previous_speaker: str | None = None
        self.presenter: str | None = None
        self.encoders: dict[EncoderKey, _EncoderSlot] = {}
        self.compositors: dict[tuple[int, int], Compositor] = {}
        self.leg_encoder: dict[str, EncoderKey] = {}
        self.leg_size: dict[str, tuple[int, int]] = {}
        self.stats = MixerStats()
        self.level = 0
        self._load = 0.0
        self._level_since = time.monotonic()
        self._over_since: float | None = None
        self._under_since: float | None = None
        self._tick_index = 0
        self._deadline = 0.0
        self._handle: asyncio.TimerHandle | None = None

    # ------------------------------------------------------------------ membership
    def set_participant(self, leg_id: str, name: str, stream: VideoStream | None) -> None:
        """Add or update a participant (``stream`` None: audio-only, shown as a placeholder)."""
        known = self.participants.get(leg_id)
        if known is not None:
            known.name, known.stream = name, stream
        else:
            self.participants[leg_id] = _Participant(leg_id, name, stream)
        if stream is not None and self._handle is None:
            self._start()

    def remove(self, leg_id: str) -> None:
        self.participants.pop(leg_id, None)
        self.leg_encoder.pop(leg_id, None)
        self.leg_size.pop(leg_id, None)
        if self.previous_speaker == leg_id:
            self.previous_speaker = None
        if self.presenter == leg_id:
            self.presenter = None
        if self.speaker == leg_id:
            self.speaker = None
        if not any(p.stream is not None for p in self.participants.values()):
            self.stop()

    def speaker_changed(self, leg_id: str | None) -> None:
        if leg_id is not None and leg_id != self.speaker:
            if self.speaker is not None:
                self.previous_speaker = self.speaker
            self.speaker = leg_id

    def set_presenter(self, leg_id: str | None) -> None:
        self.presenter = leg_id if leg_id in self.participants else None

    def set_layout(self, leg_id: str, layout: str) -> None:
        participant = self.participants.get(leg_id)
        if participant is not None and participant.stream is not None:
            participant.stream.layout = layout

    @property
    def active(self) -> bool:
        return self._handle is not None

    def tx_size(self, leg_id: str) -> tuple[int, int]:
        return self.leg_size.get(leg_id, (0, 0))

    # ------------------------------------------------------------------ clock
    def _start(self) -> None:
        now = time.monotonic()
        self._deadline = now + TICK
        self._handle = self.loop.call_at(self._deadline, self._tick)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self.encoders.clear()

    def _tick(self) -> None:
        now = time.monotonic()
        deadline = self._deadline
        behind = int((now - deadline) / TICK)
        if behind > MAX_BEHIND:
            self.stats.frames_skipped += behind
            deadline += behind * TICK
        self._deadline = deadline + TICK
        self._handle = self.loop.call_at(self._deadline, self._tick)
        started = time.perf_counter()
        self.frame(now)
        self._account(time.perf_counter() - started, now)

    def _account(self, work: float, now: float) -> None:
        """Overload control: the share of the frame interval the mixer's work takes."""
        fps_div, _ = DEGRADE_STEPS[self.level]
        self._load = 0.8 * self._load + 0.2 * (work / TICK)
        # A tick that composes nothing costs little: judge the load per *sent* frame.
        if self._tick_index % fps_div:
            return
        busy = self.busy()
        if self._load > OVERLOAD or busy > WORKER_OVERLOAD:
            self._under_since = None
            self._over_since = self._over_since or now
            if now - self._over_since >= OVERLOAD_AFTER and self.level < len(DEGRADE_STEPS) - 1:
                self.level += 1
                self._over_since = None
        elif self._load < RELIEF / fps_div and busy < WORKER_RELIEF:
            self._over_since = None
            self._under_since = self._under_since or now
            if now - self._under_since >= RELIEF_AFTER and self.level > 0:
                self.level -= 1
                self._under_since = None
        else:
            self._over_since = self._under_since = None

    # ------------------------------------------------------------------ one frame
    def frame(self, now: float) -> None:
        """Compose, encode and send what is due at ``now`` (a tick of the video clock)."""
        self._tick_index += 1
        self.stats.ticks += 1
        index = self._tick_index
        fps_div, size_div = DEGRADE_STEPS[self.level]
        sources = list(self.participants)
        names = {p.leg_id: p.name for p in self.participants.values()}
        pictures: dict[str, Picture | None] = {}
        for p in self.participants.values():
            s = p.stream
            fresh = s is not None and s.picture is not None and now - s.picture_at < STALE_PICTURE
            pictures[p.leg_id] = s.picture if fresh and s is not None else None
        groups: dict[EncoderKey, list[VideoStream]] = {}
        for p in self.participants.values():
            stream = p.stream
            if stream is None or not stream.sending or stream.config is None:
                continue
            cfg = stream.config
            leg_div = max(1, round(TICK_RATE / cfg.fps))
            if index % leg_div:
                continue
            if index % (leg_div * fps_div):
                stream.frames_dropped += 1
                continue
            width = cfg.width // size_div // 2 * 2
            height = cfg.height // size_div // 2 * 2
            presenting = self.presenter is not None and self.presenter != p.leg_id
            panes = arrange(PRESENTATION_LAYOUT if presenting else stream.layout, width, height,
                            viewer=p.leg_id, sources=sources,
                            speaker=self.presenter if presenting else self.speaker,
                            previous_speaker=self.previous_speaker)
            view: ViewKey = (width, height, panes, stream.caption_now(now))
            key: EncoderKey = (view, cfg.codec, max(1, cfg.fps // fps_div), stream.bitrate,
                               cfg.packetization_mode)
            if self.leg_encoder.get(p.leg_id) != key:
                if p.leg_id in self.leg_encoder:
                    stream.keyframe_pending = True  # it decodes a new stream from here
                self.leg_encoder[p.leg_id] = key
            self.leg_size[p.leg_id] = (width, height)
            groups.setdefault(key, []).append(stream)
        composed: dict[ViewKey, Picture] = {}
        timestamp = int(now * VIDEO_CLOCK) & 0xFFFFFFFF
        for key, legs in groups.items():
            view, codec, fps, bitrate, mode = key
            canvas = composed.get(view)
            if canvas is None:
                width, height, panes, caption = view
                compositor = self.compositors.get((width, height))
                if compositor is None:
                    compositor = self.compositors[(width, height)] = Compositor(width, height)
                started = time.perf_counter()
                canvas = compositor.compose(panes, pictures, names)
                if caption is not None:
                    canvas = compositor.caption(canvas, caption)
                composed[view] = canvas
                self.stats.compose_s += time.perf_counter() - started
                self.stats.frames_composed += 1
            slot = self.encoders.get(key)
            if slot is None:
                # Packetization mode 0 sends every NAL unit whole: slices must fit a packet.
                slot = self.encoders[key] = _EncoderSlot(VideoEncoder(
                    codec, view[0], view[1], fps, bitrate,
                    slice_max_size=h264.MTU if codec == "H264" and mode == 0 else None))
            slot.last_used = now
            keyframe = any(leg.keyframe_pending for leg in legs)
            started = time.perf_counter()
            encoded = slot.encoder.encode(canvas, keyframe=keyframe)
            self.stats.encode_s += time.perf_counter() - started
            if encoded is None:
                continue
            self.stats.frames_encoded += 1
            if codec == "H264":
                payloads = h264.packetize(encoded.data, mode=mode)
            else:
                slot.picture_id = (slot.picture_id + 1) & 0x7FFF
                payloads = vp8.packetize(encoded.data, picture_id=slot.picture_id)
            for leg in legs:
                leg.send(payloads, timestamp, keyframe=encoded.keyframe, now=now)
        for compositor in self.compositors.values():
            compositor.clear_cache()
        self._housekeeping(now)

    def _housekeeping(self, now: float) -> None:
        if self._tick_index % TICK_RATE:
            return
        for key in [k for k, slot in self.encoders.items() if now - slot.last_used > ENCODER_IDLE]:
            del self.encoders[key]
        used = {(w, h) for (w, h, _panes, _caption), *_rest in self.encoders}
        for size in [s for s in self.compositors if s not in used]:
            del self.compositors[size]
        for p in self.participants.values():
            stream = p.stream
            if stream is None:
                continue
            stream.periodic(now)
            if stream.wants_keyframe_info and self.on_keyframe_info is not None:
                stream.wants_keyframe_info = False
                self.on_keyframe_info(p.leg_id)
