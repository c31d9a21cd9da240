"""The web bridge issue's "done when": Chromium joins a space from the web app and talks with a
SIP phone (sipp) in the same space.

Chromium runs with fake devices; its microphone plays a 700 Hz tone (a WAV this test
writes). sipp calls the space's URI and plays 440 Hz. The page's WebAudio analyser on the
remote audio must find 440 Hz and not 700; sipp's receiver must find 700 Hz and not 440
(FFT, as in the SIP tests). Then the API mutes the browser's leg (sipp stops hearing it),
and closing the page ends the leg. Also: the join link, a wrong passcode, an unknown
meeting. Screenshots go to tests/artifacts/.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
import wave
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.callbridge_api import Api, until
from tests.helpers import ROOT, RunningNode
from tests.sipp_helpers import RtpReceiver, assert_hears, start_sipp, tone_pcap

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "tests" / "artifacts"
BROWSER_TONE = 700.0
PHONE_TONE = 440.0

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium"),
]

os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")

#: The page's own ears: an AnalyserNode on the remote audio, the loudest bin every 200 ms,
#: and the level at the browser's own tone (which it must not hear back).
LISTEN_JS = """
async ([ms, own]) => {
  const stream = document.getElementById('remote-audio').srcObject;
  const ctx = new AudioContext();
  const analyser = ctx.createAnalyser();
  analyser.fftSize = 8192;
  ctx.createMediaStreamSource(stream).connect(analyser);
  const bins = new Float32Array(analyser.frequencyBinCount);
  const hz = (i) => i * ctx.sampleRate / analyser.fftSize;
  const ownBin = Math.round(own * analyser.fftSize / ctx.sampleRate);
  const out = [];
  const end = performance.now() + ms;
  while (performance.now() < end) {
    await new Promise((r) => setTimeout(r, 200));
    analyser.getFloatFrequencyData(bins);
    let best = 1;
    for (let i = 2; i < bins.length; i++) if (bins[i] > bins[best]) best = i;
    out.push({hz: hz(best), db: bins[best], ownDb: Math.max(...bins.slice(ownBin - 2, ownBin + 3))});
  }
  await ctx.close();
  return out;
}
"""


def tone_wav(path: Path, freq: float, seconds: float = 10.0, rate: int = 48000) -> Path:
    t = np.arange(int(seconds * rate)) / rate
    pcm = (0.3 * 32767 * np.sin(2 * np.pi * freq * t)).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return path


@pytest.fixture
async def chromium(tmp_path: Path) -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    wav = tone_wav(tmp_path / "mic.wav", BROWSER_TONE)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-audio-capture={wav}", "--autoplay-policy=no-user-gesture-required",
        ])
        try:
            yield browser
        finally:
            await browser.close()


async def new_page(chromium: Any, width: int = 1280, height: int = 800) -> tuple[Any, list[str]]:
    context = await chromium.new_context(ignore_https_errors=True, viewport={"width": width, "height": height},
                                         permissions=["camera", "microphone"])
    page = await context.new_page()
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return page, errors


async def web_leg(api: Api) -> ET.Element | None:
    for leg in (await api.get("/callLegs")).iter("callLeg"):
        detail = await api.get(f"/callLegs/{leg.get('id')}")
        if detail.findtext("type") == "acano":
            return detail
    return None


async def no_calls(api: Api) -> bool:
    return (await api.get("/calls")).get("total") == "0"


@pytest.mark.skipif(shutil.which("sipp") is None or os.geteuid() != 0,
                    reason="needs sipp, and root for its play_pcap_audio raw socket")
async def test_browser_and_sip_phone_talk_in_one_space(
    node: RunningNode, api: Api, chromium: Any, tmp_path: Path
) -> None:
    from playwright.async_api import expect

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    # No passcode: the SIP phone dials straight in (the passcode page is tested below).
    await api.post("/coSpaces", name="Mixed room", uri="mixed", callId="701200")
    page, errors = await new_page(chromium)
    await page.goto(f"https://127.0.0.1:{node.ports.webbridge}/")
    await expect(page.locator("#join-view")).to_be_visible()
    await page.screenshot(path=str(ARTIFACTS / "webbridge-join.png"))
    await page.fill("#meeting-id", "701200")
    await page.fill("#display-name", "Browser Betty")
    await page.click("#join-button")
    await expect(page.locator("body")).to_have_attribute("data-state", "devices", timeout=10000)
    await page.screenshot(path=str(ARTIFACTS / "webbridge-devices.png"))
    await page.click("#devices-join")
    await expect(page.locator("body")).to_have_attribute("data-state", "in-meeting", timeout=15000)
    leg = await until(lambda: web_leg(api), "the browser's leg in the API")
    leg_id = leg.get("id")
    assert leg.findtext("name") == "Browser Betty"
    async with RtpReceiver() as rx:
        pcap = tone_pcap(tmp_path / "phone.pcap", PHONE_TONE, 14.0)
        phone = await start_sipp("uac_call", f"127.0.0.1:{node.ports.sip}", workdir=tmp_path / "uac",
                                 service="mixed", keys={"rx_port": rx.port, "pcap": pcap, "hold_ms": 14000},
                                 timeout=40.0)
        await expect(page.locator("#participants li")).to_have_count(2, timeout=10000)
        await asyncio.sleep(2.0)
        heard = await page.evaluate(LISTEN_JS, [2500, BROWSER_TONE])
        mark = time.monotonic()
        await page.screenshot(path=str(ARTIFACTS / "webbridge-meeting.png"))
        peaks = sorted(h["hz"] for h in heard)
        median = peaks[len(peaks) // 2]
        assert abs(median - PHONE_TONE) < 15, heard
        assert max(h["db"] for h in heard) > -60, heard
        assert all(h["ownDb"] < h["db"] - 25 for h in heard), heard  # not its own tone back
        assert_hears(rx.audio(since=mark - 2.5, until=mark), present=[BROWSER_TONE], absent=[PHONE_TONE],
                     who="the SIP phone (hearing the browser)")
        # The API mutes the browser: the phone stops hearing 700 Hz; the page says so.
        await api.put(f"/callLegs/{leg_id}", rxAudioMute="true")
        await expect(page.locator("#host-mute-banner")).to_be_visible(timeout=5000)
        muted = time.monotonic()
        await asyncio.sleep(2.5)
        assert_hears(rx.audio(since=muted + 0.7, until=muted + 2.5), absent=[BROWSER_TONE, PHONE_TONE],
                     who="the SIP phone after the browser was muted")
        # Closing the page ends the browser's leg within 5 s; the phone stays.
        closed = time.monotonic()
        await page.context.close()
        await until(lambda: _leg_gone(api, leg_id), "the browser leg after the page closed", timeout=5.0)
        assert time.monotonic() - closed < 5.0
        result = await phone.wait()
        assert result.successful == 1, result.describe()
    assert not [e for e in errors if "favicon" not in e], errors


async def _leg_gone(api: Api, leg_id: str | None) -> bool:
    return all(leg.get("id") != leg_id for leg in (await api.get("/callLegs")).iter("callLeg"))


async def test_join_link_wrong_passcode_and_unknown_meeting(node: RunningNode, api: Api, chromium: Any) -> None:
    from playwright.async_api import expect

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    space = await api.post("/coSpaces", name="Link room", uri="link", callId="701300", passcode="8642")
    secret = (await api.get(f"/coSpaces/{space}")).findtext("secret")
    base = f"https://127.0.0.1:{node.ports.webbridge}"
    page, errors = await new_page(chromium, 390, 844)  # a phone
    await page.goto(base + "/")
    await page.fill("#meeting-id", "123456789")
    await page.fill("#display-name", "Phone Pat")
    await page.click("#join-button")
    await expect(page.locator("#error-message")).to_contain_text("couldn't find a meeting")
    await page.screenshot(path=str(ARTIFACTS / "webbridge-unknown-meeting.png"))
    await page.fill("#meeting-id", "701300")
    await page.click("#join-button")
    await expect(page.locator("#passcode")).to_be_visible()
    await page.fill("#passcode", "0000")
    await page.click("#join-button")
    # The passcode is checked when the browser joins, after the device check.
    await expect(page.locator("body")).to_have_attribute("data-state", "devices", timeout=10000)
    await page.click("#devices-join")
    await expect(page.locator("#error-message")).to_contain_text("passcode", timeout=10000)
    await expect(page.locator("#error-message")).to_have_attribute("data-code", "wrongPasscode")
    await page.screenshot(path=str(ARTIFACTS / "webbridge-wrong-passcode.png"))
    await page.context.close()
    # The join link: no passcode, straight in.
    page, errors = await new_page(chromium)
    await page.goto(f"{base}/meeting/701300?secret={secret}&name=Linda%20Link&skipJoinOptions=true&audioMuted=true")
    await expect(page.locator("body")).to_have_attribute("data-state", "in-meeting", timeout=15000)
    await expect(page.locator("#participants li")).to_have_count(1)
    await expect(page.locator("#participants")).to_contain_text("Linda Link")
    leg = await until(lambda: web_leg(api), "the linked browser's leg")
    assert leg.findtext("name") == "Linda Link"
    await page.click("#leave-button")
    await expect(page.locator("body")).to_have_attribute("data-state", "ended")
    await page.screenshot(path=str(ARTIFACTS / "webbridge-left.png"))
    await until(lambda: no_calls(api), "the call ends when the browser leaves", timeout=5.0)
    assert not [e for e in errors if "favicon" not in e], errors
