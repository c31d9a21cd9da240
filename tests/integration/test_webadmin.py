"""The web admin against a running node: TLS, plain HTTP, sign-in, sessions, and the
``webadmin`` MMP commands (listen, certs, enable/disable/restart, http-redirect)."""

from __future__ import annotations

import hashlib
import re
import socket
import ssl
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import aiohttp.web
import pytest
from cryptography import x509

from moot import __version__
from moot.node.accounts import PasswordRules
from moot.node.datadir import DataDir
from moot.node.settings import (
    MMP_LISTEN,
    NODE_ID,
    WEBADMIN_CERTS,
    WEBADMIN_ENABLED,
    WEBADMIN_LISTEN,
)
from moot.webadmin.auth import SESSION_COOKIE
from tests.helpers import ADMIN_PASSWORD, Ports, RunningNode, config_of, free_port, mmp

NEW_PASSWORD = "N3w-Passw0rd!"


# helpers ---------------------------------------------------------------------


def served_der(port: int, timeout: float = 5) -> bytes:
    """The certificate the web admin presents (DER), verification off."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with (
        socket.create_connection(("127.0.0.1", port), timeout=timeout) as raw,
        ctx.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return der


def fingerprint(der: bytes) -> str:
    return hashlib.sha256(der).hexdigest()


def file_fingerprint(path: Path) -> str:
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    from cryptography.hazmat.primitives.serialization import Encoding

    return fingerprint(cert.public_bytes(Encoding.DER))


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def openssl_pair(store: Path, name: str, cn: str = "moot-test") -> None:
    """``name.key`` and ``name.crt`` in the file store, made by the openssl CLI."""
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-keyout",
            str(store / f"{name}.key"),
            "-out",
            str(store / f"{name}.crt"),
            "-subj",
            f"/CN={cn}",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )


def table(output: str) -> dict[str, str]:
    rows = {}
    for line in output.splitlines():
        key, sep, value = line.partition(" : ")
        if sep:
            rows[key.strip()] = value.strip()
    return rows


def add_account(dd: DataDir, name: str, role: str, *, must_change: bool) -> None:
    store, _, accounts = config_of(dd)
    try:
        accounts.add(name, role, ADMIN_PASSWORD)
        if not must_change:
            accounts.set_password(name, NEW_PASSWORD, by_self=True)
    finally:
        store.close()


@dataclass
class Page:
    status: int
    text: str
    headers: dict[str, str]
    location: str

    def csrf(self) -> str:
        m = re.search(r'name="csrf" value="([^"]+)"', self.text)
        assert m, self.text
        return m.group(1)


class Browser:
    """An HTTPS client with a cookie jar that does not follow redirects."""

    def __init__(self, port: int) -> None:
        self.base = f"https://127.0.0.1:{port}"
        self.http = aiohttp.ClientSession(
            cookie_jar=aiohttp.CookieJar(unsafe=True),
            connector=aiohttp.TCPConnector(ssl=False),
        )
        self.set_cookies: list[str] = []

    async def request(self, method: str, path: str, data: dict[str, str] | None = None) -> Page:
        async with self.http.request(
            method, self.base + path, data=data, allow_redirects=False
        ) as r:
            self.set_cookies += r.headers.getall("Set-Cookie", [])
            return Page(r.status, await r.text(), dict(r.headers), r.headers.get("Location", ""))

    async def get(self, path: str) -> Page:
        return await self.request("GET", path)

    async def post(self, path: str, data: dict[str, str]) -> Page:
        return await self.request("POST", path, data)

    async def login(self, user: str = "admin", password: str = ADMIN_PASSWORD) -> Page:
        form = await self.get("/login")
        return await self.post(
            "/login", {"username": user, "password": password, "csrf": form.csrf()}
        )

    def cookie(self, name: str) -> str | None:
        for c in self.http.cookie_jar:
            if c.key == name:
                return c.value
        return None


@pytest.fixture
async def browser(node: RunningNode) -> AsyncIterator[Browser]:
    b = Browser(node.ports.https)
    try:
        yield b
    finally:
        await b.http.close()


# TLS and plain HTTP ----------------------------------------------------------


def test_node_starts_fast_with_the_web_admin_listening(node: RunningNode) -> None:
    ready = node.wait_for(r"^ready in")
    assert float(ready.split()[2]) < 2.0, ready
    assert f"webadmin: listening on https 127.0.0.1:{node.ports.https}" in node.output


def test_default_certificate_is_self_signed_for_this_host(node: RunningNode) -> None:
    crt = node.datadir.files / "webadmin-selfsigned.crt"
    assert (node.datadir.files / "webadmin-selfsigned.key").exists()
    der = served_der(node.ports.https)
    assert fingerprint(der) == file_fingerprint(crt)
    cert = x509.load_der_x509_certificate(der)
    assert cert.subject == cert.issuer
    cn = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value
    assert cn == socket.gethostname()
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {"localhost", socket.gethostname()} <= set(sans.get_values_for_type(x509.DNSName))
    assert "127.0.0.1" in {str(ip) for ip in sans.get_values_for_type(x509.IPAddress)}


def test_openssl_verifies_the_served_certificate_for_127_0_0_1(node: RunningNode) -> None:
    crt = node.datadir.files / "webadmin-selfsigned.crt"
    out = subprocess.run(
        [
            "openssl",
            "s_client",
            "-connect",
            f"127.0.0.1:{node.ports.https}",
            "-CAfile",
            str(crt),
            "-verify_ip",
            "127.0.0.1",
            "-verify_return_error",
        ],
        input="",
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert "Verify return code: 0 (ok)" in out.stdout, out.stdout + out.stderr
    assert re.search(r"New, TLSv1\.[23]", out.stdout), out.stdout


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1_1 is deprecated")
def test_old_tls_versions_are_refused(node: RunningNode) -> None:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    with (
        socket.create_connection(("127.0.0.1", node.ports.https), timeout=5) as raw,
        pytest.raises((ssl.SSLError, ConnectionError)),
    ):
        ctx.wrap_socket(raw)


def _plain_get(port: int, path: str) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(4096):
            data += chunk
    return data


def test_plain_http_is_refused_and_serves_nothing(node: RunningNode) -> None:
    port = node.ports.https
    data = _plain_get(port, "/login")
    assert data.startswith(b"HTTP/1.1 400 ")
    assert f"https://127.0.0.1:{port}/".encode() in data
    assert b"<html" not in data.lower() and b"Location:" not in data
    # curl as an operator would type it
    out = subprocess.run(
        ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", f"http://127.0.0.1:{port}/"],
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert out.stdout == "400"
    # HTTPS still works on the same port afterwards
    served_der(port)


def test_http_redirect_when_enabled(node: RunningNode) -> None:
    port = node.ports.https
    assert node.mmp("webadmin http-redirect enable").stdout.startswith("SUCCESS")
    assert _plain_get(port, "/x").startswith(b"HTTP/1.1 400 ")  # not before the restart
    assert node.mmp("webadmin restart").returncode == 0
    out = subprocess.run(
        [
            "curl",
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code} %{redirect_url}",
            f"http://127.0.0.1:{port}/configuration?a=1",
        ],
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert out.stdout == f"301 https://127.0.0.1:{port}/configuration?a=1"
    # following it lands on the HTTPS sign-in page
    out = subprocess.run(
        ["curl", "-skL", f"http://127.0.0.1:{port}/"], capture_output=True, text=True, timeout=20
    )
    assert 'action="/login"' in out.stdout
    assert table(node.mmp("webadmin").stdout)["HTTP redirect"] == "Enabled"


def test_silent_and_garbage_connections_do_not_hurt(node: RunningNode) -> None:
    port = node.ports.https
    silent = socket.create_connection(("127.0.0.1", port), timeout=5)
    garbage = socket.create_connection(("127.0.0.1", port), timeout=5)
    garbage.sendall(b"\x16\x03\x01\x00\x05hello")  # a broken ClientHello
    assert garbage.recv(100) is not None
    served_der(port)
    silent.close()
    garbage.close()


# sign-in, pages, sessions ----------------------------------------------------


async def test_sign_in_shows_the_status_page(node: RunningNode, browser: Browser) -> None:
    first = await browser.get("/")
    assert first.status == 303 and first.location == "/login"
    page = await browser.login()
    assert page.status == 303 and page.location == "/"
    cookie = next(c for c in browser.set_cookies if c.startswith(f"{SESSION_COOKIE}="))
    for attr in ("Secure", "HttpOnly", "SameSite=Strict", "Path=/"):
        assert attr in cookie
    status = await browser.get("/")
    assert status.status == 200
    text = status.text
    assert f"Moot {__version__}" in text
    node_id = config_of(node.datadir)[1].get(NODE_ID)
    assert node_id in text
    assert "This server is currently unlicensed" in text
    assert f"https 127.0.0.1:{node.ports.https}" in text
    for name in ("webadmin", "callbridge", "mmp"):
        assert f'<span class="comp-name">{name}</span>' in text
    assert "badge-running" in text
    assert re.search(r"Uptime</dt><dd>\d+ min \d\d s", text)
    for path, words in (
        ("/configuration", "Nothing to configure here yet"),
        ("/configuration/api", "API explorer"),
    ):
        page = await browser.get(path)
        assert page.status == 200 and words in page.text
    missing = await browser.get("/no-such-page")
    assert missing.status == 404 and "Page not found" in missing.text


async def test_security_headers(node: RunningNode, browser: Browser) -> None:
    await browser.login()
    for path in ("/login", "/", "/configuration"):
        h = (await browser.get(path)).headers
        assert h["Strict-Transport-Security"].startswith("max-age=")
        assert "default-src 'self'" in h["Content-Security-Policy"]
        assert h["X-Frame-Options"] == "DENY"
        assert h["X-Content-Type-Options"] == "nosniff"
        assert h["Cache-Control"] == "no-store"
        assert "aiohttp" not in h.get("Server", "").lower()
    css = await browser.get("/static/webadmin.css")
    assert css.status == 200 and css.headers["Content-Type"].startswith("text/css")


async def test_wrong_password_is_refused_and_logged_without_it(
    node: RunningNode, browser: Browser
) -> None:
    page = await browser.login(password="Wr0ng-Secret!")
    assert page.status == 401 and "Wrong user name or password" in page.text
    assert browser.cookie(SESSION_COOKIE) is None
    assert (await browser.get("/")).status == 303
    unknown = await browser.login(user="nobody", password="Wr0ng-Secret!")
    assert unknown.status == 401 and "Wrong user name or password" in unknown.text
    syslog = node.datadir.syslog.read_text()
    assert "sign-in failed for 'admin' from 127.0.0.1:" in syslog
    assert "Wr0ng-Secret!" not in syslog


async def test_lockout_after_failed_sign_ins(node: RunningNode, browser: Browser) -> None:
    store, _, accounts = config_of(node.datadir)
    accounts.set_rules(PasswordRules(max_failed_logins=3))
    store.close()
    for _ in range(3):
        assert (await browser.login(password="Wr0ng-Secret!")).status == 401
    page = await browser.login()  # the right password, too late
    assert page.status == 403 and "This account is locked" in page.text
    assert browser.cookie(SESSION_COOKIE) is None
    assert "locked" in node.mmp("user info admin").stdout


async def test_must_change_password_first(node: RunningNode, browser: Browser) -> None:
    add_account(node.datadir, "alice", "admin", must_change=True)
    page = await browser.login("alice", ADMIN_PASSWORD)
    assert page.status == 303 and page.location == "/password"
    for path in ("/", "/configuration", "/configuration/api"):
        assert (await browser.get(path)).location == "/password"
    form = await browser.get("/password")
    assert form.status == 200 and "You must choose a new password" in form.text
    assert 'name="current_password"' not in form.text
    token = form.csrf()
    mismatch = await browser.post(
        "/password", {"csrf": token, "new_password": NEW_PASSWORD, "confirm_password": "x"}
    )
    assert mismatch.status == 400 and "do not match" in mismatch.text
    weak = await browser.post(
        "/password", {"csrf": token, "new_password": "short", "confirm_password": "short"}
    )
    assert weak.status == 400 and "at least 8 characters" in weak.text
    assert (await browser.get("/")).location == "/password"
    done = await browser.post(
        "/password",
        {"csrf": token, "new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD},
    )
    assert done.status == 303 and done.location.startswith("/?")
    status = await browser.get(done.location)
    assert status.status == 200 and "Your password has been changed" in status.text
    # The new password works; the old one does not.
    other = Browser(node.ports.https)
    try:
        assert (await other.login("alice", ADMIN_PASSWORD)).status == 401
        assert (await other.login("alice", NEW_PASSWORD)).location == "/"
    finally:
        await other.http.close()


async def test_voluntary_password_change_needs_the_current_password(
    node: RunningNode, browser: Browser
) -> None:
    await browser.login()
    form = await browser.get("/password")
    assert 'name="current_password"' in form.text
    data = {"csrf": form.csrf(), "new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD}
    bad = await browser.post("/password", {**data, "current_password": "nope"})
    assert bad.status == 403 and "current password is not correct" in bad.text
    ok = await browser.post("/password", {**data, "current_password": ADMIN_PASSWORD})
    assert ok.status == 303


async def test_csrf_token_is_required(node: RunningNode, browser: Browser) -> None:
    # Sign-in form without its token
    await browser.get("/login")
    page = await browser.post("/login", {"username": "admin", "password": ADMIN_PASSWORD})
    assert page.status == 403 and browser.cookie(SESSION_COOKIE) is None
    await browser.login()
    assert (await browser.get("/")).status == 200
    for data in ({}, {"csrf": "forged"}):
        refused_post = await browser.post("/logout", data)
        assert refused_post.status == 403 and "This form has expired" in refused_post.text
        assert (await browser.get("/")).status == 200  # still signed in
    token = (await browser.get("/")).csrf()
    out = await browser.post("/logout", {"csrf": token})
    assert out.status == 303 and out.location.startswith("/login")
    assert (await browser.get("/")).location == "/login"
    assert "You have signed out" in (await browser.get(out.location)).text


async def test_evict_ends_the_web_session_now(node: RunningNode, browser: Browser) -> None:
    await browser.login()
    assert "webadmin from 127.0.0.1:" in node.mmp("user info admin").stdout
    result = node.mmp("user evict admin")
    assert result.stdout.startswith("SUCCESS: 1 session(s)"), result.stdout
    page = await browser.get("/")
    assert page.status == 303 and page.location == "/login"
    assert "Sessions" in (info := node.mmp("user info admin").stdout) and "webadmin" not in info


async def test_api_and_other_roles_may_not_sign_in(node: RunningNode, browser: Browser) -> None:
    for name, role in (("apiuser", "api"), ("auditor", "audit")):
        add_account(node.datadir, name, role, must_change=False)
        page = await browser.login(name, NEW_PASSWORD)
        assert page.status == 403 and "only accounts of role admin" in page.text
        assert browser.cookie(SESSION_COOKIE) is None


async def test_sessions_end_when_the_web_admin_restarts(
    node: RunningNode, browser: Browser
) -> None:
    await browser.login()
    assert node.mmp("webadmin restart").returncode == 0
    assert (await browser.get("/")).location == "/login"


# webadmin MMP commands -------------------------------------------------------


def test_status_without_a_node(datadir: DataDir) -> None:
    out = mmp(datadir, "webadmin")
    assert out.returncode == 0
    rows = table(out.stdout)
    assert rows == {
        "Enabled": "true",
        "TLS listening interface": "a",
        "TLS listening port": str(config_of(datadir)[1].get(WEBADMIN_LISTEN)["port"]),
        "Key file": "none (self-signed default)",
        "Certificate file": "none (self-signed default)",
        "HTTP redirect": "Disabled",
        "STATUS": "webadmin not running (the node is not running)",
    }
    # keys padded to one column
    assert len({line.index(" : ") for line in out.stdout.splitlines()}) == 1


def test_changes_without_a_node_take_effect_at_start(datadir: DataDir) -> None:
    out = mmp(datadir, "webadmin disable")
    assert out.stdout.strip() == "SUCCESS: web admin disabled; it stays off when the node starts"
    out = mmp(datadir, "webadmin restart")
    assert out.returncode == 0 and "disabled" in out.stdout
    out = mmp(datadir, "webadmin enable")
    assert out.stdout.strip() == "SUCCESS: web admin enabled; it starts when the node starts"


def test_certs_change_the_served_certificate(node: RunningNode) -> None:
    store, port = node.datadir.files, node.ports.https
    before = fingerprint(served_der(port))
    openssl_pair(store, "wa")
    out = node.mmp("webadmin certs wa.key wa.crt")
    assert (
        out.stdout.strip() == "SUCCESS: web admin certificates set; apply with 'webadmin restart'"
    )
    assert fingerprint(served_der(port)) == before  # only on restart
    out = node.mmp("webadmin restart")
    assert out.stdout.strip() == "SUCCESS: webadmin restarted", out.stdout
    assert fingerprint(served_der(port)) == file_fingerprint(store / "wa.crt") != before
    rows = table(node.mmp("webadmin").stdout)
    assert (rows["Key file"], rows["Certificate file"]) == ("wa.key", "wa.crt")
    assert rows["STATUS"] == "webadmin running"
    assert "CA Bundle file" not in rows
    # with a bundle, then back to the default
    openssl_pair(store, "ca", cn="moot-test-ca")
    assert node.mmp("webadmin certs wa.key wa.crt ca.crt").returncode == 0
    assert table(node.mmp("webadmin").stdout)["CA Bundle file"] == "ca.crt"
    assert node.mmp("webadmin restart").returncode == 0
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        ctx = ssl.create_default_context(cafile=str(store / "ca.crt"))
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        with ctx.wrap_socket(raw) as tls:
            assert tls.version() is not None
    assert node.mmp("webadmin certs none").stdout.startswith("SUCCESS")
    assert node.mmp("webadmin restart").returncode == 0
    assert fingerprint(served_der(port)) == before


def test_bad_certs_fail_and_change_nothing(node: RunningNode) -> None:
    store, port = node.datadir.files, node.ports.https
    openssl_pair(store, "one")
    openssl_pair(store, "two")
    (store / "garbage.crt").write_text(
        "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n"
    )
    before_status = node.mmp("webadmin").stdout
    before_cert = fingerprint(served_der(port))
    for args, words in (
        ("one.key two.crt", "does not match"),
        ("one.key garbage.crt", "garbage.crt"),
        ("one.key missing.crt", "not found"),
        ("one.key one.crt missing.crt", "not found"),
        ("../one.key one.crt", "file name"),
    ):
        out = node.mmp(f"webadmin certs {args}")
        assert out.returncode != 0, args
        assert out.stdout.startswith("FAILURE:") and words in out.stdout, out.stdout
    assert node.mmp("webadmin").stdout == before_status
    assert node.mmp("webadmin restart").returncode == 0
    assert fingerprint(served_der(port)) == before_cert


def test_guide_order_disable_certs_restart_enable(node: RunningNode) -> None:
    store, port = node.datadir.files, node.ports.https
    openssl_pair(store, "webadmin")
    out = node.mmp("webadmin disable")
    assert out.stdout.strip() == "SUCCESS: web admin disabled"
    assert refused(port)
    assert table(node.mmp("webadmin").stdout)["STATUS"] == "webadmin disabled"
    assert node.mmp("webadmin certs webadmin.key webadmin.crt").returncode == 0
    out = node.mmp("webadmin restart")
    assert out.returncode == 0 and out.stdout.startswith("SUCCESS")
    assert refused(port)
    out = node.mmp("webadmin enable")
    assert out.stdout.strip() == "SUCCESS: web admin enabled"
    assert fingerprint(served_der(port)) == file_fingerprint(store / "webadmin.crt")
    rows = table(node.mmp("webadmin").stdout)
    assert (rows["Enabled"], rows["STATUS"]) == ("true", "webadmin running")


def test_listen_moves_the_web_admin(node: RunningNode) -> None:
    old, new = node.ports.https, free_port()
    out = node.mmp(f"webadmin listen a {new}")
    assert (
        out.stdout.strip()
        == f"SUCCESS: web admin will listen on a:{new}; apply with 'webadmin restart'"
    )
    served_der(old)
    assert node.mmp("webadmin restart").returncode == 0
    assert refused(old)
    served_der(new)
    assert table(node.mmp("webadmin").stdout)["TLS listening port"] == str(new)


@pytest.mark.parametrize(
    ("command", "words"),
    [
        ("webadmin listen a 0", "invalid port"),
        ("webadmin listen a 70000", "invalid port"),
        ("webadmin listen a http", "invalid port"),
        ("webadmin listen e 8443", "Usage"),
        ("webadmin http-redirect maybe", "Usage"),
    ],
)
def test_bad_listen_arguments_fail(datadir: DataDir, command: str, words: str) -> None:
    before = mmp(datadir, "webadmin").stdout
    out = mmp(datadir, command)
    assert out.returncode != 0 and out.stdout.startswith("FAILURE") and words in out.stdout
    assert mmp(datadir, "webadmin").stdout == before


def test_listen_refuses_a_port_another_listener_uses(datadir: DataDir) -> None:
    _, config, _ = config_of(datadir)
    ssh_port = config.get(MMP_LISTEN)["port"]
    out = mmp(datadir, f"webadmin listen a {ssh_port}")
    assert out.returncode != 0 and "used by the MMP's SSH listener" in out.stdout


def test_enable_that_cannot_start_fails_and_stays_disabled(node: RunningNode) -> None:
    port = node.ports.https
    assert node.mmp("webadmin disable").returncode == 0
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", port))
        blocker.listen()
        out = node.mmp("webadmin enable")
        assert out.returncode != 0 and out.stdout.startswith("FAILURE:")
        assert "cannot listen on 127.0.0.1" in out.stdout and "stays disabled" in out.stdout
        _, config, _ = config_of(node.datadir)
        assert config.get(WEBADMIN_ENABLED) is False
    assert node.mmp("webadmin enable").returncode == 0
    served_der(port)


def test_roles_read_may_look_but_not_change(node: RunningNode) -> None:
    add_account(node.datadir, "auditor", "audit", must_change=False)
    assert node.mmp("webadmin", user="auditor").returncode == 0
    out = node.mmp("webadmin disable", user="auditor")
    assert out.returncode != 0 and "permission denied" in out.stdout
    _, config, _ = config_of(node.datadir)
    assert config.get(WEBADMIN_ENABLED) is True
    assert config.get(WEBADMIN_CERTS) is None
    served_der(node.ports.https)


# the mount point for the REST API ---------------------------------------------


async def test_api_prefix_authenticates_on_its_own(tmp_path: Path) -> None:
    """``/api/v1`` skips the sign-in redirect and form CSRF check; ``session_user``
    accepts a web session, for changes only with the CSRF header."""
    from aiohttp.test_utils import TestClient, TestServer

    from moot.node.context import NodeContext
    from moot.node.sessions import Sessions
    from moot.webadmin.app import build_app
    from moot.webadmin.auth import session_user
    from moot.webadmin.sessions import SessionStore

    node = NodeContext(DataDir(tmp_path / "dd"))
    sessions = SessionStore(Sessions(), idle_timeout=60)
    app = build_app(node, sessions)

    async def whoami(request: aiohttp.web.Request) -> aiohttp.web.Response:
        return aiohttp.web.Response(text=session_user(request) or "-")

    app.router.add_route("*", "/api/v1/whoami", whoami)
    async with TestClient(TestServer(app)) as client:
        assert await (await client.get("/api/v1/whoami")).text() == "-"
        session = sessions.create("admin", "test", must_change=False)
        cookies = {"Cookie": f"{SESSION_COOKIE}={session.token}"}
        assert await (await client.get("/api/v1/whoami", headers=cookies)).text() == "admin"
        r = await client.post("/api/v1/whoami", headers=cookies)
        assert r.status == 200 and await r.text() == "-"
        r = await client.post("/api/v1/whoami", headers={**cookies, "X-CSRF-Token": session.csrf})
        assert await r.text() == "admin"
        session.must_change = True
        assert await (await client.get("/api/v1/whoami", headers=cookies)).text() == "-"
        # Pages still need the session.
        r = await client.get("/configuration", allow_redirects=False)
        assert r.status == 303
    node.close()


async def test_api_is_served_on_the_web_admin_listener(node: RunningNode, browser: Browser) -> None:
    anonymous = await browser.get("/api/v1/coSpaces")
    assert anonymous.status == 401 and "WWW-Authenticate" in anonymous.headers
    await browser.login()
    listing = await browser.get("/api/v1/coSpaces")
    assert listing.status == 200 and listing.text.startswith('<?xml version="1.0"?><coSpaces')
    # A change with the session needs the CSRF token in a header, not just the cookie.
    forged = await browser.post("/api/v1/coSpaces", {"name": "x"})
    assert forged.status == 401
    token = (await browser.get("/")).csrf()
    async with browser.http.post(
        browser.base + "/api/v1/coSpaces", data={"name": "Web"}, headers={"X-CSRF-Token": token}
    ) as r:
        assert r.status == 200 and r.headers["Location"].startswith("/api/v1/coSpaces/")


async def test_banner_says_activation_is_needed_once_the_trial_is_over(datadir: DataDir, ports: Ports) -> None:
    import time

    from moot.node.settings import NODE_CREATED

    store, config, _ = config_of(datadir)
    try:
        config.set(NODE_CREATED, time.time() - 120 * 86400)
    finally:
        store.close()
    node = RunningNode(datadir, ports).start()
    browser = Browser(ports.https)
    try:
        await browser.login()
        text = (await browser.get("/")).text
        assert "Call Bridge requires activation" in text
        assert "This server is currently unlicensed" not in text
        assert 'class="banner banner-error" role="alert"' in text
    finally:
        await browser.http.close()
        node.stop()
