"""Licence enforcement heard and seen by participants (guide B.4, Table 6), with real callers.

- Alarm level 2 (``callBridge`` expired, in grace): a sipp phone joining a space alone
  hears the prompt (energy where a licensed bridge sends silence); a browser gets the
  30-second notice and hears it too.
- Alarm level 3 (trial over, no licence): the compliance prompt; a call that requires
  encryption is refused with the reason; a browser (always encrypted) cannot join.
- Licensed (the trial): silence, no notice.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import numpy as np
import numpy.typing as npt
import pytest

from moot.licensing import authority
from moot.licensing import node as licensing
from moot.licensing.feature import Feature
from moot.licensing.licensefile import LicenseFile, sign
from moot.node.context import NodeContext
from moot.node.settings import NODE_CREATED, NODE_ID
from tests.callbridge_api import Api, until
from tests.helpers import Ports, RunningNode, config_of, mmp, prepare_datadir
from tests.sipp_helpers import RtpReceiver, rms_dbfs, start_sipp, tone_pcap
from tests.webrtc_client import JoinRefused, WebClient

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("sipp") is None or os.geteuid() != 0,
                       reason="needs sipp, and root for its play_pcap_audio raw socket"),
]


def licensed_node(root: Path, *, created_days_ago: int, callbridge_expired_days_ago: int | None) -> RunningNode:
    """A node created ``created_days_ago`` days ago, with a licence whose callBridge expired
    that many days ago (None: no licence at all)."""
    ports = Ports()
    dd = prepare_datadir(root / "node", ports)
    store, config, _ = config_of(dd)
    try:
        config.set(NODE_CREATED, time.time() - created_days_ago * 86400)
        host = config.get(NODE_ID)
    finally:
        store.close()
    if callbridge_expired_days_ago is not None:
        private, public = authority.create(root / "ca")
        dd.file("acme.pub").write_bytes(public.read_bytes())
        assert mmp(dd, "license authority acme.pub").returncode == 0
        today = datetime.now(UTC).date()
        licence = LicenseFile(issuer="Acme", serial="E-1", issued=today - timedelta(days=400), hosts=(host,),
                              features={Feature.CALL_BRIDGE: today - timedelta(days=callbridge_expired_days_ago)})
        dd.file("cms.lic").write_text(sign(licence, authority.load_private(private)))
        # Applied a month ago, while it was valid ('callbridge restart' then); it has lapsed since.
        ctx = NodeContext(dd)
        try:
            assert licensing.load(ctx, today=today - timedelta(days=30)).refused is None
        finally:
            ctx.close()
    return RunningNode(dd, ports).start()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=False)) as session:
        yield session


async def setup_space(api: Api, uri: str, call_id: str, **extra: str) -> str:
    await api.post("/inboundDialPlanRules", domain="127.0.0.1")
    return await api.post("/coSpaces", name=f"Room {uri}", uri=uri, callId=call_id, **extra)


async def phone_hears(node: RunningNode, tmp_path: Path, uri: str) -> float:
    """Level (dBFS) of what a phone alone in the space hears in its first 4 seconds."""
    async with RtpReceiver() as rx:
        pcap = tone_pcap(tmp_path / f"{uri}.pcap", 440.0, 7.0)
        phone = await start_sipp("uac_call", f"127.0.0.1:{node.ports.sip}", workdir=tmp_path / uri, service=uri,
                                 keys={"rx_port": rx.port, "pcap": pcap, "hold_ms": 6000}, timeout=30.0)
        await rx.wait_packets(100, 15.0)
        start = time.monotonic()
        await asyncio.sleep(4.5)
        result = await phone.wait()
        assert result.successful == 1, result.describe()
        return rms_dbfs(rx.audio(since=start - 1.0, until=start + 3.5))


async def test_alarm_2_prompt_and_notice_on_joining(tmp_path: Path, http: aiohttp.ClientSession) -> None:
    node = licensed_node(tmp_path, created_days_ago=200, callbridge_expired_days_ago=10)
    try:
        assert "Grace" in node.mmp("license").stdout
        api = Api(http, node)
        await setup_space(api, "grace", "880001")
        assert await phone_hears(node, tmp_path, "grace") > -40.0  # speech where silence would be
        async with WebClient(f"https://127.0.0.1:{node.ports.webbridge}", tone_hz=None, name="Web",
                             video_colour=(200, 40, 40)) as web:
            await web.join("880001")
            notice = await web.next_message("notice")
            assert notice["seconds"] == 30 and "expired" in notice["text"]
            await asyncio.sleep(3.0)
            samples, _rate = web.received_audio(since=time.monotonic() - 2.5)
            assert rms_dbfs(samples) > -40.0
            # The text is also on the video (guide B.4 Table 6: "a 30 s text on the video").
            assert web.latest_video is not None and caption_shown(web.latest_video)
        # The operator sees it in /system/alarms.
        listed = await api.get("/system/alarms")
        assert [a.findtext("type") for a in listed.iter("alarm")] == ["licenseExpired"]
    finally:
        node.stop()


async def test_alarm_3_compliance_prompt_and_no_encrypted_calls(tmp_path: Path, http: aiohttp.ClientSession) -> None:
    node = licensed_node(tmp_path, created_days_ago=200, callbridge_expired_days_ago=None)
    try:
        api = Api(http, node)
        await setup_space(api, "lapsed", "880002")
        assert await phone_hears(node, tmp_path, "lapsed") > -40.0
        # Encryption required by the space's call leg profile: refused, with the reason.
        profile = await api.post("/callLegProfiles", sipMediaEncryption="required")
        await api.post("/coSpaces", name="Secret", uri="secret", callId="880003", callLegProfile=profile)
        async with RtpReceiver() as rx:
            pcap = tone_pcap(tmp_path / "secret.pcap", 440.0, 3.0)
            phone = await start_sipp("uac_call", f"127.0.0.1:{node.ports.sip}", workdir=tmp_path / "secret",
                                     service="secret", keys={"rx_port": rx.port, "pcap": pcap, "hold_ms": 1000},
                                     timeout=20.0)
            result = await phone.wait()
        assert result.successful == 0
        assert any(d == "received" and m.startswith("SIP/2.0 488") for d, m in result.exchanged()), \
            result.describe()
        # Browsers are always encrypted: none join.
        async with WebClient(f"https://127.0.0.1:{node.ports.webbridge}", tone_hz=None, name="Web") as web:
            with pytest.raises(JoinRefused) as refused:
                await web.join("880002")
            assert refused.value.code == "outOfCompliance"
            assert "out of licensing compliance" in refused.value.message
        listed = await api.get("/system/alarms")
        assert [a.findtext("type") for a in listed.iter("alarm")] == ["licenseOutOfComplianceExpired"]
    finally:
        node.stop()


async def test_no_prompt_while_licensed(node: RunningNode, http: aiohttp.ClientSession, tmp_path: Path) -> None:
    """A new node is in its trial: fully featured, nothing said on joining."""
    api = Api(http, node)
    await setup_space(api, "fine", "880004")
    assert await phone_hears(node, tmp_path, "fine") < -60.0
    async with WebClient(f"https://127.0.0.1:{node.ports.webbridge}", tone_hz=None, name="Web",
                         video_colour=(200, 40, 40)) as web:
        await web.join("880004")
        await asyncio.sleep(2.0)
        assert not [m for m in web.messages if m.get("type") == "notice"]
        assert web.latest_video is not None and not caption_shown(web.latest_video)
    await until(lambda: _no_calls(api), "calls end")


def caption_shown(picture: npt.NDArray[np.uint8]) -> bool:
    """White text in a dark band across the top of the picture (the enforcement caption)."""
    height = picture.shape[0] * 2 // 3
    band = picture[: max(8, height // 10)]
    return bool((band > 200).mean() > 0.005)


async def _no_calls(api: Api) -> bool:
    return (await api.get("/calls")).get("total") == "0"
