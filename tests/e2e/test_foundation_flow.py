"""The foundation issue's whole flow, as an operator does it.

``moot serve``; a new admin account made on the console; that admin logs in
over SSH (changing the password chosen for them), uploads a key pair over
SFTP, runs ``webadmin certs`` and ``webadmin restart``; the browser then sees
the new certificate.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.e2e.test_webadmin_browser import CHROMIUM, CHROMIUM_ARGS
from tests.helpers import RunningNode
from tests.ssh_helpers import connect

FIRST = "F1rst-chosen-pw"
OWN = "Al1ce-own-secret"
CN = "meet.flow.example"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium"),
]


async def test_ssh_sftp_certs_restart_browser_sees_new_certificate(node: RunningNode, tmp_path: Path) -> None:
    res = node.mmp("user add alice admin", input=f"{FIRST}\n{FIRST}\n")
    assert res.returncode == 0, res.stdout + res.stderr
    key, crt = tmp_path / "flow.key", tmp_path / "flow.crt"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", str(key), "-out", str(crt), "-days", "30", "-subj", f"/CN={CN}",
         "-addext", f"subjectAltName=DNS:{CN},IP:127.0.0.1"],
        check=True, capture_output=True,
    )
    # First login: the password chosen by the other admin must be changed.
    async with connect(node.ports, "alice", FIRST) as conn:
        result = await conn.run("version", check=False)
        assert result.exit_status == 1 and "change" in str(result.stdout).lower()
        result = await conn.run("passwd", input=f"{OWN}\n{OWN}\n", check=False)
        assert result.exit_status == 0, result.stdout
    async with connect(node.ports, "alice", OWN) as conn:
        async with conn.start_sftp_client() as sftp:
            await sftp.put(str(key), "flow.key")
            await sftp.put(str(crt), "flow.crt")
        for command in ("webadmin disable", "webadmin certs flow.key flow.crt", "webadmin restart", "webadmin enable"):
            result = await conn.run(command, check=False)
            assert result.exit_status == 0 and "FAILURE" not in str(result.stdout), (command, result.stdout)
        status = await conn.run("webadmin", check=False)
        assert "flow.crt" in str(status.stdout)

    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = await (await browser.new_context(ignore_https_errors=True)).new_page()
            response = await page.goto(f"https://127.0.0.1:{node.ports.https}/")
            assert response is not None
            details = await response.security_details()
            assert details is not None and details.get("subjectName") == CN, details
        finally:
            await browser.close()
