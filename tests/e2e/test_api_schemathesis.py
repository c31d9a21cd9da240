"""schemathesis over the generated OpenAPI document: no 5xx, nothing that contradicts the schema."""

from __future__ import annotations

import json
import ssl
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.helpers import ADMIN_PASSWORD, RunningNode

CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_schemathesis_finds_no_server_errors(node: RunningNode, tmp_path: Path) -> None:
    # schemathesis also sends wrong credentials; they must not lock the account it uses.
    assert node.mmp("user rule max_failed_logins 0").returncode == 0
    base = f"https://127.0.0.1:{node.ports.https}/api/v1"
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    req = urllib.request.Request(base + "/openapi.json")
    import base64

    req.add_header("Authorization", "Basic " + base64.b64encode(f"admin:{ADMIN_PASSWORD}".encode()).decode())
    with urllib.request.urlopen(req, context=ctx, timeout=30) as resp:
        doc = json.loads(resp.read())
    schema = tmp_path / "openapi.json"
    schema.write_text(json.dumps(doc))
    st = str(Path(sys.executable).parent / "schemathesis")
    proc = subprocess.run(
        [
            st, "run", str(schema), "--url", base,
            "-a", f"admin:{ADMIN_PASSWORD}", "--tls-verify", "false",
            "-H", "Accept: application/json",
            "-c", CHECKS, "-n", "5", "--max-time", "200", "--generation-deterministic",
            "--workers", "2", "--request-timeout", "30",
        ],
        capture_output=True, text=True, timeout=600,
    )
    failures = proc.stdout.find("FAILURES")
    summary = proc.stdout.find("SUMMARY")
    report = (proc.stdout[failures:failures + 8000] if failures >= 0 else "") + proc.stdout[summary:] + proc.stderr[-2000:]
    log = node.datadir.syslog.read_text()
    if "Traceback" in log:
        report += "\n--- syslog ---\n" + log[log.find("Traceback") - 300:][:6000]
    assert proc.returncode == 0, report
    assert "passed" in proc.stdout.lower(), report
    assert "Server error" not in proc.stdout, report
    # The node logged no unexpected exception while being fuzzed.
    assert "Traceback" not in node.datadir.syslog.read_text()
