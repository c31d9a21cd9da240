"""Configuration > API: the API explorer (the guide's B.5), server-rendered.

The pages call the API engine in-process, off the event loop, with the same
paths, forms and failure reasons as ``/api/v1``; everything shown comes from the
object declarations. Addresses mirror the API's: ``/configuration/api/coSpaces``
expands the list of spaces, ``/configuration/api/coSpaces/<id>`` shows one,
``?new``, ``?edit`` and ``?delete`` give the create, edit and delete-confirmation
forms, and a POST to the same address makes the change (with the form's CSRF token).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from moot.api.encoding import Item
from moot.api.engine import PAGE_LIMIT, Catalog, Response, Route
from moot.api.errors import ApiFailure
from moot.api.http import ApiHttp
from moot.api.model import Access, Field, ObjectType, Ref
from moot.webadmin.apimount import API_MOUNT
from moot.webadmin.explorer_forms import (
    OP_FIELD,
    api_form,
    form_fields,
    read_only_fields,
    render_field,
    shown,
    submitted,
    tag,
)
from moot.webadmin.explorer_text import Problem, explain, reason_text, words
from moot.webadmin.explorer_views import (
    API_BASE,
    BASE,
    anchor,
    collection_url,
    crumbs,
    facts,
    filter_inputs,
    list_table,
    object_path,
    pager,
    parent_path,
    url,
)
from moot.webadmin.layout import message, page
from moot.webadmin.render import Markup, join, render
from moot.webadmin.sessions import WebSession
from moot.webadmin.state import peer_of, session_of

log = logging.getLogger("moot.webadmin")

TITLE = "API"
#: The explorer's own styles, linked from the page body (a body-ok ``<link>``).
STYLES = Markup('<link rel="stylesheet" href="/static/explorer.css">\n')
NOTICES = {
    "created": "The object has been created.",
    "saved": "Your changes have been saved.",
    "deleted": "The object has been deleted.",
}


@dataclass
class FormState:
    """What a refused form showed: the values typed and the API's complaint."""

    values: dict[str, str] | None = None
    problem: Problem | None = None
    result: Item | None = None


