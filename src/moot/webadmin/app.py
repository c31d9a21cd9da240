"""The web admin's aiohttp application: routes, middlewares, headers."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from aiohttp import web

from moot.node.context import NodeContext
from moot.webadmin import auth, explorer, pages
from moot.webadmin.security import STATIC_PREFIX, add_security_headers
from moot.webadmin.sessions import SessionStore
from moot.webadmin.state import STATE, WebAdminState

#: Forms are small; the API mounts its own limits.
MAX_REQUEST_BYTES = 1024 * 1024


def static_dir() -> Path:
    return Path(str(resources.files("moot.webadmin").joinpath("static")))


def build_app(node: NodeContext, sessions: SessionStore) -> web.Application:
    app = web.Application(
        middlewares=[auth.require_session, pages.friendly_errors],
        client_max_size=MAX_REQUEST_BYTES,
    )
    app[STATE] = WebAdminState(node, sessions)
    app.on_response_prepare.append(add_security_headers)
    auth.add_routes(app)
    pages.add_routes(app)
    explorer.add_routes(app)
    app.router.add_static(STATIC_PREFIX, static_dir(), follow_symlinks=False)
    return app
