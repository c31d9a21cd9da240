"""`pki` MMP commands through `moot mmp -c`, every result checked with the openssl CLI."""

from __future__ import annotations

import asyncio
import re
import ssl
import stat
import subprocess
from pathlib import Path

import pytest

from moot.node.datadir import DataDir
from moot.pki import PkiError, check_pair, server_ssl_context
from tests.helpers import config_of, mmp

pytestmark = pytest.mark.slow


def openssl(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        ["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=60
    )
    if check and result.returncode != 0:
        raise AssertionError(f"openssl {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
    return result


def ok(dd: DataDir, command: str, user: str = "admin") -> str:
    result = mmp(dd, command, user=user)
    assert result.returncode == 0, f"{command!r} failed:\n{result.stdout}{result.stderr}"
    assert "FAILURE" not in result.stdout
    return result.stdout


def fails(dd: DataDir, command: str, user: str = "admin") -> str:
    """Run a command that must fail; return its FAILURE line."""
    result = mmp(dd, command, user=user)
    assert result.returncode != 0, f"{command!r} should have failed:\n{result.stdout}"
    lines = [ln for ln in result.stdout.splitlines() if ln.startswith("FAILURE: ")]
    assert lines, result.stdout
    return lines[-1]


def public_key_of(kind: str, path: Path) -> str:
    """The PEM public key of a key, certificate or CSR, as openssl extracts it."""
    args = {
        "key": ["pkey", "-pubout", "-in", path.name],
        "crt": ["x509", "-pubkey", "-noout", "-in", path.name],
        "csr": ["req", "-pubkey", "-noout", "-in", path.name],
    }[kind]
    return openssl(*args, cwd=path.parent).stdout


def store_names(dd: DataDir) -> set[str]:
    return {p.name for p in dd.files.iterdir()}


# --- a CA made with the openssl CLI: root -> intermediate -> leaf -----------------------

CA_EXT = "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n"
LEAF_EXT = (
    "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
    "extendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n"
)


def make_root(cwd: Path, name: str, cn: str) -> None:
    openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key",
        "-out", f"{name}.crt", "-subj", f"/CN={cn}", "-days", "30",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=cwd,
    )


def sign(cwd: Path, csr: str, ca: str, out: str, ext: str, copy: bool = False) -> None:
    (cwd / f"{out}.ext").write_text(ext)
    extra = ["-copy_extensions", "copy"] if copy else []
    openssl(
        "x509", "-req", "-in", csr, "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key",
        "-CAcreateserial", "-out", f"{out}.crt", "-days", "30",
        "-extfile", f"{out}.ext", *extra, cwd=cwd,
    )


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """root.crt, inter.crt (+ keys), leaf.key/leaf.crt, bundle.crt (inter+root),
    fullchain.crt (leaf+inter+root), and impostor-root.crt (same name as root, other key)."""
    d = tmp_path_factory.mktemp("ca")
    make_root(d, "root", "Moot Test Root")
    make_root(d, "impostor-root", "Moot Test Root")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "inter.key", "-out", "inter.csr",
            "-subj", "/CN=Moot Test Intermediate", cwd=d)
    sign(d, "inter.csr", "root", "inter", CA_EXT)
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", "leaf.key", "-out", "leaf.csr", "-subj", "/CN=localhost", cwd=d)
    sign(d, "leaf.csr", "inter", "leaf", LEAF_EXT)
    root, inter, leaf = ((d / f"{n}.crt").read_text() for n in ("root", "inter", "leaf"))
    (d / "bundle.crt").write_text(inter + root)
    (d / "fullchain.crt").write_text(leaf + inter + root)
    (d / "impostor-bundle.crt").write_text(inter + (d / "impostor-root.crt").read_text())
    return d


def upload(dd: DataDir, source: Path, *names: str) -> None:
    """What an SFTP upload does: put the file in the file store."""
    for name in names:
        (dd.files / name).write_bytes((source / name).read_bytes())


# --- pki csr --------------------------------------------------------------------------