@dataclass
class Explorer:
    """One request's view of the API."""

    request: web.Request
    session: WebSession
    http: ApiHttp
    catalog: Catalog
    query: Mapping[str, str] = field(default_factory=dict)

    async def call(
        self,
        method: str,
        path: str,
        query: Sequence[tuple[str, str]] = (),
        form: Sequence[tuple[str, str]] = (),
    ) -> Response:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self.http.executor, self.http.api.handle, method, path, list(query), list(form)
        )

    def page(self, body: Markup, status: int = 200) -> web.Response:
        return page(self.session, TITLE, Markup(STYLES + body), active=BASE, status=status)

    def notice(self) -> Markup:
        for key, text in NOTICES.items():
            if key in self.query:
                return message(text, "ok")
        return Markup("")

    # index and expanded panels ------------------------------------------------------
    async def type_row(self, otype: ObjectType, path: str, expanded: Route | None, state: FormState, closed: str) -> Markup:
        is_open = expanded is not None and expanded.otype is otype
        label = f"{API_BASE}/{path}" if otype.parent is None else otype.collection
        panel = Markup("")
        if is_open and expanded is not None:
            body = await self.panel(expanded, state)
            panel = render("explorer_panel.html", label=otype.collection, body=body)
        return render(
            "explorer_type.html",
            open=" is-open" if is_open else "",
            anchor=anchor(otype),
            href=closed + "#" + anchor(otype) if is_open else url(path, anchor=anchor(otype)),
            expanded="true" if is_open else "false",
            chevron="▼" if is_open else "►",
            label=label,
            summary=otype.summary,
            panel=panel,
        )

    async def index(self, expanded: Route | None = None, state: FormState | None = None, status: int = 200) -> web.Response:
        find = self.query.get("types", "").strip().lower() if expanded is None else ""
        types = sorted(
            (t for t in self.catalog.types if t.parent is None and find in t.collection.lower()),
            key=lambda t: t.collection.lower(),
        )
        rows = [await self.type_row(t, t.collection, expanded, state or FormState(), BASE) for t in types]
        listing = (
            render("explorer_types.html", rows=join(rows))
            if rows
            else tag("p", f"No object type matches “{find}”.", class_="muted")
        )
        body = render(
            "explorer_index.html",
            notice=self.notice() if expanded is None else Markup(""),
            types=self.query.get("types", "") if expanded is None else "",
            rows=listing,
        )
        return self.page(body, status)

    async def panel(self, route: Route, state: FormState) -> Markup:
        otype = route.otype
        if route.view:
            response = await self.call("GET", f"{object_path(route)}/{route.view}")
            assert response.item is not None
            return facts(self.catalog, response.item[2])
        if otype.query:
            return self.query_panel(route, state)
        if otype.singleton:
            return await self.singleton_panel(route, state)
        return await self.list_panel(route)

    async def list_panel(self, route: Route) -> Markup:
        otype = route.otype
        params = {f.param: self.query.get(f.param, "").strip() for f in otype.filters}
        try:
            offset = max(0, int(self.query.get("offset", "0")))
        except ValueError:
            offset = 0
        query = [(k, v) for k, v in params.items() if v]
        notice = Markup("")
        try:
            response = await self.call("GET", route.path, [*query, ("offset", str(offset))])
        except ApiFailure as failure:
            if failure.reason != "parameterError":
                raise
            problem = explain(failure, otype, self.catalog)
            notice = render("explorer_problem.html", summary=problem.summary, raw=problem.raw)
            response = await self.call("GET", route.path)
            offset, query = 0, []
        assert response.listing is not None
        _, _, total, items = response.listing
        if items:
            table = list_table(self.catalog, route, items)
        else:
            text = "Nothing matches this filter." if query else f"There are no {otype.collection} yet."
            table = tag("p", text, class_="empty-list")
        active = any(params.values())
        clear = (
            tag("a", "Clear", href=url(route.path, anchor=anchor(otype)), class_="btn btn-ghost")
            if active
            else Markup("")
        )
        create = (
            tag("a", f"Create {otype.name}", href=url(route.path, "new"), class_="btn btn-primary")
            if otype.creatable
            else Markup("")
        )
        return render(
            "explorer_list.html",
            notice=Markup(notice + (self.notice() if "deleted" in self.query else "")),
            action=url(route.path, anchor=anchor(otype)),
            collection=otype.collection,
            filters=filter_inputs(otype, params),
            clear=clear,
            create=create,
            table=table,
            pager=pager(route, params, offset, len(items), total, PAGE_LIMIT),
        )

    async def singleton_panel(self, route: Route, state: FormState) -> Markup:
        otype = route.otype
        response = await self.call("GET", route.path)
        assert response.item is not None
        pairs = response.item[2]
        if not otype.updatable:
            return facts(self.catalog, pairs)
        notice = self.notice() if "saved" in self.query else Markup("")
        current = {(f.name if isinstance(f, Field) else f): shown(f, v) for f, v in pairs}
        form = self.form(otype, url(route.path), "update", "Save", current, state, creating=False)
        return Markup(notice + form)

    def query_panel(self, route: Route, state: FormState) -> Markup:
        otype = route.otype
        result = Markup("")
        if state.result is not None:
            result = Markup(tag("h3", "Result") + facts(self.catalog, state.result[2]))
        form = self.form(otype, url(route.path), "query", "Run query", {}, state, creating=True)
        return Markup(form + result)

    # forms --------------------------------------------------------------------------
    def form(
        self,
        otype: ObjectType,
        action: str,
        op: str,
        submit: str,
        current: Mapping[str, str],
        state: FormState,
        *,
        creating: bool,
        cancel: str = "",
    ) -> Markup:
        values = state.values if state.values is not None else current
        errors = state.problem.fields if state.problem else {}
        fields = join(
            render_field(
                f,
                "" if f.access in (Access.ACTION, Access.WRITE_ONLY) and state.values is None else values.get(f.name, ""),
                creating=creating,
                error=errors.get(f.name, ""),
                browse=self.browse_url(f),
            )
            for f in form_fields(otype, creating)
        )
        ro = read_only_fields(otype, creating)
        readonly = (
            render(
                "explorer_readonly.html",
                # ``current`` holds the values as shown: render them as text.
                facts=facts(self.catalog, [(f.name, current.get(f.name) or None) for f in ro]),
            )
            if ro and not otype.singleton
            else Markup("")
        )
        problem = (
            render("explorer_problem.html", summary=state.problem.summary, raw=state.problem.raw)
            if state.problem
            else Markup("")
        )
        return render(
            "explorer_form.html",
            problem=problem,
            action=action,
            csrf=self.session.csrf,
            op=op,
            fields=fields,
            readonly=readonly,
            submit=submit,
            cancel=tag("a", "Cancel", href=cancel, class_="btn btn-ghost") if cancel else Markup(""),
        )

    def browse_url(self, f: Field) -> str:
        if not isinstance(f.kind, Ref):
            return ""
        target = self.catalog.by_name.get(f.kind.target)
        if target is None or target.parent is not None or target.singleton:
            return ""
        return url(target.collection, anchor=anchor(target))

    async def form_page(self, route: Route, state: FormState, status: int = 200) -> web.Response:
        otype = route.otype
        creating = route.oid is None
        current: dict[str, str] = {}
        if not creating:
            current = await self.current(route)
        heading = f"New {otype.name}" if creating else f"Edit {otype.name}"
        back = collection_url(route) if creating else url(object_path(route))
        form = self.form(
            otype,
            url(object_path(route)),
            "create" if creating else "update",
            f"Create {otype.name}" if creating else "Save",
            current,
            state,
            creating=creating,
            cancel=back,
        )
        body = render(
            "explorer_form_page.html",
            crumbs=crumbs(self.catalog, route, "new" if creating else "edit"),
            heading=heading,
            apipath=f"{'POST' if creating else 'PUT'} {API_BASE}/{object_path(route)}",
            form=form,
        )
        return self.page(body, status)

    async def current(self, route: Route) -> dict[str, str]:
        response = await self.call("GET", object_path(route))
        assert response.item is not None
        return {(f.name if isinstance(f, Field) else f): shown(f, v) for f, v in response.item[2]}

    # one object ---------------------------------------------------------------------
    async def object_page(
        self,
        route: Route,
        expanded: Route | None = None,
        problem: Problem | None = None,
        status: int = 200,
    ) -> web.Response:
        otype = route.otype
        response = await self.call("GET", object_path(route))
        assert response.item is not None
        pairs = response.item[2]
        actions = []
        if otype.updatable:
            actions.append(tag("a", "Edit", href=url(object_path(route), "edit"), class_="btn btn-primary"))
        if otype.deletable:
            actions.append(tag("a", "Delete", href=url(object_path(route), "delete"), class_="btn btn-danger-ghost"))
        rows = [
            await self.type_row(child, f"{object_path(route)}/{child.collection}", expanded, FormState(), url(object_path(route)))
            for child in self.catalog.children.get(otype.name, {}).values()
        ]
        views = otype.hooks.views() if otype.hooks else {}
        for name in views:
            rows.append(await self.view_row(route, name, expanded))
        inside = (
            render("explorer_inside.html", what=words(otype.name), rows=render("explorer_types.html", rows=join(rows)))
            if rows
            else Markup("")
        )
        notice = self.notice() if expanded is None else Markup("")
        if problem is not None:
            notice = render("explorer_problem.html", summary=problem.summary, raw=problem.raw)
        body = render(
            "explorer_object.html",
            crumbs=crumbs(self.catalog, route),
            notice=notice,
            heading=_title(otype, pairs),
            apipath=f"{API_BASE}/{object_path(route)}",
            actions=join(actions),
            facts=facts(self.catalog, pairs),
            inside=inside,
        )
        return self.page(body, status)

    async def view_row(self, route: Route, name: str, expanded: Route | None) -> Markup:
        is_open = expanded is not None and expanded.view == name
        path = f"{object_path(route)}/{name}"
        key = f"v-{name}"
        panel = Markup("")
        if is_open and expanded is not None:
            panel = render("explorer_panel.html", label=name, body=await self.panel(expanded, FormState()))
        return render(
            "explorer_type.html",
            open=" is-open" if is_open else "",
            anchor=key,
            href=url(object_path(route), anchor=key) if is_open else url(path, anchor=key),
            expanded="true" if is_open else "false",
            chevron="▼" if is_open else "►",
            label=name,
            summary="Read-only view",
            panel=panel,
        )

    async def confirm_page(self, route: Route) -> web.Response:
        otype = route.otype
        response = await self.call("GET", object_path(route))
        assert response.item is not None
        children = [c.collection for c in self.catalog.children.get(otype.name, {}).values()]
        what = words(otype.name)
        description = f"This {what} will be deleted"
        description += f", with its {' and '.join(children)}." if children else "."
        description += " This cannot be undone."
        body = render(
            "explorer_confirm.html",
            crumbs=crumbs(self.catalog, route, "delete"),
            what=what,
            description=description,
            facts=facts(self.catalog, [p for p in response.item[2] if p[1] is not None][:6]),
            action=url(object_path(route)),
            csrf=self.session.csrf,
            cancel=url(object_path(route)),
        )
        return self.page(body)


