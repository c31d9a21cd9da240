"""The web bridge's HTTP routes: the web app, its JSON calls and the signalling WebSocket."""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from moot.webbridge.access import AccessDenied
from moot.webbridge.meetings import ScheduleRefused
from moot.webbridge.service import WebBridgeService
from moot.webbridge.session import WebSession
from moot.webbridge.signin import COOKIE, IDLE_TIMEOUT

STATIC = Path(__file__).with_name("static")
SERVICE: web.AppKey[WebBridgeService] = web.AppKey("service", WebBridgeService)
#: The ping interval of the signalling socket: a browser that stops answering is gone
#: within 1.5 intervals (aiohttp closes when the pong is half an interval late).
HEARTBEAT = 2.0
#: The WebSocket frame limit aiohttp enforces (above the protocol's own 64 KiB limit, so that
#: an oversized message gets a ``messageTooLarge`` answer instead of a bare close).
WS_MAX_FRAME = 1024 * 1024
MAX_BODY = 16 * 1024

SECURITY_HEADERS = {
    "Strict-Transport-Security": "max-age=31536000",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # join links carry secrets
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
        "media-src 'self' blob: mediastream:; connect-src 'self' wss:; frame-ancestors 'none'"
    ),
    "Permissions-Policy": "camera=(self), microphone=(self)",
}


def problem(status: int, code: str, message: str, **extra: Any) -> web.Response:
    return web.json_response({"error": code, "message": message, **extra}, status=status)


async def _json_body(request: web.Request) -> dict[str, Any]:
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise web.HTTPRequestEntityTooLarge(max_size=MAX_BODY, actual_size=request.content_length)
    try:
        body = json.loads(await request.read())
    except (ValueError, UnicodeDecodeError):
        body = None
    if not isinstance(body, dict):
        raise _Problem(problem(400, "badRequest", "The request body must be a JSON object."))
    return body


class _Problem(Exception):
    def __init__(self, response: web.Response) -> None:
        self.response = response


def _text(body: dict[str, Any], key: str, limit: int = 256) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise _Problem(problem(400, "badRequest", f"'{key}' must be a non-empty string of at most {limit} characters."))
    return value


async def index(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})


def _address(request: web.Request) -> str:
    return request.remote or "unknown"


def _rate_limited(service: WebBridgeService, address: str) -> web.Response | None:
    wait = service.limiter.retry_after(address)
    if wait is None:
        return None
    return problem(429, "rateLimited", f"Too many failed attempts; try again in {wait:.0f} s.",
                   retryAfter=round(wait))


