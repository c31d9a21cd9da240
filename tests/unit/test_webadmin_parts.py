"""Web admin parts without sockets: plain HTTP answers, sessions, rendering, default certificate."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography import x509

from moot.node.accounts import PasswordRules
from moot.node.context import NodeContext
from moot.node.datadir import DataDir
from moot.node.sessions import Sessions
from moot.node.settings import WEBADMIN_CERTS
from moot.pki import make_selfsigned
from moot.pki.material import load_certificates
from moot.webadmin import tlsfiles
from moot.webadmin.auth import describe_rules
from moot.webadmin.pages import component_titles, format_duration
from moot.webadmin.plainhttp import HttpsAddress, reply
from moot.webadmin.render import Markup, escape, render
from moot.webadmin.sessions import SessionStore, same_token

HTTPS = HttpsAddress("127.0.0.1", 8443)


def _status_and_headers(data: bytes) -> tuple[str, dict[str, str], str]:
    head, _, body = data.decode().partition("\r\n\r\n")
    lines = head.split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return lines[0], headers, body


# plain HTTP ------------------------------------------------------------------


def test_plain_http_is_refused_with_the_https_address() -> None:
    status, headers, body = _status_and_headers(
        reply(b"GET /x HTTP/1.1\r\nHost: admin.example.com:8443\r\n\r\n", HTTPS, redirect=False)
    )
    assert status == "HTTP/1.1 400 Bad Request"
    assert "Location" not in headers
    assert "https://admin.example.com:8443/" in body
    assert headers["Content-Length"] == str(len(body.encode()))
    assert headers["Connection"] == "close"


@pytest.mark.parametrize(
    ("request_line", "host", "location"),
    [
        (
            "GET /configuration?a=1 HTTP/1.1",
            "admin.example.com:8443",
            "https://admin.example.com:8443/configuration?a=1",
        ),
        ("GET / HTTP/1.0", None, "https://127.0.0.1:8443/"),
        ("GET http://h.example/p/q HTTP/1.1", "h.example", "https://h.example:8443/p/q"),
        ("GET /x HTTP/1.1", "[::1]:8443", "https://[::1]:8443/x"),
        # Hosts that are not host names fall back to the listening address.
        ("GET /x HTTP/1.1", "evil.example/x?", "https://127.0.0.1:8443/x"),
        ("GET /x HTTP/1.1", "user@evil.example", "https://127.0.0.1:8443/x"),
        ("GET /x HTTP/1.1", "bad host", "https://127.0.0.1:8443/x"),
        ("GET //evil.example/ HTTP/1.1", "h.example", "https://h.example:8443//evil.example/"),
        ("GET /\x7fz HTTP/1.1", "h.example", "https://h.example:8443/"),
    ],
)
def test_redirect_location(request_line: str, host: str | None, location: str) -> None:
    head = request_line + "\r\n" + (f"Host: {host}\r\n" if host else "") + "\r\n"
    status, headers, _ = _status_and_headers(reply(head.encode("latin-1"), HTTPS, redirect=True))
    assert status == "HTTP/1.1 301 Moved Permanently"
    assert headers["Location"] == location


def test_redirect_to_port_443_leaves_the_port_out() -> None:
    data = reply(b"GET /a HTTP/1.1\r\nHost: h.example\r\n\r\n", HttpsAddress("10.0.0.1", 443), True)
    assert _status_and_headers(data)[1]["Location"] == "https://h.example/a"


@pytest.mark.parametrize("head", [b"", b"\x00\x01garbage", b"SSH-2.0-OpenSSH\r\n\r\n"])
def test_non_http_gets_400_even_with_redirect(head: bytes) -> None:
    assert reply(head, HTTPS, redirect=True).startswith(b"HTTP/1.1 400 ")


# sessions --------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_session_is_registered_and_ends_after_idle_time() -> None:
    registry, clock = Sessions(), FakeClock()
    store = SessionStore(registry, idle_timeout=60, clock=clock)
    s = store.create("admin", "127.0.0.1:5000", must_change=False)
    assert [(x.user, x.kind, x.peer) for x in registry.all()] == [
        ("admin", "webadmin", "127.0.0.1:5000")
    ]
    clock.now += 59
    assert store.get(s.token) is s  # touching resets the idle timer
    clock.now += 59
    assert store.get(s.token) is s
    clock.now += 61
    assert store.get(s.token) is None
    assert registry.all() == []


def test_session_has_an_absolute_lifetime() -> None:
    clock = FakeClock()
    store = SessionStore(Sessions(), idle_timeout=60, max_age=100, clock=clock)
    s = store.create("admin", "p", must_change=False)
    for _ in range(3):
        clock.now += 40
        store.get(s.token)
    assert store.get(s.token) is None


def test_evict_forgets_the_token() -> None:
    registry = Sessions()
    store = SessionStore(registry, idle_timeout=60)
    a = store.create("admin", "p1", must_change=False)
    b = store.create("other", "p2", must_change=False)
    assert registry.evict("admin") == 1
    assert store.get(a.token) is None
    assert store.get(b.token) is b
    assert [x.user for x in registry.all()] == ["other"]


def test_sweep_and_end_all() -> None:
    registry, clock = Sessions(), FakeClock()
    store = SessionStore(registry, idle_timeout=10, clock=clock)
    store.create("a", "p", must_change=False)
    clock.now += 5
    fresh = store.create("b", "p", must_change=False)
    clock.now += 6
    assert store.sweep() == 1
    assert len(store) == 1 and store.get(fresh.token) is fresh
    store.end_all()
    assert len(store) == 0 and registry.all() == []


def test_tokens_are_random_and_compared_safely() -> None:
    store = SessionStore(Sessions(), idle_timeout=10)
    a, b = store.create("a", "p", must_change=False), store.create("a", "p", must_change=False)
    assert a.token != b.token and a.csrf != b.csrf and len(a.token) >= 40
    assert same_token(a.csrf, a.csrf)
    assert not same_token(a.csrf, b.csrf)
    assert not same_token("", "")
    assert not same_token(None, a.csrf)
    assert store.get("") is None and store.get("nope") is None


# rendering -------------------------------------------------------------------


def test_values_are_escaped_unless_markup() -> None:
    html = render("message.html", text="<script>x</script>", kind="error", role="alert")
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert escape(Markup("<b>")) == "<b>"
    assert escape('"q"') == "&quot;q&quot;"


def test_missing_template_value_is_an_error() -> None:
    with pytest.raises(KeyError):
        render("message.html", text="x")


def test_describe_rules() -> None:
    text = describe_rules(PasswordRules(min_length=10, min_special=2, max_history=3))
    assert text == (
        "At least 10 characters, with at least 1 lower-case letter, 1 upper-case letter, "
        "1 digit and 2 special character. The last 3 passwords cannot be used again."
    )
    bare = PasswordRules(
        min_length=4, min_lowercase=0, min_uppercase=0, min_digits=0, max_history=0
    )
    assert describe_rules(bare) == "At least 4 characters."


def test_format_duration() -> None:
    assert format_duration(5) == "0 min 05 s"
    assert format_duration(3 * 3600 + 7 * 60) == "3 h 07 min"
    assert format_duration(86400 + 60) == "1 day 0 h 01 min"
    assert format_duration(-3) == "0 min 00 s"


def test_component_titles_know_the_web_admin() -> None:
    import moot.webadmin.server  # noqa: F401

    assert component_titles()["webadmin"] == "Web Admin"


# default certificate ---------------------------------------------------------


@pytest.fixture
def node(tmp_path: Path) -> NodeContext:
    return NodeContext(DataDir(tmp_path / "dd"))


def _sans(path: Path) -> list[str]:
    cert = load_certificates(path)[0]
    ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return [str(v) for v in ext.get_values_for_type(x509.DNSName)] + [
        str(v) for v in ext.get_values_for_type(x509.IPAddress)
    ]


def test_default_certificate_is_made_once_and_names_the_address(node: NodeContext) -> None:
    files = tlsfiles.tls_files(node, "127.0.0.1")
    assert files.selfsigned and files.bundle is None
    assert files.key == node.datadir.files / "webadmin-selfsigned.key"
    assert files.crt.name == "webadmin-selfsigned.crt"
    assert {"127.0.0.1", "localhost"} <= set(_sans(files.crt))
    assert files.key.stat().st_mode & 0o077 == 0
    first = files.crt.read_bytes()
    assert tlsfiles.tls_files(node, "127.0.0.1").crt.read_bytes() == first
    # Listening somewhere else: a new certificate that names the new address.
    tlsfiles.tls_files(node, "127.0.0.2")
    assert files.crt.read_bytes() != first
    assert "127.0.0.2" in _sans(files.crt)


def test_expiring_default_certificate_is_renewed(
    node: NodeContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = tlsfiles.tls_files(node, "127.0.0.1")
    old = files.crt.read_bytes()
    monkeypatch.setattr(tlsfiles, "RENEW_BEFORE", dt.timedelta(days=400))
    tlsfiles.tls_files(node, "127.0.0.1")
    assert files.crt.read_bytes() != old


def test_configured_certificates_are_used_as_named(node: NodeContext) -> None:
    store = node.datadir.files
    make_selfsigned(store / "w.key", store / "w.crt", "w.example", [])
    node.config.set(WEBADMIN_CERTS, {"key": "w.key", "crt": "w.crt", "bundle": "w.crt"})
    files = tlsfiles.tls_files(node, "127.0.0.1")
    assert (files.key, files.crt, files.bundle, files.selfsigned) == (
        store / "w.key",
        store / "w.crt",
        store / "w.crt",
        False,
    )
    assert not (store / "webadmin-selfsigned.key").exists()
    assert "bundle w.crt" in files.describe()
