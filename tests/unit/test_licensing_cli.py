"""``moot license authority|issue|verify`` as an operator runs them."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.helpers import MOOT

pytestmark = pytest.mark.slow


def moot(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([MOOT, "license", *map(str, args)], capture_output=True, text=True,
                          timeout=60)


@pytest.fixture
def ca(tmp_path: Path) -> Path:
    result = moot("authority", "--out", tmp_path / "ca")
    assert result.returncode == 0, result.stderr
    return tmp_path / "ca"


def future(days: int) -> str:
    return (datetime.now(UTC).date() + timedelta(days=days)).isoformat()


def test_authority_issue_verify(ca: Path, tmp_path: Path) -> None:
    assert (ca / "authority.key").stat().st_mode & 0o777 == 0o600
    assert (ca / "authority.pub").read_text().startswith("-----BEGIN PUBLIC KEY-----")
    again = moot("authority", "--out", ca)
    assert again.returncode == 1 and "not overwriting" in again.stderr

    lic = tmp_path / "cms.lic"
    result = moot("issue", "--authority-key", ca / "authority.key", "--host-id", "node-a",
                  "--host-id", "node-b", "--feature", f"callBridge:{future(600)}",
                  "--feature", f"recording:{future(30)}", "--personal", "10",
                  "--shared", f"20:{future(100)}", "--issuer", "Acme", "--serial", "S-1",
                  "--out", lic)
    assert result.returncode == 0, result.stderr
    assert "-----BEGIN MOOT LICENSE SIGNATURE-----" in lic.read_text()

    ok = moot("verify", lic, "--authority-public", ca / "authority.pub", "--host-id", "node-b")
    assert ok.returncode == 0, ok.stderr
    out = ok.stdout.splitlines()
    assert "Issuer: Acme" in out and "Serial: S-1" in out and "Hosts: node-a node-b" in out
    assert any(line.startswith("Feature: callBridge expiry: ") for line in out)
    assert any(line.startswith("Users: personal (PMP Plus) limit: 10 ") for line in out)

    wrong = moot("verify", lic, "--authority-public", ca / "authority.pub", "--host-id", "node-c")
    assert wrong.returncode == 1 and "wrong host" in wrong.stderr

    other = tmp_path / "other"
    assert moot("authority", "--out", other).returncode == 0
    foreign = moot("verify", lic, "--authority-public", other / "authority.pub")
    assert foreign.returncode == 1 and "unknown authority" in foreign.stderr

    tampered = tmp_path / "tampered.lic"
    text = lic.read_text()
    sig = text.splitlines()[-2]
    tampered.write_text(text.replace(sig, sig[:5] + ("A" if sig[5] != "A" else "B") + sig[6:]))
    bad = moot("verify", tampered, "--authority-public", ca / "authority.pub")
    assert bad.returncode == 1 and "bad signature" in bad.stderr


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--feature", "teleport:2030-01-01"], "unknown feature 'teleport'"),
        (["--feature", "callBridge:2030-02-30"], "bad date"),
        (["--personal", "ten"], "--personal wants N"),
        (["--personal", "5"], "needs an expiry"),
        ([], "grants nothing"),
    ],
)
def test_issue_refuses_bad_arguments(ca: Path, tmp_path: Path, args: list[str], words: str) -> None:
    out = tmp_path / "x.lic"
    result = moot("issue", "--authority-key", ca / "authority.key", "--host-id", "h",
                  *args, "--out", out)
    assert result.returncode == 2 and words in result.stderr
    assert not out.exists()


def test_issue_with_a_public_key_is_refused(ca: Path, tmp_path: Path) -> None:
    result = moot("issue", "--authority-key", ca / "authority.pub", "--host-id", "h",
                  "--feature", "callBridge:2030-01-01", "--out", tmp_path / "x.lic")
    assert result.returncode == 1 and "not an unencrypted PEM private key" in result.stderr
