"""Plain HTTP on the HTTPS port: a redirect to https:// (``webadmin http-redirect enable``)
or a short refusal. Nothing is ever served over plain HTTP."""

from __future__ import annotations

import asyncio
import re
import socket
from dataclasses import dataclass

#: How long a plain HTTP client may take to send its request head.
HEAD_TIMEOUT = 10.0
MAX_HEAD_BYTES = 16 * 1024

_HOST = re.compile(r"^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])$")
_PATH = re.compile(r"^/[\x21-\x7e]*$")


@dataclass(frozen=True)
class HttpsAddress:
    """Where the web admin answers HTTPS: the default host when the request names none."""

    host: str
    port: int

    def url(self, host: str | None, path: str) -> str:
        port = "" if self.port == 443 else f":{self.port}"
        return f"https://{host or self.host}{port}{path}"


def _host_only(header: str) -> str | None:
    """The host part of a Host header (without the port), if it looks like a host at all."""
    value = header.strip()
    if value.startswith("["):
        end = value.find("]")
        host = value[: end + 1] if end > 0 else ""
    else:
        host = value.rsplit(":", 1)[0] if value.count(":") == 1 else value
    return host if _HOST.match(host) else None


def _target_path(target: str) -> str:
    if target.lower().startswith(("http://", "https://")):
        rest = target.split("://", 1)[1]
        target = "/" + rest.split("/", 1)[1] if "/" in rest else "/"
    return target if _PATH.match(target) else "/"


def reply(head: bytes, https: HttpsAddress, redirect: bool) -> bytes:
    """The whole response to a plain HTTP request head."""
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ") if lines else []
    host: str | None = None
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep and name.strip().lower() == "host":
            host = _host_only(value)
            break
    is_http = len(parts) == 3 and parts[2].startswith("HTTP/1.")
    if redirect and is_http:
        location = https.url(host, _target_path(parts[1]))
        return _response("301 Moved Permanently", f"Moved to {location}\n", location)
    url = https.url(host, "/")
    return _response(
        "400 Bad Request",
        f"This is the Moot web admin. It answers over HTTPS only: use {url}\n",
    )


def _response(status: str, body: str, location: str | None = None) -> bytes:
    data = body.encode()
    headers = [
        f"HTTP/1.1 {status}",
        "Content-Type: text/plain; charset=utf-8",
        f"Content-Length: {len(data)}",
        "Connection: close",
        "Cache-Control: no-store",
    ]
    if location:
        headers.append(f"Location: {location}")
    return ("\r\n".join(headers) + "\r\n\r\n").encode() + data


async def answer(sock: socket.socket, https: HttpsAddress, redirect: bool) -> None:
    """Read one request head from ``sock``, answer it, close the connection."""
    reader, writer = await asyncio.open_connection(sock=sock, limit=MAX_HEAD_BYTES)
    try:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), HEAD_TIMEOUT)
        except asyncio.IncompleteReadError as exc:
            head = exc.partial
        except (asyncio.LimitOverrunError, TimeoutError):
            head = b""
        writer.write(reply(head, https, redirect))
        await asyncio.wait_for(writer.drain(), HEAD_TIMEOUT)
    except (OSError, TimeoutError):
        pass
    finally:
        writer.close()
