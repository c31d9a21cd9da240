"""The pages of a signed-in admin: status, configuration (the API explorer is explorer.py)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from moot import __version__
from moot.node.component import Component, ComponentStatus, State
from moot.node.control import ControlError
from moot.webadmin.layout import hostname, message, page
from moot.webadmin.render import Markup, join, render
from moot.webadmin.state import session_of, state

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def format_duration(seconds: float) -> str:
    """``3 days 4 h 05 min``, ``2 h 10 min``, ``4 min 09 s``."""
    s = max(int(seconds), 0)
    days, s = divmod(s, 86400)
    hours, s = divmod(s, 3600)
    minutes, s = divmod(s, 60)
    if days:
        return f"{days} day{'s' if days != 1 else ''} {hours} h {minutes:02d} min"
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min {s:02d} s"


def format_time(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ts))


def component_titles() -> dict[str, str]:
    """Display titles of the component classes loaded in this process (``callbridge`` -> Call Bridge)."""
    titles: dict[str, str] = {}
    pending: list[type[Any]] = [Component]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        name, title = getattr(cls, "name", None), getattr(cls, "title", None)
        if isinstance(name, str) and isinstance(title, str):
            titles[name] = title
    return titles


def _component_row(comp: ComponentStatus, titles: dict[str, str]) -> Markup:
    listeners = (
        join(render("listener.html", text=text) for text in comp.listeners)
        if comp.listeners
        else Markup('<span class="muted">none</span>')
    )
    return render(
        "component_row.html",
        title=titles.get(comp.name, comp.name),
        name=comp.name,
        state=comp.state,
        listeners=listeners,
        detail=comp.detail or "",
    )


async def status_page(request: web.Request) -> web.StreamResponse:
    session = session_of(request)
    node = state(request).node
    note = (
        message("Your password has been changed.", "ok")
        if "password-changed" in request.query
        else Markup("")
    )
    try:
        status = await node.control.status()
    except ControlError:
        status = None
    if status is None:
        return page(session, "Status", Markup(note + render("status_offline.html")), active="/")
    titles = component_titles()
    running = sum(c.state == State.RUNNING for c in status.components)
    failed = [c.name for c in status.components if c.state == State.FAILED]
    health = "Failed: " + ", ".join(failed) if failed else "All enabled components are running"
    body = render(
        "status.html",
        version=status.version or __version__,
        uptime=format_duration(time.time() - status.started),
        hostname=hostname(),
        node_id=node.node_id,
        started=format_time(status.started),
        running=running,
        total=len(status.components),
        health=health,
        health_class="health-bad" if failed else "health-ok",
        rows=join(_component_row(c, titles) for c in status.components),
    )
    return page(session, "Status", Markup(note + body), active="/")


async def configuration_page(request: web.Request) -> web.StreamResponse:
    return page(
        session_of(request), "Configuration", render("configuration.html"), active="/configuration"
    )


@web.middleware
async def friendly_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A signed-in user who follows a wrong link sees a page in the frame, not bare text."""
    try:
        return await handler(request)
    except (web.HTTPNotFound, web.HTTPMethodNotAllowed) as exc:
        try:
            session = session_of(request)
        except web.HTTPException:
            raise exc from None
        body = render(
            "error.html", heading="Page not found", text="There is no page at this address."
        )
        return page(session, "Not found", body, active="", status=exc.status)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/", status_page)
    app.router.add_get("/configuration", configuration_page)