def test_csr_guide_example_checked_with_openssl(datadir: DataDir) -> None:
    out = ok(
        datadir,
        'pki csr example CN:example.com "OU:Accounts UK" "O:My Company" C:gb '
        "emailAddress:pki@example.com subjectAltName:www.example.com,127.0.0.1",
    )
    assert "Created key file example.key and CSR example.csr" in out
    assert "SUCCESS: example.key and example.csr are ready for download via SFTP" in out
    files = datadir.files
    assert stat.S_IMODE((files / "example.key").stat().st_mode) == 0o600
    req = openssl("req", "-in", "example.csr", "-noout", "-verify", "-text", cwd=files)
    assert "verify OK" in req.stdout + req.stderr
    subject = next(ln for ln in req.stdout.splitlines() if "Subject:" in ln)
    for part in ("C = GB", "O = My Company", "OU = Accounts UK", "CN = example.com",
                 "emailAddress = pki@example.com"):
        assert part in subject
    assert "DNS:example.com, DNS:www.example.com, IP Address:127.0.0.1" in req.stdout
    assert "Public-Key: (2048 bit)" in req.stdout
    check = openssl("pkey", "-in", "example.key", "-check", "-noout", cwd=files)
    assert "Key is valid" in check.stdout + check.stderr
    key_public = public_key_of("key", files / "example.key")
    assert key_public == public_key_of("csr", files / "example.csr")


@pytest.mark.parametrize(
    ("key_type", "expected"),
    [("ecp256", "ASN1 OID: prime256v1"), ("rsa4096", "Private-Key: (4096 bit")],
)
def test_csr_key_types(datadir: DataDir, key_type: str, expected: str) -> None:
    ok(datadir, f"pki csr k {key_type} CN:k.example")
    text = openssl("pkey", "-in", "k.key", "-noout", "-text", cwd=datadir.files).stdout
    assert expected in text
    req = openssl("req", "-in", "k.csr", "-noout", "-verify", cwd=datadir.files)
    assert "verify OK" in req.stdout + req.stderr


@pytest.mark.parametrize(
    ("command", "message"),
    [
        ("pki csr x FOO:bar", "unknown attribute 'FOO'"),
        ("pki csr x CN:x.example C:GBR", "not a country code"),
        ('pki csr x CN:x.example "O:"', "O has an empty value"),
        ("pki csr x CN:x.example rsa1024", "'rsa1024' is neither <attribute>:<value>"),
        ("pki csr x CN:a CN:b", "CN given twice"),
        ("pki csr x", "needs at least CN"),
        ("pki csr x subjectAltName:bad_host!", "neither a host name nor an IP address"),
        ("pki csr ../x CN:a.example", "not a file name in the file store"),
        ("pki csr a/b CN:a.example", "not a file name in the file store"),
        ("pki csr .hidden CN:a.example", "hidden"),
        ("pki selfsigned x C:XYZ", "not a country code"),
        ("pki selfsigned ../x", "not a file name in the file store"),
    ],
)
def test_bad_csr_and_selfsigned_input_writes_nothing(
    datadir: DataDir, command: str, message: str
) -> None:
    before = store_names(datadir)
    assert message in fails(datadir, command)
    assert store_names(datadir) == before
    assert not (datadir.root / "x.key").exists()  # where files/../x.key would have gone


def test_existing_names_are_never_overwritten(datadir: DataDir) -> None:
    ok(datadir, "pki csr web CN:web.example")
    key_before = (datadir.files / "web.key").read_bytes()
    line = fails(datadir, "pki csr web CN:other.example")
    assert "web.key already exists" in line and "pki unlink web.key" in line
    line = fails(datadir, "pki selfsigned web")
    assert "web.key already exists" in line
    assert (datadir.files / "web.key").read_bytes() == key_before
    assert not (datadir.files / "web.crt").exists()


# --- pki selfsigned -------------------------------------------------------------------


def test_selfsigned_guide_example_checked_with_openssl(datadir: DataDir) -> None:
    out = ok(datadir, "pki selfsigned webadmin")
    assert "SUCCESS: created key file webadmin.key and self-signed certificate webadmin.crt" in out
    files = datadir.files
    assert stat.S_IMODE((files / "webadmin.key").stat().st_mode) == 0o600
    text = openssl("x509", "-in", "webadmin.crt", "-noout", "-text", cwd=files).stdout
    assert "Subject: CN = webadmin" in text and "Issuer: CN = webadmin" in text
    assert "DNS:webadmin" in text
    assert "CA:FALSE" in text and "TLS Web Server Authentication" in text
    verify = openssl("verify", "-CAfile", "webadmin.crt", "webadmin.crt", cwd=files)
    assert "webadmin.crt: OK" in verify.stdout
    openssl("x509", "-in", "webadmin.crt", "-noout", "-checkend", str(300 * 86400), cwd=files)
    assert public_key_of("key", files / "webadmin.key") == public_key_of(
        "crt", files / "webadmin.crt"
    )


