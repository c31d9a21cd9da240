"""Signing in and out with MMP accounts, forced password changes, CSRF checks.

The same account rules as the MMP apply (``Accounts.login``): lockout after
failed attempts, disabled accounts, passwords that must be changed first.
Only accounts of role admin may sign in (``WEBADMIN_ROLES``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web

from moot.node.accounts import WEBADMIN_ROLES, AccountError, LoginResult, PasswordRules, verify_hash
from moot.webadmin.layout import message, page, plain_page
from moot.webadmin.render import Markup, render
from moot.webadmin.security import STATIC_PREFIX
from moot.webadmin.sessions import WebSession, new_token, same_token
from moot.webadmin.state import peer_of, session_of, set_session, state

log = logging.getLogger("moot.webadmin")

#: ``__Host-``: browsers keep it only if Secure, Path=/ and without Domain (no subdomain can set it).
SESSION_COOKIE = "__Host-moot-session"
#: Guards the sign-in form, which has no session yet (double-submit token).
LOGIN_COOKIE = "__Host-moot-login"
CSRF_FIELD = "csrf"
#: Paths reachable without a session.
PUBLIC_PATHS = frozenset({"/login"})
#: Parts mounted here authenticate on their own (the REST API: HTTP Basic, or
#: ``session_user`` below), so neither the sign-in redirect nor the form CSRF check applies.
API_PREFIX = "/api/v1"
SELF_AUTHENTICATED_PREFIXES = (API_PREFIX,)
#: Requests that change nothing.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: Header that carries the CSRF token on script requests (the API explorer's fetch calls).
CSRF_HEADER = "X-CSRF-Token"
#: Paths a session that must change its password may still use.
FORCED_CHANGE_PATHS = frozenset({"/password", "/logout"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _set_cookie(response: web.StreamResponse, name: str, value: str) -> None:
    response.set_cookie(name, value, path="/", secure=True, httponly=True, samesite="Strict")


def _clear_cookie(response: web.StreamResponse, name: str) -> None:
    response.del_cookie(name, path="/", secure=True, httponly=True, samesite="Strict")


def _redirect(location: str) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(location)


@web.middleware
async def require_session(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every page but sign-in needs a live session; every POST needs its CSRF token."""
    path = request.path
    if (
        path in PUBLIC_PATHS
        or path.startswith(STATIC_PREFIX)
        or path.startswith(SELF_AUTHENTICATED_PREFIXES)
    ):
        return await handler(request)
    session = state(request).sessions.get(request.cookies.get(SESSION_COOKIE))
    if session is None:
        response = _redirect("/login")
        if SESSION_COOKIE in request.cookies:
            _clear_cookie(response, SESSION_COOKIE)
        raise response
    set_session(request, session)
    if request.method not in SAFE_METHODS:
        form = await request.post()
        if not same_token(_field(form, CSRF_FIELD), session.csrf):
            log.warning(
                "web admin: form without a valid CSRF token from %s (user %s) to %s",
                peer_of(request),
                session.user,
                request.path,
            )
            return page(
                session,
                "Form expired",
                render(
                    "error.html",
                    heading="This form has expired",
                    text="Nothing was changed. Reload the page and try again.",
                ),
                active="",
                status=403,
            )
    if session.must_change and request.path not in FORCED_CHANGE_PATHS:
        raise _redirect("/password")
    return await handler(request)