async def meeting_info(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    address = _address(request)
    try:
        body = await _json_body(request)
        meeting_id = _text(body, "meetingId")
    except _Problem as exc:
        return exc.response
    limited = _rate_limited(service, address)
    if limited is not None:
        return limited
    try:
        meeting = await service.lookup(meeting_id)
    except AccessDenied as exc:
        service.limiter.failed(address, f"lookup of unknown meeting {meeting_id[:40]!r}")
        return problem(404, exc.code, exc.message)
    signed_in = service.signins.get(request.cookies.get(COOKIE))
    secret = body.get("secret") if isinstance(body.get("secret"), str) else None
    by_secret = bool(secret) and meeting.secret == secret and bool(meeting.profile.get("allowSecrets", True))
    if not meeting.guests_allowed and signed_in is None:
        return problem(403, "guestsNotAllowed", "Guests cannot join this meeting; sign in first.")
    who = signed_in.user_jid if signed_in is not None else f"guest-{secrets.token_hex(4)}"
    return web.json_response({"meetingId": meeting.meeting_id, "name": meeting.name,
                              "passcodeRequired": meeting.passcode_required and not by_secret,
                              "guestsAllowed": meeting.guests_allowed,
                              "iceServers": await service.ice_servers(who)})


async def sign_in(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    address = _address(request)
    try:
        body = await _json_body(request)
        username, password = _text(body, "username"), _text(body, "password", 1024)
    except _Problem as exc:
        return exc.response
    limited = _rate_limited(service, address)
    if limited is not None:
        return limited
    who = await service.sign_in(username, password)
    if who is None:
        service.limiter.failed(address, f"failed sign-in as {username[:60]!r}")
        return problem(401, "badCredentials", "The username or password is not right.")
    response = web.json_response({"name": who.name, "userJid": who.user_jid})
    response.set_cookie(COOKIE, service.signins.start(who), httponly=True, secure=True, samesite="Strict",
                        path="/", max_age=int(IDLE_TIMEOUT))
    return response


async def sign_out(request: web.Request) -> web.Response:
    request.app[SERVICE].signins.end(request.cookies.get(COOKIE))
    response = web.json_response({})
    response.del_cookie(COOKIE, path="/")
    return response


async def me(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    who = service.signins.get(request.cookies.get(COOKIE))
    if who is None:
        # 200, not 401: the web app asks on every visit, and browsers log a 401 as an error.
        return web.json_response({"signedIn": False})
    return web.json_response({"signedIn": True, "name": who.name, "userJid": who.user_jid,
                              "spaces": await service.spaces_of(who)})


async def upcoming(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    who = service.signins.get(request.cookies.get(COOKIE))
    if who is None:
        return problem(401, "notSignedIn", "Sign in to see your meetings.")
    found = await service.upcoming_meetings(who)
    if found is None:
        return web.json_response({"available": False})
    return web.json_response({"available": True, "meetings": found})


async def schedule(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    who = service.signins.get(request.cookies.get(COOKIE))
    if who is None:
        return problem(401, "notSignedIn", "Sign in to schedule meetings.")
    try:
        body = await _json_body(request)
        made = await service.schedule_meeting(who, body)
    except _Problem as exc:
        return exc.response
    except ScheduleRefused as exc:
        return problem(400, "invalidMeeting", exc.message, field=exc.field)
    if made is None:
        return problem(503, "schedulerUnavailable", "Scheduling is not available on this server.")
    return web.json_response(made, status=201)


async def websocket(request: web.Request) -> web.StreamResponse:
    service = request.app[SERVICE]
    origin = request.headers.get("Origin")
    if origin is not None and urlsplit(origin).netloc.lower() != request.host.lower():
        # A page of another site must not drive a visitor's browser into meetings.
        return problem(403, "badOrigin", "WebSocket connections are only accepted from the web app itself.")
    ws = web.WebSocketResponse(heartbeat=HEARTBEAT, max_msg_size=WS_MAX_FRAME)
    await ws.prepare(request)
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    local = f"{sockname[0]}:{sockname[1]}" if sockname else ""
    session = WebSession(service, ws, _address(request), local,
                         service.signins.get(request.cookies.get(COOKIE)))
    service.sessions.add(session)
    try:
        await session.run()
    finally:
        service.sessions.discard(session)
    return ws


@web.middleware
async def security_headers(request: web.Request, handler: Any) -> web.StreamResponse:
    response: web.StreamResponse = await handler(request)
    if not response.prepared:
        response.headers.update(SECURITY_HEADERS)
    return response


def build_app(service: WebBridgeService) -> web.Application:
    app = web.Application(middlewares=[security_headers], client_max_size=MAX_BODY)
    app[SERVICE] = service
    app.router.add_get("/", index)
    app.router.add_get("/meeting/{call_id}", index)
    app.router.add_post("/api/meeting", meeting_info)
    app.router.add_post("/api/signin", sign_in)
    app.router.add_post("/api/signout", sign_out)
    app.router.add_get("/api/me", me)
    app.router.add_get("/api/meetings", upcoming)
    app.router.add_post("/api/meetings", schedule)
    app.router.add_get("/ws", websocket)
    app.router.add_static("/static", STATIC, follow_symlinks=False)
    return app