def _title(otype: ObjectType, pairs: Sequence[tuple[Field | str, Any]]) -> str:
    """``coSpace “Team room”``: the element name and its first listed text value."""
    for f, v in pairs:
        if isinstance(f, Field) and f.listed and f.name in ("name", "uri", "jid", "userJid") and v:
            return f"{otype.name} “{v}”"
    return otype.name


# request handling -------------------------------------------------------------------


async def _explorer(request: web.Request) -> Explorer | web.Response:
    session = session_of(request)
    mount = request.app.get(API_MOUNT)
    http = await mount.opened() if mount is not None else None
    if http is None:
        return page(session, TITLE, render("explorer_unavailable.html"), active=BASE, status=503)
    return Explorer(request, session, http, http.api.catalog, dict(request.query))


def _not_found(ex: Explorer, failure: ApiFailure) -> web.Response:
    body = render(
        "error.html",
        heading="No such object",
        text=f"{reason_text(failure.reason)} ({failure.reason})",
    )
    return page(ex.session, TITLE, body, active=BASE, status=404)


async def explore(request: web.Request) -> web.StreamResponse:
    ex = await _explorer(request)
    if isinstance(ex, web.Response):
        return ex
    path = request.match_info.get("path", "").strip("/")
    try:
        if not path:
            return await ex.index()
        route = ex.catalog.resolve(path)
        if request.method == "POST":
            return await _submit(ex, route)
        return await _show(ex, route)
    except ApiFailure as failure:
        return _not_found(ex, failure)