def _field(form: Mapping[str, Any], name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def session_user(request: web.Request) -> str | None:
    """The signed-in admin, for mounted parts that accept the web admin session (the API).

    A request that changes something must carry the session's CSRF token in the
    ``X-CSRF-Token`` header; a session that must change its password counts for nothing.
    """
    session = state(request).sessions.get(request.cookies.get(SESSION_COOKIE))
    if session is None or session.must_change:
        return None
    if request.method not in SAFE_METHODS and not same_token(
        request.headers.get(CSRF_HEADER), session.csrf
    ):
        return None
    return session.user


# sign in -------------------------------------------------------------------


def _login_form(
    username: str = "", error: str = "", info: str = "", status: int = 200
) -> web.Response:
    token = new_token()
    note = message(error) if error else message(info, "info") if info else Markup("")
    response = plain_page(
        "Sign in",
        render("login.html", message=note, csrf=token, username=username),
        status,
    )
    _set_cookie(response, LOGIN_COOKIE, token)
    return response


async def login_page(request: web.Request) -> web.StreamResponse:
    if state(request).sessions.get(request.cookies.get(SESSION_COOKIE)) is not None:
        raise _redirect("/")
    info = "You have signed out." if "signed-out" in request.query else ""
    return _login_form(info=info)


_REFUSALS = {
    LoginResult.BAD_CREDENTIALS: (401, "Wrong user name or password."),
    LoginResult.NO_PASSWORD: (
        401,
        "This account has no password yet. Set one on the MMP console first (passwd).",
    ),
    LoginResult.ROLE_NOT_ALLOWED: (
        403,
        "This account may not sign in to the web admin: only accounts of role admin can.",
    ),
}


async def login_submit(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    username = _field(form, "username").strip()
    password = _field(form, "password")
    peer = peer_of(request)
    if not same_token(_field(form, CSRF_FIELD), request.cookies.get(LOGIN_COOKIE)):
        log.warning("web admin: sign-in form without a valid token from %s", peer)
        return _login_form(
            username, "The sign-in form had expired. Please sign in again.", status=403
        )
    if not username or not password:
        return _login_form(username, "Enter your user name and password.", status=400)
    st = state(request)
    # argon2 takes a while: keep the event loop serving others meanwhile.
    result = await asyncio.to_thread(st.node.accounts.login, username, password, WEBADMIN_ROLES)
    if not result.allowed or result.account is None:
        log.warning(
            "web admin: sign-in failed for %r from %s: %s", username, peer, result.result.value
        )
        if result.result is LoginResult.LOCKED:
            status, text = 403, f"This account is locked: {result.detail}."
        elif result.detail == "account disabled":
            status, text = 403, "This account is disabled."
        else:
            status, text = _REFUSALS.get(result.result, (401, "Wrong user name or password."))
        return _login_form(username, text, status=status)
    old = st.sessions.get(request.cookies.get(SESSION_COOKIE))
    if old is not None:
        st.sessions.end(old)
    must_change = result.result is LoginResult.MUST_CHANGE
    session = st.sessions.create(result.account.name, peer, must_change=must_change)
    log.info(
        "web admin: %s signed in from %s%s",
        session.user,
        peer,
        " (password change required)" if must_change else "",
    )
    response = _redirect("/password" if must_change else "/")
    _set_cookie(response, SESSION_COOKIE, session.token)
    _clear_cookie(response, LOGIN_COOKIE)
    raise response


async def logout(request: web.Request) -> web.StreamResponse:
    session = session_of(request)
    state(request).sessions.end(session)
    log.info("web admin: %s signed out from %s", session.user, peer_of(request))
    response = _redirect("/login?signed-out")
    _clear_cookie(response, SESSION_COOKIE)
    raise response


# password ------------------------------------------------------------------


def describe_rules(rules: PasswordRules) -> str:
    needs = [
        f"{n} {what}"
        for n, what in (
            (rules.min_lowercase, "lower-case letter"),
            (rules.min_uppercase, "upper-case letter"),
            (rules.min_digits, "digit"),
            (rules.min_special, "special character"),
        )
        if n > 0
    ]
    text = f"At least {rules.min_length} characters"
    if needs:
        text += (
            ", with at least "
            + (", ".join(needs[:-1]) + " and " if len(needs) > 1 else "")
            + needs[-1]
        )
    text += "."
    if rules.max_history > 0:
        text += f" The last {rules.max_history} passwords cannot be used again."
    return text


def _password_page(
    request: web.Request, session: WebSession, error: str = "", status: int = 200
) -> web.Response:
    forced = session.must_change
    if error:
        note = message(error)
    elif forced:
        note = message("You must choose a new password before you go on.", "info")
    else:
        note = Markup("")
    body = render(
        "password.html",
        message=note,
        csrf=session.csrf,
        user=session.user,
        current=Markup("") if forced else render("password_current.html"),
        rules=describe_rules(state(request).node.accounts.rules),
        cancel=Markup("") if forced else render("password_cancel.html"),
    )
    if forced:
        return plain_page(
            "Change your password",
            Markup(body + render("forced_signout.html", csrf=session.csrf)),
            status,
        )
    return page(session, "Change password", body, active="", status=status)


async def password_page(request: web.Request) -> web.StreamResponse:
    return _password_page(request, session_of(request))


async def password_submit(request: web.Request) -> web.StreamResponse:
    session = session_of(request)
    accounts = state(request).node.accounts
    form = await request.post()
    new = _field(form, "new_password")
    if not session.must_change:
        account = accounts.get(session.user)
        stored = account.password_hash if account is not None else None
        current = _field(form, "current_password")
        if stored is None or not await asyncio.to_thread(verify_hash, stored, current):
            return _password_page(request, session, "Your current password is not correct.", 403)
    if new != _field(form, "confirm_password"):
        return _password_page(request, session, "The two new passwords do not match.", 400)
    try:
        await asyncio.to_thread(accounts.set_password, session.user, new, by_self=True)
    except AccountError as exc:
        text = str(exc)
        return _password_page(request, session, text[:1].upper() + text[1:] + ".", 400)
    session.must_change = False
    log.info("web admin: %s changed their password from %s", session.user, peer_of(request))
    raise _redirect("/?password-changed")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/login", login_page)
    app.router.add_post("/login", login_submit)
    app.router.add_post("/logout", logout)
    app.router.add_get("/password", password_page)
    app.router.add_post("/password", password_submit)
