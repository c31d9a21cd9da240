"""A browser that may only use relayed candidates joins a meeting through Moot's TURN server.

Chromium's RTCPeerConnection is forced to ``iceTransportPolicy: 'relay'`` (an init script
wraps the constructor, as a strict corporate policy would). The web app gets its ICE servers
from the API's ``/turnServers`` object, with time-limited credentials minted from the TURN
server's shared secret. The selected candidate pair must be a relayed one, audio must flow
both ways through it, and the TURN server must show the allocation.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

import ifaddr
import pytest

from tests.callbridge_api import Api, until
from tests.e2e.test_webbridge_browser import CHROMIUM, chromium, new_page, web_leg
from tests.helpers import RunningNode, free_port

__all__ = ["chromium"]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium"),
]

os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")

SHARED_SECRET = "a-long-turn-shared-secret-0123"

RELAY_ONLY_JS = """
(() => {
  const Original = window.RTCPeerConnection;
  window.__pcs = [];
  function RelayOnly(config, ...rest) {
    const pc = new Original({...(config || {}), iceTransportPolicy: 'relay'}, ...rest);
    window.__pcs.push(pc);
    return pc;
  }
  RelayOnly.prototype = Original.prototype;
  Object.setPrototypeOf(RelayOnly, Original);
  window.RTCPeerConnection = RelayOnly;
})();
"""

SELECTED_PAIR_JS = """
async () => {
  const pc = window.__pcs[window.__pcs.length - 1];
  const stats = await pc.getStats();
  let pair = null, inbound = null;
  stats.forEach((s) => {
    if (s.type === 'transport' && s.selectedCandidatePairId) pair = stats.get(s.selectedCandidatePairId);
    if (s.type === 'inbound-rtp' && s.kind === 'audio') inbound = s;
  });
  const local = pair ? stats.get(pair.localCandidateId) : null;
  return {config: pc.getConfiguration().iceTransportPolicy, servers: pc.getConfiguration().iceServers,
          localType: local && local.candidateType, packetsReceived: inbound ? inbound.packetsReceived : 0};
}
"""


def local_networks() -> list[str]:
    """This host's addresses as /32 and /128 networks: the web bridge's media candidates are
    there, in ranges the TURN server refuses to relay to unless allowed."""
    out = []
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            if isinstance(ip.ip, str):
                out.append(f"{ip.ip}/32")
            elif not ip.ip[0].startswith("fe80"):
                out.append(f"{ip.ip[0]}/128")
    return out


def _ok(node: RunningNode, command: str) -> None:
    result = node.mmp(command)
    assert result.returncode == 0 and "SUCCESS" in result.stdout, (command, result.stdout, result.stderr)


async def test_relay_only_browser_joins_through_moot_turn(node: RunningNode, api: Api, chromium: Any,
                                                         tmp_path: Path) -> None:
    from playwright.async_api import expect

    port = free_port(socket.SOCK_DGRAM)
    relay_low = 40000 + (port % 20000)
    # The realm (and a long-term user the browsers never see) come with 'turn credentials'.
    for command in ("turn listen a", "turn credentials edge Edge-Password-1 moot.test", f"turn port {port}", f"turn relay-ports {relay_low} {relay_low + 99}",
                    f"turn shared-secret {SHARED_SECRET}", f"turn allow-peers {' '.join(local_networks())}",
                    "turn enable"):
        _ok(node, command)
    await api.post("/turnServers", serverAddress=f"127.0.0.1:{port}", clientAddress=f"127.0.0.1:{port}",
                   password=SHARED_SECRET, type="standard")
    await api.post("/coSpaces", name="Relay room", uri="relay", callId="701400")
    page, errors = await new_page(chromium)
    await page.add_init_script(RELAY_ONLY_JS)
    await page.goto(f"https://127.0.0.1:{node.ports.webbridge}/meeting/701400?name=Remote%20Rita&skipJoinOptions=true")
    await expect(page.locator("body")).to_have_attribute("data-state", "in-meeting", timeout=20000)
    leg = await until(lambda: web_leg(api), "the relayed browser's leg")

    async def flowing() -> dict[str, Any] | None:
        state: dict[str, Any] = await page.evaluate(SELECTED_PAIR_JS)
        return state if state["localType"] and state["packetsReceived"] > 50 else None

    state = await until(flowing, "audio through the relay", timeout=15.0)
    assert state["config"] == "relay"
    assert state["localType"] == "relay"
    [server] = state["servers"]
    assert server["urls"][0] == f"turn:127.0.0.1:{port}?transport=udp"
    expiry, _, who = server["username"].partition(":")
    assert expiry.isdigit() and who.startswith("guest-")

    async def server_hears() -> bool:
        detail = await api.get(f"/callLegs/{leg.get('id')}")
        return int(detail.findtext("status/rxAudio/packetsReceived") or 0) > 50

    await until(server_hears, "the browser's audio reaching the call bridge through the relay")
    status = node.mmp("turn").stdout
    assert "running" in status, status
    await page.click("#leave-button")
    assert not [e for e in errors if "favicon" not in e], errors