def test_selfsigned_with_key_type_and_ip_san(datadir: DataDir) -> None:
    ok(datadir, "pki selfsigned lab ecp256 CN:localhost subjectAltName:127.0.0.1,::1")
    text = openssl("x509", "-in", "lab.crt", "-noout", "-text", cwd=datadir.files).stdout
    assert "DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1" in text
    assert "ASN1 OID: prime256v1" in text
    assert "ecdsa-with-SHA256" in text


# --- pki list / inspect / match -------------------------------------------------------


def test_list_shows_material_by_content(datadir: DataDir, ca: Path) -> None:
    out = ok(datadir, "pki list")
    assert out.splitlines() == ["User supplied certificates and keys:", "none"]
    upload(datadir, ca, "leaf.key", "bundle.crt")
    (datadir.files / "chain.txt").write_bytes((ca / "inter.crt").read_bytes())
    (datadir.files / "notes.txt").write_text("hello")
    ok(datadir, "pki csr mine CN:mine.example")
    lines = ok(datadir, "pki list").splitlines()
    assert lines[0] == "User supplied certificates and keys:"
    assert lines[1:] == ["bundle.crt", "chain.txt", "leaf.key", "mine.csr", "mine.key"]


def test_inspect_bundle_matches_openssl(datadir: DataDir, ca: Path) -> None:
    upload(datadir, ca, "bundle.crt", "inter.crt", "root.crt")
    out = ok(datadir, "pki inspect bundle.crt")
    assert "bundle.crt: Certificate 1 of 2" in out and "bundle.crt: Certificate 2 of 2" in out
    for name in ("inter.crt", "root.crt"):
        fingerprint = openssl("x509", "-in", name, "-noout", "-fingerprint", "-sha256",
                              cwd=datadir.files).stdout.strip().split("=", 1)[1]
        serial = openssl("x509", "-in", name, "-noout", "-serial",
                         cwd=datadir.files).stdout.strip().split("=", 1)[1]
        assert fingerprint in out
        assert re.search(rf"Serial number\s+: 0*{serial.lstrip('0')}\n", out)
    assert "Issuer                    : CN=Moot Test Root (self-signed)" in out
    assert "CA                        : yes" in out
    assert "Status                    : valid (" in out


def test_inspect_leaf_key_and_csr(datadir: DataDir, ca: Path) -> None:
    upload(datadir, ca, "leaf.key", "leaf.crt", "leaf.csr")
    crt = ok(datadir, "pki inspect leaf.crt")
    assert "Subject alternative names : DNS:localhost, IP:127.0.0.1" in crt
    assert "Public key                : EC P-256 (secp256r1)" in crt
    assert "Matching key files        : leaf.key" in crt
    assert "Not after" in crt and "Not before" in crt
    key = ok(datadir, "pki inspect leaf.key")
    assert "Type               : private key, EC P-256 (secp256r1)" in key
    assert "Matching files     : leaf.crt leaf.csr" in key
    csr = ok(datadir, "pki inspect leaf.csr")
    assert "Certificate signing request" in csr and "Signature                 : valid" in csr


def test_inspect_der_and_encrypted_files_made_by_openssl(datadir: DataDir, ca: Path) -> None:
    files = datadir.files
    openssl("x509", "-in", str(ca / "leaf.crt"), "-outform", "DER", "-out", "leaf.der", cwd=files)
    openssl("pkey", "-in", str(ca / "leaf.key"), "-aes256", "-passout", "pass:secret",
            "-out", "locked.key", cwd=files)
    out = ok(datadir, "pki inspect leaf.der")
    assert "Subject                   : CN=localhost" in out
    assert "leaf.der" in ok(datadir, "pki list") and "locked.key" in ok(datadir, "pki list")
    assert "encrypted with a passphrase" in ok(datadir, "pki inspect locked.key")
    upload(datadir, ca, "leaf.crt")
    line = fails(datadir, "pki match locked.key leaf.crt")
    assert "not an unencrypted private key" in line
    with pytest.raises(PkiError, match="protected by a passphrase"):
        check_pair(files, "locked.key", "leaf.der", None)


