"""baresip (1.0.0, the Debian package) as a headless, scripted SIP phone for the e2e tests.

What baresip 1.0 offers for this (read in its modules and checked by running it)
-------------------------------------------------------------------------------
* No sound card: audio comes from the ``aufile`` module (``audio_source aufile,<wav>``:
  a mono S16LE WAV at the codec's rate, 8000 Hz for G.711, loaded whole when the call's
  audio starts and played once, so it is made longer than the call). ``aufile`` in 1.0 is a *source only*
  (there is no aufile player yet), so what the phone receives is recorded by the ``sndfile``
  audio filter: per call it writes ``<snd_path>/dump-<time>-enc.wav`` (what it sends, after
  the source) and ``...-dec.wav`` (what it decoded from the far end). The player itself is
  ALSA's ``null`` PCM (``audio_player alsa,null``), which discards samples at the real-time
  pace, so the receive path runs exactly as with a loudspeaker.
* Commands go through the ``ctrl_tcp`` module: netstrings (``<len>:<json>,``) of
  ``{"command": "dial", "params": "sip:...", "token": "n"}``, answered by
  ``{"response": true, "ok": ..., "data": ..., "token": "n"}``; the phone also pushes events
  ``{"event": true, "class": "call", "type": "CALL_ESTABLISHED", "param": ...}``. The stdio
  UI cannot run without a terminal (epoll refuses /dev/null), so it is not loaded. The
  commands (``dial``, ``hangup``, ``quit``) come from the ``menu`` module.
* An account that never registers: ``<sip:user@127.0.0.1>;regint=0``; ``;mediaenc=srtp``
  offers SDES keys on RTP/AVP (best effort), ``srtp-mand`` offers RTP/SAVP (RFC 4568) and
  needs the far end to take it. Both come from the ``srtp`` module.
* TLS: baresip 1.0 has ``sip_cafile`` (CA certificates added to its TLS context) and
  ``sip_certificate`` (its own); it has no ``sip_verify_server`` (added in later versions)
  and does not check the server's certificate at all: it connects with no ``sip_cafile``
  and with one holding an unrelated CA alike.
* ``sip_listen`` sets the UDP/TCP port; TLS listens on the next port up.
  ``net_interface 127.0.0.1`` makes it use that address in Contact and SDP (``lo`` fails:
  "could not get network address").
* ``-s`` logs every SIP message, headed ``<UDP|TCP|TLS> <source> -> <destination>``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import os
import re
import shutil
import signal
import socket
import struct
import wave
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from tests.sipp_helpers import tone

__all__ = [
    "BARESIP",
    "Baresip",
    "BaresipConfig",
    "BaresipError",
    "BaresipEvent",
    "Datagram",
    "LoopbackCapture",
    "Recording",
    "TracedMessage",
    "baresip",
    "baresip_available",
    "read_wav",
    "recordings",
    "start_baresip",
    "tone_wav",
    "write_wav",
]

BARESIP = shutil.which("baresip") or "/usr/bin/baresip"
MODULE_PATH = Path("/usr/lib/baresip/modules")
MAX_NETSTRING = 1 << 20
"""Largest ctrl_tcp message accepted from baresip (its own limit is far smaller)."""
MAX_WAV_SECONDS = 600


class BaresipError(RuntimeError):
    """baresip cannot run as asked, or did not do what it was told: the message says why."""


def baresip_available() -> str | None:
    """None if baresip and the modules these tests load are installed, else why not."""
    if not os.path.exists(BARESIP):
        return "baresip is not installed (Debian package baresip-core)"
    missing = [m for m in _MODULES if not (MODULE_PATH / m).exists()]
    if missing:
        return f"baresip modules missing in {MODULE_PATH}: {', '.join(missing)}"
    if not Path("/usr/share/alsa/alsa.conf").exists():
        return "ALSA configuration missing (its null PCM is baresip's headless player)"
    return None


# --------------------------------------------------------------------------------------------
# WAV files
# --------------------------------------------------------------------------------------------


def write_wav(path: Path | str, samples: npt.NDArray[np.int16], rate: int = 8000) -> Path:
    """Write mono 16-bit little-endian PCM (what baresip's aufile source requires)."""
    if not 1000 <= rate <= 192_000:
        raise ValueError(f"sample rate {rate} Hz outside 1000..192000")
    pcm = np.asarray(samples, dtype="<i2").reshape(-1)
    if pcm.size > rate * MAX_WAV_SECONDS:
        raise ValueError(f"{pcm.size / rate:.0f} s of audio: more than {MAX_WAV_SECONDS} s")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return Path(path)


def read_wav(path: Path | str) -> tuple[npt.NDArray[np.int16], int]:
    """The samples (first channel) and rate of a 16-bit PCM WAV.

    A WAV whose header was never finalised (baresip killed mid-call leaves the RIFF and data
    sizes at 0) is read up to the end of the file.
    """
    raw = Path(path).read_bytes()
    if len(raw) < 44 or raw[:4] != b"RIFF" or raw[8:12] != b"WAVE":
        raise BaresipError(f"{path}: not a RIFF/WAVE file ({len(raw)} bytes)")
    pos = 12
    channels = rate = bits = 0
    while pos + 8 <= len(raw):
        chunk, size = raw[pos : pos + 4], int.from_bytes(raw[pos + 4 : pos + 8], "little")
        body = pos + 8
        if chunk == b"fmt ":
            fmt = int.from_bytes(raw[body : body + 2], "little")
            channels = int.from_bytes(raw[body + 2 : body + 4], "little")
            rate = int.from_bytes(raw[body + 4 : body + 8], "little")
            bits = int.from_bytes(raw[body + 14 : body + 16], "little")
            if fmt not in (1, 0xFFFE) or bits != 16 or channels < 1:
                raise BaresipError(f"{path}: not 16-bit PCM (format {fmt}, {bits} bits)")
        elif chunk == b"data":
            if not rate:
                raise BaresipError(f"{path}: data chunk before the fmt chunk")
            end = len(raw) if size == 0 or body + size > len(raw) else body + size
            end -= (end - body) % (2 * channels)
            pcm = np.frombuffer(raw[body:end], dtype="<i2").reshape(-1, channels)[:, 0]
            return pcm.astype(np.int16), rate
        pos = body + size + (size & 1)
    raise BaresipError(f"{path}: no data chunk")


def tone_wav(
    path: Path | str, freq_hz: float, seconds: float, *, level_dbfs: float = -12.0,
    rate: int = 8000,
) -> Path:  # fmt: skip
    """A WAV of a pure tone (see :func:`tests.sipp_helpers.tone`) for ``aufile``."""
    if not 0 < freq_hz < rate / 2:
        raise ValueError(f"tone of {freq_hz} Hz is not below the Nyquist limit of {rate} Hz")
    if not 0 < seconds <= MAX_WAV_SECONDS:
        raise ValueError(f"tone length {seconds} s outside (0, {MAX_WAV_SECONDS}]")
    return write_wav(path, tone(freq_hz, seconds, level_dbfs=level_dbfs, rate=rate), rate)


@dataclass(frozen=True)
class Recording:
    """The two sndfile dumps of one call: what baresip sent and what it received."""

    sent: Path
    received: Path

    def received_audio(self) -> tuple[npt.NDArray[np.int16], int]:
        return read_wav(self.received)

    def sent_audio(self) -> tuple[npt.NDArray[np.int16], int]:
        return read_wav(self.sent)


def recordings(snd_path: Path) -> list[Recording]:
    """The calls sndfile recorded in ``snd_path``, oldest first (``dump-<time>-enc/dec.wav``)."""
    out = []
    for enc in sorted(snd_path.glob("dump-*-enc.wav")):
        dec = enc.with_name(enc.name[: -len("enc.wav")] + "dec.wav")
        if dec.exists():
            out.append(Recording(sent=enc, received=dec))
    return out


# --------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------

_MODULES = (
    "g711.so", "aufile.so", "alsa.so", "sndfile.so", "srtp.so", "ctrl_tcp.so", "menu.so",
    "account.so",
)  # fmt: skip


def _free_port(kind: int, host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _port_free(port: int, kind: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, kind) as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _sip_port(host: str = "127.0.0.1") -> int:
    """A port free for UDP and TCP, with the next one free for TCP (baresip's TLS)."""
    for _ in range(100):
        port = _free_port(socket.SOCK_STREAM, host)
        if port < 65535 and all(
            _port_free(p, k, host)
            for p, k in ((port, socket.SOCK_DGRAM), (port + 1, socket.SOCK_STREAM))
        ):
            return port
    raise BaresipError("no free SIP port pair for baresip")


@dataclass
class BaresipConfig:
    """One baresip profile directory (``-f``): ``config``, ``accounts``, ``contacts``.

    ``source``: the WAV played into calls (None: a generated minute of silence).
    ``snd_path``: where sndfile writes its dumps (default ``<directory>/rec``).
    ``mediaenc``: ``srtp``, ``srtp-mand``, ``srtp-mandf`` or None (plain RTP).
    ``cafile``: CA certificate(s) for TLS. ``user`` the account's user part.
    """

    directory: Path
    source: Path | None = None
    snd_path: Path | None = None
    mediaenc: str | None = None
    cafile: Path | None = None
    user: str = "baresip"
    host: str = "127.0.0.1"
    sip_port: int = field(default_factory=_sip_port)
    ctrl_port: int = field(default_factory=lambda: _free_port(socket.SOCK_STREAM))
    extra: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.mediaenc not in (None, "srtp", "srtp-mand", "srtp-mandf"):
            raise BaresipError(f"mediaenc {self.mediaenc!r}: use srtp, srtp-mand or srtp-mandf")
        for name, value in (("user", self.user), *self.extra.items()):
            if not value or any(c in value for c in '\r\n<>;"') or not name.isidentifier():
                raise BaresipError(f"bad baresip setting {name}={value!r}")
        if self.snd_path is None:
            self.snd_path = self.directory / "rec"

    @property
    def aor(self) -> str:
        return f"sip:{self.user}@{self.host}"

    def account_line(self) -> str:
        """``<aor>;regint=0[;mediaenc=...]``: an account that never registers."""
        params = ";regint=0"
        if self.mediaenc:
            params += f";mediaenc={self.mediaenc}"
        return f"<{self.aor}>{params}\n"

    def config_text(self, source: Path) -> str:
        assert self.snd_path is not None
        lines = {
            "poll_method": "epoll",
            "sip_listen": f"{self.host}:{self.sip_port}",
            "call_local_timeout": "30",
            "call_max_calls": "4",
            "audio_player": "alsa,null",
            "audio_source": f"aufile,{source}",
            "audio_alert": "alsa,null",
            "audio_level": "no",
            "ausrc_format": "s16",
            "auplay_format": "s16",
            "auenc_format": "s16",
            "audec_format": "s16",
            "audio_buffer": "20-160",
            "rtp_tos": "0",
            "rtcp_mux": "no",
            "jitter_buffer_delay": "1-5",
            "rtp_stats": "no",
            "net_interface": self.host,
            "module_path": str(MODULE_PATH),
            "ctrl_tcp_listen": f"{self.host}:{self.ctrl_port}",
            "snd_path": str(self.snd_path),
            "ringback_disabled": "yes",
            "menu_bell": "no",
            "statmode_default": "off",
        }
        if self.cafile is not None:
            lines["sip_cafile"] = str(self.cafile)
        lines.update(self.extra)
        text = [f"{k}\t\t{v}" for k, v in lines.items()]
        # Modules: codecs, audio driver/source, the recording filter, SRTP, then the apps.
        text += [
            f"module\t\t{m}" for m in ("g711.so", "aufile.so", "alsa.so", "sndfile.so", "srtp.so")
        ]
        text += ["module_tmp\t\taccount.so"]
        text += [f"module_app\t\t{m}" for m in ("menu.so", "ctrl_tcp.so")]
        return "\n".join(text) + "\n"

    def write(self) -> BaresipConfig:
        """Create the directory and write the files (and the silence WAV if no source)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        assert self.snd_path is not None
        self.snd_path.mkdir(parents=True, exist_ok=True)
        source = self.source
        if source is None:
            source = write_wav(self.directory / "silence.wav", np.zeros(8000 * 60, np.int16))
        if not source.is_file():
            raise BaresipError(f"audio source {source} does not exist")
        for path in (source, self.snd_path, self.cafile, self.directory):
            if path is not None and any(c in str(path) for c in "\r\n\t #"):
                raise BaresipError(f"baresip's config format cannot hold the path {str(path)!r}")
        (self.directory / "config").write_text(self.config_text(source.resolve()))
        (self.directory / "accounts").write_text(self.account_line())
        (self.directory / "contacts").write_text("")
        return self


# --------------------------------------------------------------------------------------------
# The process and its control connection
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BaresipEvent:
    """One event pushed on ctrl_tcp (``type`` e.g. CALL_ESTABLISHED, CALL_CLOSED)."""

    type: str
    klass: str
    param: str
    data: dict[str, Any]
    arrival: float


@dataclass(frozen=True)
class TracedMessage:
    """One SIP message in baresip's ``-s`` trace: transport (UDP, TCP, TLS), the two
    addresses, and the start line (``INVITE sip:... SIP/2.0`` or ``SIP/2.0 200 OK``)."""

    transport: str
    source: str
    destination: str
    start_line: str


_TRACE = re.compile(r"^(UDP|TCP|TLS) (\S+) -> (\S+)\r?\n([^\r\n]*)", re.M)


def netstring(payload: bytes) -> bytes:
    return b"%d:%s," % (len(payload), payload)


class Baresip:
    """A running baresip (see :func:`baresip`): commands and events over ctrl_tcp."""

    def __init__(self, config: BaresipConfig, proc: asyncio.subprocess.Process) -> None:
        self.config = config
        self.proc = proc
        self.events: list[BaresipEvent] = []
        self._responses: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._event_arrived = asyncio.Event()
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._pump: asyncio.Task[None] | None = None
        self._token = 0
        self.returncode: int | None = None

    @property
    def log_path(self) -> Path:
        return self.config.directory / "baresip.log"

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def sip_messages(self) -> list[TracedMessage]:
        """The SIP messages baresip traced (started with ``sip_trace=True``), in order."""
        return [TracedMessage(*m.groups()) for m in _TRACE.finditer(self.log())]

    async def _connect(self, timeout: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if self.proc.returncode is not None:
                raise BaresipError(
                    f"baresip exited ({self.proc.returncode}) before listening:\n{self.log()[-2000:]}"
                )
            try:
                self._reader, self._writer = await asyncio.open_connection(
                    self.config.host, self.config.ctrl_port
                )
                break
            except OSError:
                if loop.time() > deadline:
                    raise BaresipError(
                        f"baresip ctrl_tcp did not listen on {self.config.ctrl_port} in "
                        f"{timeout} s:\n{self.log()[-2000:]}"
                    ) from None
                await asyncio.sleep(0.05)
        self._pump = asyncio.create_task(self._read_loop())

    async def _read_netstring(self, reader: asyncio.StreamReader) -> bytes:
        head = await reader.readuntil(b":")
        if not head[:-1].isdigit() or len(head) > 8:
            raise BaresipError(f"ctrl_tcp: bad netstring length {head[:20]!r}")
        size = int(head[:-1])
        if size > MAX_NETSTRING:
            raise BaresipError(f"ctrl_tcp: netstring of {size} bytes")
        body = await reader.readexactly(size + 1)
        if body[-1:] != b",":
            raise BaresipError("ctrl_tcp: netstring without its trailing comma")
        return body[:-1]

    async def _read_loop(self) -> None:
        assert self._reader is not None
        loop = asyncio.get_running_loop()
        try:
            while True:
                message = json.loads(await self._read_netstring(self._reader))
                if message.get("event"):
                    self.events.append(BaresipEvent(
                        str(message.get("type", "")), str(message.get("class", "")),
                        str(message.get("param", "")), message, loop.time(),
                    ))  # fmt: skip
                    self._event_arrived.set()
                elif message.get("response"):
                    future = self._responses.pop(str(message.get("token")), None)
                    if future is not None and not future.done():
                        future.set_result(message)
        except (asyncio.IncompleteReadError, ConnectionError, BaresipError, ValueError) as exc:
            for future in self._responses.values():
                if not future.done():
                    future.set_exception(BaresipError(f"ctrl_tcp connection lost: {exc!r}"))
            self._event_arrived.set()

    async def command(self, command: str, params: str = "", timeout: float = 5.0) -> str:
        """Run a long command (as ``/command params``); return its output, raise if not ok."""
        if self._writer is None:
            raise BaresipError("baresip is not connected")
        self._token += 1
        token = str(self._token)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._responses[token] = future
        request: dict[str, str] = {"command": command, "token": token}
        if params:
            request["params"] = params
        self._writer.write(netstring(json.dumps(request).encode()))
        await self._writer.drain()
        try:
            response = await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise BaresipError(f"baresip did not answer {command!r} in {timeout} s") from None
        data = str(response.get("data", ""))
        if not response.get("ok"):
            raise BaresipError(f"baresip {command} {params}: failed: {data.strip()}")
        return data

    async def dial(self, uri: str) -> None:
        if any(c in uri for c in '\r\n"') or len(uri) > 500:
            raise BaresipError(f"bad URI to dial: {uri!r}")
        await self.command("dial", uri)

    async def hangup(self) -> None:
        await self.command("hangup")

    def seen(self, *types: str, since: float | None = None) -> BaresipEvent | None:
        return next(
            (e for e in self.events if e.type in types and (since is None or e.arrival >= since)),
            None,
        )

    async def wait_event(
        self, types: Iterable[str], timeout: float = 10.0, *, since: float | None = None
    ) -> BaresipEvent:
        """The first event (after ``since``) of one of ``types``; BaresipError after ``timeout``."""
        wanted = tuple(types)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            found = self.seen(*wanted, since=since)
            if found is not None:
                return found
            left = deadline - loop.time()
            if left <= 0 or self.proc.returncode is not None:
                seen = ", ".join(f"{e.type}({e.param})" for e in self.events) or "none"
                raise BaresipError(
                    f"baresip: no {'/'.join(wanted)} event in {timeout} s (events: {seen}); "
                    f"log:\n{self.log()[-3000:]}"
                )
            self._event_arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._event_arrived.wait(), min(left, 0.5))

    async def wait_established(
        self, timeout: float = 10.0, *, since: float | None = None
    ) -> BaresipEvent:
        """Wait for the call (dialled after ``since``, a ``loop.time()``) to connect;
        BaresipError (with the reason) if it closes instead."""
        event = await self.wait_event(("CALL_ESTABLISHED", "CALL_CLOSED"), timeout, since=since)
        if event.type != "CALL_ESTABLISHED":
            raise BaresipError(f"the call closed instead of connecting: {event.param!r}")
        return event

    async def stop(self, timeout: float = 5.0) -> int:
        """End cleanly: hang up, ``quit``, wait; then SIGTERM, then SIGKILL. Returns the exit
        code. sndfile finalises its WAV headers when the call's audio is torn down."""
        if self.proc.returncode is None and self._writer is not None:
            with contextlib.suppress(BaresipError, ConnectionError):
                if self.seen("CALL_ESTABLISHED", "CALL_RINGING", "CALL_PROGRESS") and not self.seen(
                    "CALL_CLOSED"
                ):
                    await self.command("hangup", timeout=2)
                    with contextlib.suppress(BaresipError):
                        await self.wait_event(("CALL_CLOSED",), 2)
                await self.command("quit", timeout=2)
        try:
            await asyncio.wait_for(self.proc.wait(), timeout)
        except TimeoutError:
            for sig in (signal.SIGTERM, signal.SIGKILL):
                with contextlib.suppress(ProcessLookupError):
                    self.proc.send_signal(sig)
                try:
                    await asyncio.wait_for(self.proc.wait(), 3)
                    break
                except TimeoutError:
                    continue
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await self._writer.wait_closed()
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump
        self.returncode = self.proc.returncode
        return int(self.proc.returncode or 0)

    def recordings(self) -> list[Recording]:
        assert self.config.snd_path is not None
        return recordings(self.config.snd_path)


async def start_baresip(
    config: BaresipConfig, *, timeout: float = 5.0, quit_after: float = 60.0,
    sip_trace: bool = False,
) -> Baresip:  # fmt: skip
    """Write ``config``'s files, start ``baresip -f <dir>`` and connect to its ctrl_tcp.

    ``quit_after`` (``-t``) bounds its life even if the test never stops it. Its output
    goes to ``<dir>/baresip.log``; with ``sip_trace`` (``-s``) every SIP message it sends
    and receives is logged there too, headed ``<transport>|<local> -> <remote>``.
    """
    reason = baresip_available()
    if reason:
        raise BaresipError(reason)
    config.write()
    log = open(config.directory / "baresip.log", "wb")  # noqa: SIM115 - handed to the child
    try:
        proc = await asyncio.create_subprocess_exec(
            BARESIP, "-f", str(config.directory), "-t", str(max(1, round(quit_after))),
            *(["-s"] if sip_trace else []),
            cwd=config.directory, stdin=asyncio.subprocess.DEVNULL, stdout=log,
            stderr=asyncio.subprocess.STDOUT, env=dict(os.environ, TERM="dumb"),
        )  # fmt: skip
    finally:
        log.close()
    phone = Baresip(config, proc)
    try:
        await phone._connect(timeout)
    except BaseException:
        await phone.stop(timeout=1)
        raise
    return phone


@asynccontextmanager
async def baresip(config: BaresipConfig, **options: Any) -> AsyncIterator[Baresip]:
    """``async with baresip(BaresipConfig(dir, source=wav)) as phone:``; stopped at exit."""
    phone = await start_baresip(config, **options)
    try:
        yield phone
    finally:
        await phone.stop()


# --------------------------------------------------------------------------------------------
# Watching the wire
# --------------------------------------------------------------------------------------------

_ETH_P_ALL = 0x0003
_PACKET_OUTGOING = 4
_MAX_CAPTURE = 50_000
_SO_ATTACH_FILTER = 26
_SO_RCVBUFFORCE = 33


def _udp_port_filter(port: int) -> list[tuple[int, int, int, int]]:
    """Classic BPF for ``ip and udp port <port>`` on Ethernet framing (what ``dumpcap -d``
    prints for that filter): the kernel then queues only those frames, so other loopback
    traffic cannot overflow the socket's buffer and drop ours."""
    reject, accept = 12, 11
    return [
        (0x28, 0, 0, 12),  # 0 ldh [12]: EtherType
        (0x15, 0, reject - 2, 0x0800),  # 1 jeq IPv4
        (0x30, 0, 0, 23),  # 2 ldb [23]: IP protocol
        (0x15, 0, reject - 4, socket.IPPROTO_UDP),  # 3 jeq UDP
        (0x28, 0, 0, 20),  # 4 ldh [20]: flags + fragment offset
        (0x45, reject - 6, 0, 0x1FFF),  # 5 jset: a later fragment has no UDP header
        (0xB1, 0, 0, 14),  # 6 ldxb 4*([14]&0xf): IP header length
        (0x48, 0, 0, 14),  # 7 ldh [x+14]: source port
        (0x15, accept - 9, 0, port),  # 8 jeq port
        (0x48, 0, 0, 16),  # 9 ldh [x+16]: destination port
        (0x15, 0, 1, port),  # 10 jeq port
        (0x06, 0, 0, 0x40000),  # 11 ret: accept
        (0x06, 0, 0, 0),  # 12 ret: drop
    ]


def _attach_filter(sock: socket.socket, program: list[tuple[int, int, int, int]]) -> None:
    code = ctypes.create_string_buffer(b"".join(struct.pack("HBBI", *i) for i in program))
    fprog = struct.pack("HL", len(program), ctypes.addressof(code))
    sock.setsockopt(socket.SOL_SOCKET, _SO_ATTACH_FILTER, fprog)


@dataclass(frozen=True)
class Datagram:
    """One UDP datagram seen on the loopback interface."""

    source: tuple[str, int]
    destination: tuple[str, int]
    payload: bytes


class LoopbackCapture:
    """Every IPv4 UDP datagram to or from ``port`` on ``lo``, read from an AF_PACKET socket
    (needs root or CAP_NET_RAW). ``async with LoopbackCapture(port) as cap:``; each datagram
    is kept once (the copy the kernel shows as outgoing is skipped)."""

    def __init__(self, port: int, interface: str = "lo") -> None:
        if not 1 <= port <= 65535:
            raise ValueError(f"port {port} outside 1..65535")
        self.port = port
        self.interface = interface
        self.datagrams: list[Datagram] = []
        self._sock: socket.socket | None = None

    async def __aenter__(self) -> LoopbackCapture:
        try:
            sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(_ETH_P_ALL))
        except PermissionError as exc:
            raise BaresipError(f"capturing on {self.interface} needs root: {exc}") from None
        try:
            _attach_filter(sock, _udp_port_filter(self.port))
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, _SO_RCVBUFFORCE, 4 << 20)
            sock.bind((self.interface, 0))
        except OSError:
            sock.close()
            raise
        sock.setblocking(False)
        self._sock = sock
        asyncio.get_running_loop().add_reader(sock.fileno(), self._read)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._sock is not None:
            asyncio.get_running_loop().remove_reader(self._sock.fileno())
            self._sock.close()
            self._sock = None

    def _read(self) -> None:
        assert self._sock is not None
        while True:
            try:
                frame, address = self._sock.recvfrom(65535)
            except (BlockingIOError, InterruptedError):
                return
            if address[2] == _PACKET_OUTGOING or len(self.datagrams) >= _MAX_CAPTURE:
                continue
            datagram = _udp_of(frame)
            if datagram and self.port in (datagram.source[1], datagram.destination[1]):
                self.datagrams.append(datagram)

    def sent_by(self) -> list[Datagram]:
        """Datagrams whose source port is ``port``."""
        return [d for d in self.datagrams if d.source[1] == self.port]

    def sent_to(self) -> list[Datagram]:
        """Datagrams whose destination port is ``port``."""
        return [d for d in self.datagrams if d.destination[1] == self.port]


def _udp_of(frame: bytes) -> Datagram | None:
    """The UDP datagram in an Ethernet (loopback) frame holding IPv4, or None."""
    if len(frame) < 14 + 20 + 8 or frame[12:14] != b"\x08\x00":
        return None
    ip = frame[14:]
    ihl = (ip[0] & 0x0F) * 4
    if ip[0] >> 4 != 4 or ip[9] != socket.IPPROTO_UDP or len(ip) < ihl + 8:
        return None
    total = int.from_bytes(ip[2:4], "big")
    udp = ip[ihl:total]
    if len(udp) < 8:
        return None
    return Datagram(
        (socket.inet_ntoa(ip[12:16]), int.from_bytes(udp[0:2], "big")),
        (socket.inet_ntoa(ip[16:20]), int.from_bytes(udp[2:4], "big")),
        bytes(udp[8 : int.from_bytes(udp[4:6], "big")]),
    )
