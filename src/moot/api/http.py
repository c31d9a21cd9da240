"""``/api/v1`` over HTTP (aiohttp), mounted on the web admin listener.

HTTP Basic authentication for ``admin`` and ``api`` accounts (or the web admin's
signed-in session); ``401`` with ``WWW-Authenticate`` otherwise. Responses are
``text/xml`` by default and JSON for clients that ask with ``Accept``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from aiohttp import web

from moot.api.encoding import json_failure, json_list, json_one, xml_failure, xml_list, xml_one
from moot.api.engine import Api, Response
from moot.api.errors import ApiFailure, parameter_error
from moot.api.model import parse_form
from moot.api.openapi import document
from moot.node.accounts import API_ROLES, LoginResult

if TYPE_CHECKING:
    from moot.node.context import NodeContext

log = logging.getLogger("moot.api")

PREFIX = "/api/v1"
REALM = "Moot API"
MAX_BODY = 1024 * 1024
#: Successful Basic credentials are remembered this long, so that each request
#: does not pay for an argon2 verification.
CREDENTIAL_TTL = 60.0

SessionUser = Callable[[web.Request], str | None]


class ApiHttp:
    def __init__(self, node: NodeContext, api: Api, session_user: SessionUser | None = None) -> None:
        self.node = node
        self.api = api
        self.session_user = session_user
        self.executor = ThreadPoolExecutor(max_workers=8, thread_name_prefix="api")
        self._verified: dict[tuple[str, str], tuple[float, float | None]] = {}
        self._openapi_doc: bytes | None = None

    def routes(self) -> list[web.RouteDef]:
        return [web.route("*", PREFIX, self.handle), web.route("*", PREFIX + r"/{tail:[\s\S]*}", self.handle)]

    def _openapi(self) -> bytes:
        if self._openapi_doc is None:
            self._openapi_doc = json.dumps(document(self.api.catalog)).encode()
        return self._openapi_doc

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)

    # authentication -----------------------------------------------------------------
    def _check_basic(self, header: str, peer: str) -> str | None:
        try:
            scheme, _, encoded = header.partition(" ")
            if scheme.lower() != "basic":
                return None
            user, sep, password = base64.b64decode(encoded, validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return None
        if not sep:
            return None
        key = (user, hashlib.sha256(password.encode()).hexdigest())
        acc = self.node.accounts.get(user)
        cached = self._verified.get(key)
        if cached and acc and cached[0] > time.monotonic() and cached[1] == acc.password_changed and not self.node.accounts.is_locked(acc):
            return user
        login = self.node.accounts.login(user, password, API_ROLES)
        if login.result is LoginResult.OK:
            self._verified[key] = (time.monotonic() + CREDENTIAL_TTL, login.account.password_changed if login.account else None)
            return user
        log.warning("API authentication failed for %s from %s: %s", user or "-", peer, login.result.value)
        return None

    def _authenticate(self, request: web.Request) -> str | None:
        header = request.headers.get("Authorization")
        peer = request.remote or "?"
        if header:
            return self._check_basic(header, peer)
        if self.session_user is not None:
            return self.session_user(request)
        return None

    # requests -----------------------------------------------------------------------
    async def handle(self, request: web.Request) -> web.StreamResponse:
        wants_json = "application/json" in request.headers.get("Accept", "")
        user = await asyncio.get_running_loop().run_in_executor(self.executor, self._authenticate, request)
        if user is None:
            return web.Response(
                status=401, headers={"WWW-Authenticate": f'Basic realm="{REALM}"'}, body=b""
            )
        path = request.path[len(PREFIX):]
        if path.lower().rstrip("/") == "/openapi.json" and request.method == "GET":
            return web.Response(body=self._openapi(), content_type="application/json")
        try:
            form = await self._form(request)
            response = await asyncio.get_running_loop().run_in_executor(
                self.executor,
                self.api.handle,
                request.method,
                path,
                list(request.query.items()),
                form,
            )
        except ApiFailure as failure:
            body = json_failure(failure) if wants_json else xml_failure(failure)
            return self._reply(failure.status, body, wants_json)
        except Exception:
            log.exception("API %s %s failed", request.method, request.path)
            busy = ApiFailure("databaseNotReady", status=503)
            return self._reply(503, json_failure(busy) if wants_json else xml_failure(busy), wants_json)
        return self._render(response, wants_json)

    async def _form(self, request: web.Request) -> list[tuple[str, str]]:
        if request.method not in ("POST", "PUT"):
            return []
        if request.content_length is not None and request.content_length > MAX_BODY:
            raise parameter_error("body", "tooLarge")
        body = await request.content.read(MAX_BODY + 1)
        if len(body) > MAX_BODY:
            raise parameter_error("body", "tooLarge")
        if not body:
            return []
        ctype = request.content_type
        if ctype not in ("application/x-www-form-urlencoded", "application/octet-stream", ""):
            raise parameter_error("Content-Type", "invalidContentType")
        try:
            return parse_form(body)
        except (UnicodeDecodeError, ValueError):
            raise parameter_error("body", "malformed") from None

    def _render(self, response: Response, wants_json: bool) -> web.StreamResponse:
        headers = {}
        if response.location:
            headers["Location"] = response.location
        if response.item is not None:
            body = json_one(response.item) if wants_json else xml_one(response.item)
        elif response.listing is not None:
            collection, element, total, items = response.listing
            body = json_list(collection, element, total, items) if wants_json else xml_list(collection, total, items)
        else:
            return web.Response(status=response.status, headers=headers, body=b"")
        return self._reply(response.status, body, wants_json, headers)

    @staticmethod
    def _reply(status: int, body: bytes, wants_json: bool, headers: dict[str, str] | None = None) -> web.Response:
        return web.Response(
            status=status,
            body=body,
            headers=headers or {},
            content_type="application/json" if wants_json else "text/xml",
        )
