"""SIP and SIPS URIs (RFC 3261 section 19.1) and tel URIs (RFC 3966).

``sip:user:password@host:port;uri-parameters?headers``. Parameters keep their order
and case of value; parameter names compare case-insensitively (stored lower-case).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import quote, unquote

#: Longest URI accepted anywhere (a request line, a name-address).
MAX_URI_LENGTH = 2048
_HOST = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)$")
_USER_SAFE = "-_.!~*'()&=+$,;?/"


class UriError(ValueError):
    """A URI that cannot be parsed; the text says what is wrong."""


@dataclass
class SipUri:
    scheme: str = "sip"
    user: str | None = None
    host: str = ""
    port: int | None = None
    password: str | None = None
    params: dict[str, str | None] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> SipUri:
        text = text.strip()
        if len(text) > MAX_URI_LENGTH:
            raise UriError(f"URI longer than {MAX_URI_LENGTH} characters")
        scheme, sep, rest = text.partition(":")
        scheme = scheme.lower()
        if not sep or scheme not in ("sip", "sips", "tel"):
            raise UriError(f"unsupported URI scheme in {text[:80]!r}")
        if scheme == "tel":
            number, _, params = rest.partition(";")
            if not number:
                raise UriError("tel URI without a number")
            return cls(scheme="tel", user=unquote(number), host="", params=_params(params))
        rest, _, hdrs = rest.partition("?")
        userinfo, at, hostpart = rest.rpartition("@")
        if not at:
            userinfo, hostpart = "", rest
        hostport, _, params = hostpart.partition(";")
        user: str | None = None
        password: str | None = None
        if at:
            user_text, colon, pw = userinfo.partition(":")
            if not user_text:
                raise UriError("empty user part before '@'")
            user = unquote(user_text)
            password = unquote(pw) if colon else None
        host, port = _host_port(hostport)
        headers: dict[str, str] = {}
        for item in filter(None, hdrs.split("&")):
            name, _, value = item.partition("=")
            headers[unquote(name)] = unquote(value)
        return cls(scheme, user, host, port, password, _params(params), headers)

    @property
    def transport(self) -> str:
        """The transport parameter, lower-case ("udp" when absent, "tls" for sips)."""
        value = self.params.get("transport")
        if value:
            return value.lower()
        return "tls" if self.scheme == "sips" else "udp"

    @property
    def address_of_record(self) -> str:
        """``user@host`` (or ``host``) without port or parameters: what dial plans match."""
        return f"{self.user}@{self.host}" if self.user is not None else self.host

    def __str__(self) -> str:
        if self.scheme == "tel":
            return "tel:" + (self.user or "") + _format_params(self.params)
        out = self.scheme + ":"
        if self.user is not None:
            out += quote(self.user, safe=_USER_SAFE)
            if self.password is not None:
                out += ":" + quote(self.password, safe=_USER_SAFE)
            out += "@"
        out += self.host
        if self.port is not None:
            out += f":{self.port}"
        out += _format_params(self.params)
        if self.headers:
            out += "?" + "&".join(f"{quote(k)}={quote(v)}" for k, v in self.headers.items())
        return out


def _host_port(text: str) -> tuple[str, int | None]:
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise UriError("unterminated IPv6 reference")
        host, rest = text[: end + 1], text[end + 1 :]
        port_text = rest[1:] if rest.startswith(":") else None
        if rest and port_text is None:
            raise UriError(f"unexpected text after host: {rest[:40]!r}")
    else:
        host, colon, port_text_ = text.partition(":")
        port_text = port_text_ if colon else None
    if not host or not _HOST.match(host):
        raise UriError(f"invalid host {host[:80]!r}")
    port: int | None = None
    if port_text is not None:
        if not port_text.isascii() or not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise UriError(f"invalid port {port_text[:20]!r}")
        port = int(port_text)
    return host.lower(), port


def _params(text: str) -> dict[str, str | None]:
    params: dict[str, str | None] = {}
    for item in filter(None, (p.strip() for p in text.split(";"))):
        name, eq, value = item.partition("=")
        params[name.strip().lower()] = value.strip() if eq else None
    return params


def _format_params(params: dict[str, str | None]) -> str:
    return "".join(f";{k}" if v is None else f";{k}={v}" for k, v in params.items())


def parse_host_port(text: str) -> tuple[str, int | None]:
    """``host[:port]`` as found in Via sent-by and elsewhere."""
    return _host_port(text.strip())
