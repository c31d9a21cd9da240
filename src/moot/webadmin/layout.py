"""The page frame: header, navigation, licence banner, footer; and the plain sign-in frame."""

from __future__ import annotations

import socket
from collections.abc import Callable

from aiohttp import web

from moot import __version__
from moot.licensing.state import ACTIVATION_BANNER, TRIAL_BANNER
from moot.webadmin.render import Markup, join, render
from moot.webadmin.sessions import WebSession

#: Navigation entries: (path, label). Later issues add their configuration pages here.
NAV: tuple[tuple[str, str], ...] = (
    ("/", "Status"),
    ("/configuration", "Configuration"),
    ("/configuration/api", "API"),
)


def hostname() -> str:
    return socket.gethostname()


def html(markup: Markup, status: int = 200) -> web.Response:
    return web.Response(text=markup, status=status, content_type="text/html", charset="utf-8")


def _nav(active: str) -> Markup:
    return join(
        render(
            "nav_item.html",
            href=path,
            label=label,
            current=Markup(' aria-current="page"' if path == active else ""),
        )
        for path, label in NAV
    )


#: Which licence banner the pages show (set by the web admin from the node's licensing
#: state: trial, activation needed, or none once licensed).
BannerSource = Callable[[], str | None]
_banner_source: BannerSource = lambda: TRIAL_BANNER  # noqa: E731


def set_banner_source(source: BannerSource) -> None:
    global _banner_source
    _banner_source = source


def _licence_banner() -> Markup:
    banner = _banner_source()
    if banner == TRIAL_BANNER:
        return render("banner_trial.html")
    if banner == ACTIVATION_BANNER:
        return render("banner_activation.html")
    return Markup("")


def page(
    session: WebSession, title: str, body: Markup, *, active: str, status: int = 200
) -> web.Response:
    """A page for a signed-in user."""
    return html(
        render(
            "layout.html",
            title=title,
            body=body,
            nav=_nav(active),
            banner=_licence_banner(),
            user=session.user,
            csrf=session.csrf,
            version=__version__,
            hostname=hostname(),
        ),
        status,
    )


def plain_page(title: str, body: Markup, status: int = 200) -> web.Response:
    """A page without navigation: sign-in and forced password change."""
    return html(
        render("plain.html", title=title, body=body, version=__version__, hostname=hostname()),
        status,
    )


def message(text: str, kind: str = "error") -> Markup:
    """An error (announced to screen readers at once) or information box."""
    return render(
        "message.html", text=text, kind=kind, role="alert" if kind == "error" else "status"
    )
