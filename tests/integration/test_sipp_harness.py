"""The sipp harness proven with sipp on both sides (no Moot): scenarios, pcaps, receivers.

Each leg advertises a Python RtpReceiver port in its SDP; sipp plays a pcap the test wrote.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
from pathlib import Path

import numpy as np
import pytest

from moot.media.telephone_event import DtmfReceiver, TelephoneEvent
from tests.sipp_helpers import (
    SCENARIO_DIR,
    DtmfEvent,
    RtpReceiver,
    SippError,
    assert_hears,
    dtmf_pcap,
    read_pcap_rtp,
    run_sipp,
    scenario_keys,
    sipp,
    sipp_features,
    start_sipp,
    tone,
    tone_levels,
    tone_pcap,
    write_rtp_pcap,
)

needs_sipp = pytest.mark.skipif(
    shutil.which("sipp") is None or os.geteuid() != 0,
    reason="needs sipp, and root for its play_pcap_audio raw socket",
)


# --------------------------------------------------------------------------------------------
# pcaps and tone meters (no sipp)
# --------------------------------------------------------------------------------------------


def test_tone_pcap_is_paced_g711_rtp(tmp_path: Path) -> None:
    tone_pcap(tmp_path / "t.pcap", 440, 1.0, codec="PCMA", dst_port=7000)
    packets = read_pcap_rtp(tmp_path / "t.pcap")
    assert len(packets) == 50
    times = [t for t, _, _, _ in packets]
    assert np.allclose(np.diff(times), 0.020, rtol=0, atol=1e-6)
    assert {dst[1] for _, _, dst, _ in packets} == {7000}
    rtp = [p for _, _, _, p in packets]
    assert [p.sequence_number for p in rtp] == list(range(1000, 1050))
    assert [p.timestamp for p in rtp] == [160 * i for i in range(50)]
    assert [p.marker for p in rtp[:2]] == [True, False]
    assert {p.payload_type for p in rtp} == {8} and {len(p.payload) for p in rtp} == {160}
    from moot.media.g711 import alaw_decode

    pcm = np.concatenate([alaw_decode(p.payload) for p in rtp])
    assert abs(tone_levels(pcm, 8000, [440])[440] - -12.0) < 0.5


def test_write_rtp_pcap_puts_events_in_the_stream(tmp_path: Path) -> None:
    silence = [b"\xff" * 160] * 30
    count = write_rtp_pcap(
        tmp_path / "e.pcap", silence, ssrc=7, src_port=1, dst_port=2,
        events=[DtmfEvent("9", start_ms=100, duration_ms=60)],
        first_seq=65534, first_timestamp=2**32 - 320,
    )  # fmt: skip
    rtp = [p for _, _, _, p in read_pcap_rtp(tmp_path / "e.pcap")]
    assert count == len(rtp) == 30
    assert [p.sequence_number for p in rtp[:4]] == [65534, 65535, 0, 1]
    events = [p for p in rtp if p.payload_type == 101]
    # 60 ms: updates at 160, 320, then the final 480 with E set, three times.
    assert [TelephoneEvent.parse(p.payload).duration for p in events] == [160, 320, 480, 480, 480]
    assert [TelephoneEvent.parse(p.payload).end for p in events] == [False, False, True, True, True]
    assert {p.timestamp for p in events} == {(2**32 - 320 + 5 * 160) % 2**32}
    assert [p.marker for p in events] == [True, False, False, False, False]
    assert rtp[5].payload_type == 101 and rtp[4].payload_type == rtp[10].payload_type == 0


def test_bad_pcap_requests_raise(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a DTMF digit"):
        dtmf_pcap(tmp_path / "x.pcap", "12x")
    with pytest.raises(ValueError, match="overlaps"):
        write_rtp_pcap(
            tmp_path / "x.pcap", [], ssrc=1, src_port=1, dst_port=2,
            events=[DtmfEvent("1", 0, 100), DtmfEvent("2", 120, 100)],
        )  # fmt: skip
    with pytest.raises(ValueError, match="Nyquist"):
        tone_pcap(tmp_path / "x.pcap", 5000, 1)
    with pytest.raises(ValueError, match="codec"):
        tone_pcap(tmp_path / "x.pcap", 440, 1, codec="G722")


def test_tone_levels_and_assert_hears() -> None:
    mix = tone(440, 1.0, level_dbfs=-12) + tone(1000, 1.0, level_dbfs=-30)
    levels = tone_levels(mix, 8000, [440, 1000, 700])
    assert abs(levels[440] - -12) < 0.3 and abs(levels[1000] - -30) < 0.3
    assert levels[700] < -80
    assert_hears(mix, present=[440], absent=[700])
    with pytest.raises(AssertionError, match=r"700 Hz missing .*440 Hz: -12\.0 dBFS"):
        assert_hears(mix, present=[440, 700])
    with pytest.raises(AssertionError, match="1000 Hz audible"):
        assert_hears(mix, absent=[1000], max_dbfs=-40)
    with pytest.raises(AssertionError, match="only 100 samples"):
        assert_hears(mix[:100], present=[440])


def test_scenarios_declare_their_keys() -> None:
    for path in sorted(SCENARIO_DIR.glob("*.xml")):
        text = path.read_text()
        declared = scenario_keys(path)
        used = set(re.findall(r"\[([a-z_]+)\]", text))
        # Every declared key is used; every scenario sending SDP advertises the receiver.
        assert set(declared) <= used, path.name
        if "m=audio" in text:
            assert "rx_port" in declared, path.name
    assert scenario_keys("uac_call") == {
        "rx_port": None, "pcap": None, "hold_ms": "3000", "offer": "0 8 101",
    }  # fmt: skip


@needs_sipp
async def test_runner_rejects_bad_keys_and_missing_features(tmp_path: Path) -> None:
    with pytest.raises(SippError, match=r"needs key\(s\) \['pcap'\]"):
        await start_sipp("uac_call", "127.0.0.1:9", workdir=tmp_path, keys={"rx_port": 1})
    with pytest.raises(SippError, match=r"does not use key\(s\) \['hold'\]"):
        await start_sipp("uac_call", "127.0.0.1:9", workdir=tmp_path, keys={"hold": 1})
    with pytest.raises(SippError, match="no sipp scenario"):
        await start_sipp("uac_nothing", workdir=tmp_path)
    if "TLS" not in sipp_features():
        with pytest.raises(SippError, match="without TLS"):
            await start_sipp("uas_ring_no_answer", workdir=tmp_path, transport="l1")


# --------------------------------------------------------------------------------------------
# sipp against sipp
# --------------------------------------------------------------------------------------------


@pytest.mark.slow
@needs_sipp
@pytest.mark.parametrize("transport", ["u1", "t1"])
async def test_call_each_side_hears_the_other(tmp_path: Path, transport: str) -> None:
    """uac_call (440 Hz) -> uas_answer (700 Hz): each receiver hears only the far tone."""
    tone_pcap(tmp_path / "440.pcap", 440, 3.0)
    tone_pcap(tmp_path / "700.pcap", 700, 3.0)
    async with RtpReceiver() as rx_uac, RtpReceiver() as rx_uas:
        keys = {"rx_port": rx_uas.port, "pcap": tmp_path / "700.pcap"}
        async with sipp(
            "uas_answer", workdir=tmp_path / "uas", keys=keys, transport=transport, timeout=10
        ) as uas:
            uac = await run_sipp(
                "uac_call", f"127.0.0.1:{uas.port}", workdir=tmp_path / "uac",
                keys={"rx_port": rx_uac.port, "pcap": tmp_path / "440.pcap", "hold_ms": 2000},
                transport=transport, timeout=10,
            )  # fmt: skip
            uas_result = await uas.wait()
    uac.assert_ok(1)
    uas_result.assert_ok(1)
    assert uac.counter("OutgoingCall") == 1 and uas_result.counter("IncomingCall") == 1
    assert uac.sent("BYE") == 1 and uas_result.received("BYE") == 1

    assert_hears(rx_uac.audio(), present=[700], absent=[440], who="uac receiver")
    assert_hears(rx_uas.audio(), present=[440], absent=[700], who="uas receiver")
    for rx in (rx_uac, rx_uas):
        # About 2 s of 20 ms packets (the call ends the play), paced by the pcap timestamps.
        assert 80 <= len(rx.packets) <= 115, len(rx.packets)
        span = rx.packets[-1].arrival - rx.packets[0].arrival
        assert abs(span - 0.020 * (len(rx.packets) - 1)) < 0.2
        assert rx.invalid == 0
        # play_pcap_audio sends from a raw socket with UDP source port 0.
        assert rx.sources == {("127.0.0.1", 0)}


@pytest.mark.slow
@needs_sipp
async def test_rfc4733_digits_reach_the_far_receiver(tmp_path: Path) -> None:
    events = dtmf_pcap(tmp_path / "dtmf.pcap", "147*#0", duration_ms=100, gap_ms=100)
    tone_pcap(tmp_path / "700.pcap", 700, 3.0)
    async with RtpReceiver() as rx_uac, RtpReceiver() as rx_uas:
        keys = {"rx_port": rx_uas.port, "pcap": tmp_path / "700.pcap"}
        async with sipp("uas_answer", workdir=tmp_path / "uas", keys=keys, timeout=10) as uas:
            uac = await run_sipp(
                "uac_dtmf_rfc4733", f"127.0.0.1:{uas.port}", workdir=tmp_path / "uac",
                keys={"rx_port": rx_uac.port, "pcap": tmp_path / "dtmf.pcap", "hold_ms": 2000},
                timeout=10,
            )  # fmt: skip
            (await uas.wait()).assert_ok(1)
    uac.assert_ok(1)

    packets = [p for p in rx_uas.ordered() if p.payload_type == 101]
    receiver = DtmfReceiver()
    digits = [receiver.receive(p.payload, p.timestamp) for p in packets]
    assert "".join(d for d in digits if d) == "147*#0"
    assert rx_uas.digits() == "147*#0"  # the helper's own minimal parse agrees
    # Per event: marker on the first packet, one timestamp, growing durations, 3 ends.
    by_ts: dict[int, list[tuple[bool, TelephoneEvent]]] = {}
    for p in packets:
        by_ts.setdefault(p.timestamp, []).append((p.marker, TelephoneEvent.parse(p.payload)))
    assert len(by_ts) == len(events) == 6
    for updates in by_ts.values():
        assert [m for m, _ in updates] == [True] + [False] * 6
        assert [e.duration for _, e in updates] == [160, 320, 480, 640, 800, 800, 800]
        assert [e.end for _, e in updates] == [False] * 4 + [True] * 3
        assert {e.volume for _, e in updates} == {10}
    # Between digits the stream is G.711 silence, with the same SSRC.
    assert len({p.packet.ssrc for p in rx_uas.packets}) == 1
    assert np.max(np.abs(rx_uas.audio())) == 0
    assert_hears(rx_uac.audio(), present=[700], who="uac receiver")


@pytest.mark.slow
@needs_sipp
async def test_far_end_bye_first_is_answered(tmp_path: Path) -> None:
    """uas_bye hangs up after 500 ms; uac_call (hold 5 s) answers the BYE and succeeds."""
    tone_pcap(tmp_path / "440.pcap", 440, 2.0)
    async with RtpReceiver() as rx_uac, RtpReceiver() as rx_uas:
        keys = {"rx_port": rx_uas.port, "pcap": tmp_path / "440.pcap", "hold_ms": 500}
        async with sipp("uas_bye", workdir=tmp_path / "uas", keys=keys, timeout=10) as uas:
            uac = await run_sipp(
                "uac_call", f"127.0.0.1:{uas.port}", workdir=tmp_path / "uac",
                keys={"rx_port": rx_uac.port, "pcap": tmp_path / "440.pcap", "hold_ms": 5000},
                timeout=10,
            )  # fmt: skip
            uas_result = await uas.wait()
    uac.assert_ok(1)
    uas_result.assert_ok(1)
    assert uac.received("BYE") == 1 and uac.sent("BYE") == 0
    assert uas_result.sent("BYE") == 1 and uas_result.received("SIP/2.0 200") == 1
    assert uac.error_lines == [], uac.describe()
    # About half a second of audio each way.
    assert 15 <= len(rx_uac.packets) <= 40, len(rx_uac.packets)


@pytest.mark.slow
@needs_sipp
async def test_cancel_while_ringing(tmp_path: Path) -> None:
    async with (
        RtpReceiver() as rx_uac,
        sipp("uas_ring_no_answer", workdir=tmp_path / "uas", timeout=10) as uas,
    ):
        uac = await run_sipp(
                "uac_cancel", f"127.0.0.1:{uas.port}", workdir=tmp_path / "uac",
                keys={"rx_port": rx_uac.port, "ring_ms": 300}, timeout=10,
            )  # fmt: skip
        uas_result = await uas.wait()
    uac.assert_ok(1)
    uas_result.assert_ok(1)
    assert [s.split(" ", 1)[0] for d, s in uac.exchanged() if d == "sent"] == [
        "INVITE", "CANCEL", "ACK",
    ]  # fmt: skip
    assert uac.received("SIP/2.0 487") == 1
    assert uas_result.received("CANCEL") == 1 and uas_result.received("ACK") == 1
    assert rx_uac.packets == []


@pytest.mark.slow
@needs_sipp
async def test_info_digits(tmp_path: Path) -> None:
    tone_pcap(tmp_path / "440.pcap", 440, 3.0)
    async with RtpReceiver() as rx_uac, RtpReceiver() as rx_uas:
        keys = {"rx_port": rx_uas.port, "pcap": tmp_path / "440.pcap"}
        async with sipp("uas_answer", workdir=tmp_path / "uas", keys=keys, timeout=10) as uas:
            uac = await run_sipp(
                "uac_dtmf_info", f"127.0.0.1:{uas.port}", workdir=tmp_path / "uac",
                keys={
                    "rx_port": rx_uac.port, "pcap": tmp_path / "440.pcap", "digits": "9*#",
                    "delay_ms": 200, "gap_ms": 100, "hold_ms": 300,
                },
                timeout=10,
            )  # fmt: skip
            uas_result = await uas.wait()  # -aa answers the INFOs 200
    uac.assert_ok(1)
    uas_result.assert_ok(1)
    assert uac.sent("INFO") == 3 and uac.received("SIP/2.0 200") == 5  # 200 INVITE, 3 INFO, BYE
    signals = [line for line in uas_result.messages.splitlines() if line.startswith("Signal=")]
    assert signals == ["Signal=9", "Signal=*", "Signal=#"]
    assert uas_result.messages.count("Content-Type: application/dtmf-relay") == 3
    # Each INFO is its own transaction: distinct branches and CSeqs.
    infos = uac.messages.split("INFO sip:")[1:]
    branches = {m.split("branch=", 1)[1].split()[0] for m in infos}
    assert len(branches) == 3


@pytest.mark.slow
@needs_sipp
async def test_reinvite_hold_and_resume(tmp_path: Path) -> None:
    tone_pcap(tmp_path / "440.pcap", 440, 3.0)
    tone_pcap(tmp_path / "700.pcap", 700, 3.0)
    async with RtpReceiver() as rx_uac, RtpReceiver() as rx_uas:
        keys = {"rx_port": rx_uas.port, "pcap": tmp_path / "700.pcap"}
        async with sipp(
            "uas_answer_reinvite", workdir=tmp_path / "uas", keys=keys, timeout=10
        ) as uas:
            uac = await run_sipp(
                "uac_reinvite_hold", f"127.0.0.1:{uas.port}", workdir=tmp_path / "uac",
                keys={"rx_port": rx_uac.port, "pcap": tmp_path / "440.pcap", "hold_ms": 500},
                timeout=10,
            )  # fmt: skip
            uas_result = await uas.wait()
    uac.assert_ok(1)
    uas_result.assert_ok(1)
    assert uas_result.received("INVITE") == 3
    blocks = uac.messages.split("-----")
    offers = [b for b in blocks if "message sent" in b and "INVITE sip" in b]
    assert [("a=sendonly" in b, "a=sendrecv" in b) for b in offers] == [
        (False, True), (True, False), (False, True),
    ]  # fmt: skip
    answers = [b for b in blocks if "message received" in b and "SIP/2.0 200" in b]
    assert sum("a=recvonly" in b for b in answers) == 1
    assert_hears(rx_uas.audio(), present=[440], absent=[700], who="uas receiver")


@pytest.mark.slow
@needs_sipp
async def test_failed_call_reports_counters_and_errors(tmp_path: Path) -> None:
    """Nobody answers: sipp gives up at its -timeout; the result says so."""
    tone_pcap(tmp_path / "440.pcap", 440, 1.0)
    async with RtpReceiver() as rx:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:  # never answers
            silent.bind(("127.0.0.1", 0))
            result = await run_sipp(
                "uac_call", f"127.0.0.1:{silent.getsockname()[1]}", workdir=tmp_path,
                keys={"rx_port": rx.port, "pcap": tmp_path / "440.pcap"}, timeout=2,
            )  # fmt: skip
    assert result.returncode == 255 and not result.killed
    assert result.successful == 0
    assert any("timed out" in line for line in result.error_lines), result.describe()
    with pytest.raises(AssertionError, match=r"exit 255.*0 successful"):
        result.assert_ok(1)
