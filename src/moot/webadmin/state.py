"""What the web admin's request handlers share: the node and the sign-in sessions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiohttp import web

from moot.webadmin.sessions import SessionStore, WebSession

if TYPE_CHECKING:
    from moot.node.context import NodeContext


@dataclass
class WebAdminState:
    node: NodeContext
    sessions: SessionStore


STATE = web.AppKey("webadmin", WebAdminState)
_SESSION = "webadmin.session"


def state(request: web.Request) -> WebAdminState:
    return request.app[STATE]


def set_session(request: web.Request, session: WebSession) -> None:
    request[_SESSION] = session


def session_of(request: web.Request) -> WebSession:
    """The signed-in session (set by the sign-in middleware before any page handler)."""
    session = request.get(_SESSION)
    if not isinstance(session, WebSession):
        raise web.HTTPSeeOther("/login")
    return session


def peer_of(request: web.Request) -> str:
    """``ip:port`` of the browser, as logs and ``user list`` show it."""
    peer = request.transport.get_extra_info("peername") if request.transport else None
    if isinstance(peer, tuple) and len(peer) >= 2:
        host = str(peer[0])
        return f"[{host}]:{peer[1]}" if ":" in host else f"{host}:{peer[1]}"
    return request.remote or "unknown"
