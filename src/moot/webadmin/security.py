"""Headers on every web admin response: HTTPS only, no framing, no caching of pages."""

from __future__ import annotations

from aiohttp import web

STATIC_PREFIX = "/static/"

SECURITY_HEADERS = {
    "Strict-Transport-Security": "max-age=31536000",
    "Content-Security-Policy": (
        "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    # Tell nobody which web server and version this is.
    "Server": "Moot",
}


async def add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    response.headers.update(SECURITY_HEADERS)
    if request.path.startswith(STATIC_PREFIX):
        response.headers["Cache-Control"] = "public, max-age=3600"
    else:
        # Pages show who is signed in and the node's state: never keep them.
        response.headers["Cache-Control"] = "no-store"
        response.headers["Pragma"] = "no-cache"