def test_inspect_and_match_bad_files(datadir: DataDir, ca: Path) -> None:
    upload(datadir, ca, "leaf.key", "root.crt", "leaf.crt")
    (datadir.files / "garbage.crt").write_text(
        "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n"
    )
    assert "PEM block 1 (CERTIFICATE) is damaged" in fails(datadir, "pki inspect garbage.crt")
    assert "missing.crt not found in the file store" in fails(datadir, "pki inspect missing.crt")
    assert "not a file name" in fails(datadir, "pki inspect ../config.db")
    assert "not a file name" in fails(datadir, "pki match ../config.db leaf.crt")
    line = fails(datadir, "pki match leaf.key root.crt")
    assert "key leaf.key does not match certificate root.crt" in line
    assert "is not an unencrypted private key" in fails(datadir, "pki match root.crt leaf.key")
    assert "damaged" in fails(datadir, "pki match leaf.key garbage.crt")
    assert "SUCCESS: key leaf.key matches certificate leaf.crt" in ok(
        datadir, "pki match leaf.key leaf.crt"
    )


# --- pki verify against an openssl-made chain -----------------------------------------


def test_verify_chain_agrees_with_openssl(datadir: DataDir, ca: Path) -> None:
    upload(datadir, ca, "leaf.crt", "bundle.crt", "fullchain.crt", "inter.crt",
           "impostor-bundle.crt", "root.crt")
    files = datadir.files
    openssl("verify", "-CAfile", "root.crt", "-untrusted", "inter.crt", "leaf.crt", cwd=files)

    out = ok(datadir, "pki verify leaf.crt bundle.crt")
    assert "SUCCESS: leaf.crt verified: chain of 3 certificates up to CN=Moot Test Root" in out
    subjects = re.findall(r"^Subject\s+: (.*)$", out, re.M)
    assert subjects == ["CN=localhost", "CN=Moot Test Intermediate", "CN=Moot Test Root"]

    assert "chain of 3" in ok(datadir, "pki verify fullchain.crt")
    assert "self-signed" in ok(datadir, "pki verify root.crt")

    line = fails(datadir, "pki verify leaf.crt inter.crt")
    assert "incomplete chain: no certificate for the issuer CN=Moot Test Root" in line
    assert openssl("verify", "-CAfile", "inter.crt", "leaf.crt", cwd=files, check=False).returncode

    line = fails(datadir, "pki verify leaf.crt impostor-bundle.crt")
    assert "signature does not verify" in line
    wrong = openssl("verify", "-CAfile", "impostor-root.crt", "-untrusted", "inter.crt",
                    "leaf.crt", cwd=ca, check=False)
    assert wrong.returncode != 0

    assert "missing.crt not found" in fails(datadir, "pki verify leaf.crt missing.crt")
    assert "not a file name" in fails(datadir, "pki verify leaf.crt ../bundle.crt")


def test_verify_rejects_a_leaf_used_as_ca(datadir: DataDir, ca: Path, tmp_path: Path) -> None:
    """A certificate signed by a leaf (CA:FALSE) fails in pki verify as in openssl verify."""
    for name in ("leaf.key", "leaf.crt"):
        (tmp_path / name).write_bytes((ca / name).read_bytes())
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "sub.key", "-out", "sub.csr",
            "-subj", "/CN=sub.localhost", cwd=tmp_path)
    sign(tmp_path, "sub.csr", "leaf", "sub", "basicConstraints=CA:FALSE\n")
    (tmp_path / "sub-bundle.crt").write_text(
        (ca / "leaf.crt").read_text() + (ca / "bundle.crt").read_text()
    )
    upload(datadir, tmp_path, "sub.crt", "sub-bundle.crt")
    assert "is not a CA" in fails(datadir, "pki verify sub.crt sub-bundle.crt")
    assert openssl("verify", "-CAfile", str(ca / "root.crt"), "-untrusted", "sub-bundle.crt",
                   "sub.crt", cwd=tmp_path, check=False).returncode != 0


# --- the round trip: CSR from the MMP, signed by the CA, served over TLS ---------------