async def _show(ex: Explorer, route: Route) -> web.Response:
    otype = route.otype
    q = ex.query
    if route.view:
        return await ex.object_page(ex.catalog.resolve(object_path(route)), expanded=route)
    if otype.singleton:
        return await ex.index(route)
    if route.oid is None:
        if "new" in q and otype.creatable:
            return await ex.form_page(route, FormState())
        if otype.parent is None:
            return await ex.index(route)
        return await ex.object_page(ex.catalog.resolve(parent_path(route)), expanded=route)
    if "edit" in q and otype.updatable:
        return await ex.form_page(route, FormState())
    if "delete" in q and otype.deletable:
        return await ex.confirm_page(route)
    return await ex.object_page(route)


def _redirect(location: str) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(location)


async def _submit(ex: Explorer, route: Route) -> web.Response:
    otype = route.otype
    form = await ex.request.post()
    op = form.get(OP_FIELD)
    if otype.query:
        return await _run_query(ex, route, form)
    if route.view:
        raise web.HTTPMethodNotAllowed("POST", ["GET"])
    creating = route.oid is None and not otype.singleton
    if op == "delete" and route.oid is not None and otype.deletable:
        return await _delete(ex, route)
    if op not in ("create", "update") or (creating and not otype.creatable) or (not creating and not otype.updatable):
        raise web.HTTPBadRequest(text="unknown operation")
    fields = form_fields(otype, creating)
    values = submitted(form, fields)
    current = None if creating else await ex.current(route)
    pairs = api_form(fields, values, current)
    method = "POST" if creating else "PUT"
    try:
        response = await ex.call(method, object_path(route), form=pairs)
    except ApiFailure as failure:
        state = FormState(values, explain(failure, otype, ex.catalog, (k for k, _ in pairs)))
        if otype.singleton:
            return await ex.index(route, state, status=400)
        return await ex.form_page(route, state, status=400)
    _log(ex, method, object_path(route), pairs)
    if creating:
        location = (response.location or "").removeprefix(API_BASE + "/")
        raise _redirect(url(location, "created"))
    if otype.singleton:
        raise _redirect(url(route.path, "saved", anchor=anchor(otype)))
    raise _redirect(url(object_path(route), "saved"))


async def _delete(ex: Explorer, route: Route) -> web.Response:
    try:
        await ex.call("DELETE", object_path(route))
    except ApiFailure as failure:
        if failure.reason == route.otype.failure_not_found:
            raise
        return await ex.object_page(route, problem=explain(failure, route.otype, ex.catalog), status=400)
    _log(ex, "DELETE", object_path(route), [])
    raise _redirect(url(route.path, "deleted", anchor=anchor(route.otype)))


async def _run_query(ex: Explorer, route: Route, form: Mapping[str, Any]) -> web.Response:
    fields = form_fields(route.otype, True)
    values = submitted(form, fields)
    pairs = api_form(fields, values, None)
    try:
        response = await ex.call("POST", route.path, form=pairs)
    except ApiFailure as failure:
        problem = explain(failure, route.otype, ex.catalog, (k for k, _ in pairs))
        return await ex.index(route, FormState(values, problem), status=400)
    return await ex.index(route, FormState(values, result=response.item))


def _log(ex: Explorer, method: str, path: str, pairs: Sequence[tuple[str, str]]) -> None:
    names = ", ".join(k for k, _ in pairs) or "nothing"
    log.info(
        "web admin: %s from %s: API explorer %s /api/v1/%s (%s)",
        ex.session.user,
        peer_of(ex.request),
        method,
        path,
        names,
    )


def add_routes(app: web.Application) -> None:
    app.router.add_get(BASE, explore)
    app.router.add_get(BASE + "/{path:.+}", explore)
    app.router.add_post(BASE + "/{path:.+}", explore)
