"""The MMP ``license`` commands through ``moot mmp -c`` (guide B.14.1.1)."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from moot.licensing import authority
from moot.licensing import node as licensing
from moot.licensing.feature import Feature, show_date
from moot.licensing.licensefile import LicenseFile, UserLimit, sign
from moot.node.context import NodeContext
from moot.node.datadir import DataDir
from moot.node.settings import NODE_CREATED, NODE_ID
from tests.helpers import config_of, mmp, prepare_datadir

pytestmark = pytest.mark.slow

LINE = re.compile(
    r"^Feature: (\w+) status: (Activated|Trial|Grace|Expired|No license)"
    r"(?: expiry: (\d{4}-[A-Z][a-z]{2}-\d{2}) \((\d+) days (remain|ago)\))?$"
)


def features(out: str) -> dict[str, tuple[str, ...]]:
    found = {}
    for line in out.splitlines():
        m = LINE.match(line)
        if m:
            found[m.group(1)] = m.groups()[1:]
    return found


@pytest.fixture
def dd(tmp_path: Path) -> DataDir:
    return prepare_datadir(tmp_path / "n")


@pytest.fixture
def ca(dd: DataDir, tmp_path: Path) -> Ed25519PrivateKey:
    private, public = authority.create(tmp_path / "ca")
    dd.file("acme.pub").write_bytes(public.read_bytes())
    return authority.load_private(private)


def node_id(dd: DataDir) -> str:
    store, config, _ = config_of(dd)
    try:
        return config.get(NODE_ID)
    finally:
        store.close()


def set_created(dd: DataDir, days_ago: int) -> None:
    store, config, _ = config_of(dd)
    try:
        config.set(NODE_CREATED, time.time() - days_ago * 86400)
    finally:
        store.close()


def apply(dd: DataDir) -> licensing.ApplyResult:
    """What the call bridge does as it starts ('callbridge restart')."""
    node = NodeContext(dd)
    try:
        return licensing.load(node)
    finally:
        node.close()


def test_new_node_is_in_trial(dd: DataDir) -> None:
    result = mmp(dd, "license")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[0].startswith("This server is currently unlicensed")
    found = features(result.stdout)
    assert set(found) == {"callbridge", "callbridgeNoEncryption", "customizations", "recording"}
    for status, _date, days, word in found.values():
        assert status == "Trial" and word == "remain" and days in ("89", "90")


def test_trial_over_needs_activation(dd: DataDir) -> None:
    set_created(dd, 120)
    out = mmp(dd, "license").stdout
    assert "Call Bridge requires activation" in out.splitlines()[0]
    assert features(out)["callbridge"][0] == "No license"


def test_licence_applied_shows_the_guides_lines(dd: DataDir, ca: Ed25519PrivateKey) -> None:
    set_created(dd, 120)
    ok = mmp(dd, "license authority acme.pub")
    assert ok.returncode == 0 and ok.stdout.startswith("SUCCESS"), ok.stdout
    today = datetime.now(UTC).date()
    expiry = today + timedelta(days=690)
    licence = LicenseFile(
        issuer="Acme", serial="A-7", issued=today, hosts=(node_id(dd),),
        features={Feature.CALL_BRIDGE: expiry, Feature.RECORDING: today - timedelta(days=3)},
        personal=UserLimit(10, expiry), shared=UserLimit(20, expiry),
    )
    dd.file("cms.lic").write_text(sign(licence, ca))
    before = mmp(dd, "license").stdout
    assert "not applied yet" in before and "Call Bridge requires activation" in before

    assert apply(dd).refused is None
    out = mmp(dd, "license").stdout
    assert f"Feature: callbridge status: Activated expiry: {show_date(expiry)} (690 days remain)" in out
    assert f"Feature: recording status: Grace expiry: {show_date(today - timedelta(days=3))} (3 days ago)" in out
    assert features(out)["customizations"] == ("No license", None, None, None)
    assert f"Users: personal (PMP Plus) status: Activated limit: 10 expiry: {show_date(expiry)}" in out
    assert "requires activation" not in out and "unlicensed" not in out
    assert "License: serial A-7" in out

    # a tampered file: refused with the reason, the licence stays
    text = dd.file("cms.lic").read_text()
    sig = text.splitlines()[-2]
    dd.file("cms.lic").write_text(text.replace(sig, sig[:3] + ("A" if sig[3] != "A" else "B") + sig[4:]))
    result = apply(dd)
    assert result.refused is not None
    out = mmp(dd, "license").stdout
    assert re.search(r"^License file cms.lic refused at .*: bad signature: .*previous license stays",
                     out, re.M)
    assert f"Feature: callbridge status: Activated expiry: {show_date(expiry)} (690 days remain)" in out


def test_license_authority_commands(dd: DataDir, ca: Ed25519PrivateKey) -> None:
    dd.file("junk.pub").write_text("nope")
    bad = mmp(dd, "license authority junk.pub")
    assert bad.returncode == 1 and "FAILURE: junk.pub is not a PEM public key" in bad.stdout
    missing = mmp(dd, "license authority absent.pub")
    assert missing.returncode == 1 and "not found" in missing.stdout
    assert mmp(dd, "license authority acme.pub").returncode == 0
    assert "Trusted license authorities: acme.pub" in mmp(dd, "license").stdout
    pw = "Tr1cky-Pass"
    assert mmp(dd, "user add auditor audit", input=f"{pw}\n{pw}\n").returncode == 0
    store, _, accounts = config_of(dd)
    accounts.set_password("auditor", pw + "2", by_self=True)  # past the first-login change
    store.close()
    assert mmp(dd, "license", user="auditor").returncode == 0
    denied = mmp(dd, "license authority none", user="auditor")
    assert denied.returncode != 0 and "permission denied" in denied.stdout
    assert mmp(dd, "license authority none").returncode == 0
    assert "Trusted license authorities" not in mmp(dd, "license").stdout


def test_callbridge_restart_applies_an_uploaded_licence_on_a_running_node(
    dd: DataDir, ca: Ed25519PrivateKey
) -> None:
    """Guide B.14: upload cms.lic (SFTP puts it in the file store), then 'callbridge restart'."""
    from tests.helpers import Ports, RunningNode

    set_created(dd, 120)
    store, config, _ = config_of(dd)
    try:
        from moot.node.settings import CALLBRIDGE_SIP_PORTS, MMP_LISTEN, WEBADMIN_LISTEN

        ports = Ports(ssh=config.get(MMP_LISTEN)["port"], https=config.get(WEBADMIN_LISTEN)["port"],
                      sip=config.get(CALLBRIDGE_SIP_PORTS)["udp"], sip_tls=config.get(CALLBRIDGE_SIP_PORTS)["tls"])
    finally:
        store.close()
    running = RunningNode(dd, ports).start()
    try:
        assert running.mmp("license authority acme.pub").returncode == 0
        today = datetime.now(UTC).date()
        expiry = today + timedelta(days=400)
        licence = LicenseFile(issuer="Acme", serial="R-1", issued=today, hosts=(node_id(dd),),
                              features={Feature.CALL_BRIDGE: expiry})
        dd.file("cms.lic").write_text(sign(licence, ca))
        assert "Call Bridge requires activation" in running.mmp("license").stdout
        restart = running.mmp("callbridge restart")
        assert restart.returncode == 0, restart.stdout + restart.stderr
        out = running.mmp("license").stdout
        assert f"Feature: callbridge status: Activated expiry: {show_date(expiry)} (400 days remain)" in out
        assert "cms.lic applied: serial R-1" in running.mmp("callbridge").stdout
    finally:
        running.stop()