async def test_csr_signed_by_ca_is_usable_for_tls(datadir: DataDir, ca: Path) -> None:
    ok(datadir, "pki csr tls CN:localhost subjectAltName:127.0.0.1")
    files = datadir.files
    (ca / "tls.csr").write_bytes((files / "tls.csr").read_bytes())
    sign(ca, "tls.csr", "inter", "tls", "basicConstraints=CA:FALSE\n", copy=True)
    upload(datadir, ca, "tls.crt", "bundle.crt", "inter.crt")
    (files / "cabundle.crt").write_bytes((ca / "inter.crt").read_bytes())

    assert "SUCCESS" in ok(datadir, "pki match tls.key tls.crt")
    assert "chain of 3" in ok(datadir, "pki verify tls.crt bundle.crt")
    check_pair(files, "tls.key", "tls.crt", "cabundle.crt")
    with pytest.raises(PkiError, match="does not match"):
        check_pair(files, "tls.key", "inter.crt", None)

    context = server_ssl_context(files / "tls.key", files / "tls.crt", files / "cabundle.crt")

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"hello\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=context)
    port = server.sockets[0].getsockname()[1]
    try:
        proc = await asyncio.create_subprocess_exec(
            "openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-CAfile",
            str(ca / "root.crt"), "-verify_return_error", "-verify_ip", "127.0.0.1",
            "-showcerts", stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        stdout, _ = await asyncio.wait_for(proc.communicate(), 30)
        text = stdout.decode()
        assert "Verify return code: 0 (ok)" in text, text
        # The server sends its certificate and the intermediate from the bundle.
        assert text.count("-----BEGIN CERTIFICATE-----") == 2
        assert re.search(r"New, TLSv1\.[23], Cipher", text)

        client = ssl.create_default_context(cafile=str(ca / "root.crt"))
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=client, server_hostname="127.0.0.1"
        )
        assert await reader.readline() == b"hello\n"
        writer.close()
    finally:
        server.close()
        await server.wait_closed()


# --- pki unlink -----------------------------------------------------------------------


def test_unlink_deletes_and_refuses_configured_files(datadir: DataDir, ca: Path) -> None:
    upload(datadir, ca, "leaf.key", "leaf.crt", "bundle.crt", "root.crt")
    store, _, _ = config_of(datadir)
    try:
        store.set("webadmin.certs", {"key": "leaf.key", "crt": "leaf.crt", "bundle": None})
        store.set("callbridge.certs", {"key": "x.key", "crt": "x.crt", "bundle": "bundle.crt"})
    finally:
        store.close()
    line = fails(datadir, "pki unlink leaf.key")
    assert "leaf.key is in use ('webadmin certs')" in line
    assert "in use ('callbridge certs')" in fails(datadir, "pki unlink bundle.crt")
    assert (datadir.files / "leaf.key").exists() and (datadir.files / "bundle.crt").exists()

    assert "SUCCESS: root.crt deleted" in ok(datadir, "pki unlink root.crt")
    assert not (datadir.files / "root.crt").exists()
    assert "root.crt not found" in fails(datadir, "pki unlink root.crt")
    assert "not a file name" in fails(datadir, "pki unlink ../config.db")
    assert "not a file name" in fails(datadir, "pki unlink ..")
    assert datadir.config_db.exists()


# --- roles ----------------------------------------------------------------------------


def test_roles(datadir: DataDir) -> None:
    store, _, accounts = config_of(datadir)
    try:
        for name, role in (("keeper", "crypto"), ("auditor", "audit")):
            accounts.add(name, role, "First-Pass1!")
            accounts.set_password(name, "Second-Pass2!", by_self=True)
    finally:
        store.close()
    ok(datadir, "pki csr c CN:c.example", user="keeper")
    ok(datadir, "pki unlink c.csr", user="keeper")
    assert "c.key" in ok(datadir, "pki list", user="auditor")
    ok(datadir, "pki inspect c.key", user="auditor")
    assert "permission denied" in fails(datadir, "pki csr d CN:d.example", user="auditor")
    assert "permission denied" in fails(datadir, "pki unlink c.key", user="auditor")
    assert "permission denied" in fails(datadir, "pki selfsigned d", user="auditor")
    assert not (datadir.files / "d.key").exists()
