"""The OpenAPI 3 document of ``/api/v1``, generated from the object declarations."""

from __future__ import annotations

from typing import Any

from moot import __version__
from moot.api.engine import PAGE_LIMIT, Catalog
from moot.api.model import FilterOp, ObjectType

FORM = "application/x-www-form-urlencoded"
#: Every operation may answer these (an id with a "/" in it reaches no object type: 404).
ERRORS = (400, 401, 404, 405, 503)


def _failure_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["failureDetails"],
        "properties": {"failureDetails": {"type": "object", "minProperties": 1, "maxProperties": 1}},
    }


def _errors(*statuses: int) -> dict[str, Any]:
    texts = {
        400: "Refused: the failure reason says why (nothing was changed)",
        401: "Missing or wrong credentials",
        404: "No such object type",
        405: "Method not allowed on this object",
        503: "The database is busy or not ready",
    }
    out: dict[str, Any] = {}
    for s in statuses:
        if s == 401:
            out["401"] = {"description": texts[401]}
        else:
            out[str(s)] = {
                "description": texts[s],
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/failureDetails"}},
                    "text/xml": {"schema": {"type": "string"}},
                },
            }
    return out


def _object_schema(otype: ObjectType, fields: str) -> dict[str, Any]:
    props: dict[str, Any] = {"id": {"type": "string"}} if not otype.singleton else {}
    for f in otype.fields:
        if fields == "listed" and not f.listed:
            continue
        if not f.shown:
            continue
        props[f.name] = f.kind.schema()
    return {"type": "object", "properties": props}


def _form_schema(otype: ObjectType, creating: bool) -> dict[str, Any]:
    props: dict[str, Any] = {}
    required: list[str] = []
    for f in otype.fields:
        if not f.writable or (f.create_only and not creating):
            continue
        props[f.name] = f.kind.schema()
        if creating and f.required:
            required.append(f.name)
    schema: dict[str, Any] = {"type": "object", "properties": props, "additionalProperties": False}
    if required:
        schema["required"] = required
    return schema


def _ok(schema: dict[str, Any] | None, description: str, location: bool = False) -> dict[str, Any]:
    resp: dict[str, Any] = {"description": description}
    if schema is not None:
        resp["content"] = {"application/json": {"schema": schema}, "text/xml": {"schema": {"type": "string"}}}
    if location:
        resp["headers"] = {"Location": {"schema": {"type": "string"}, "description": "/api/v1/<collection>/<id>"}}
    return resp


def _id_param(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


def _paths_for(cat: Catalog, otype: ObjectType, prefix: str, params: list[dict[str, Any]], out: dict[str, Any]) -> None:
    tag = otype.collection.split("/")[-1]
    coll_path = f"{prefix}/{otype.collection}"
    one = _object_schema(otype, "all")
    if otype.query:
        out[coll_path] = {
            "post": {"tags": [tag], "summary": f"Run {otype.name}", "parameters": params,
                     "requestBody": {"content": {FORM: {"schema": _form_schema(otype, True)}}},
                     "responses": {"200": _ok({"type": "object"}, "The answer"), **_errors(*ERRORS)}},
        }
        return
    if otype.singleton:
        ops: dict[str, Any] = {
            "get": {"tags": [tag], "summary": f"Get {otype.name}", "parameters": params,
                    "responses": {"200": _ok({"type": "object", "properties": {otype.name: one}}, otype.name), **_errors(*ERRORS)}},
        }
        if otype.updatable:
            ops["put"] = {"tags": [tag], "summary": f"Change {otype.name}", "parameters": params,
                          "requestBody": {"content": {FORM: {"schema": _form_schema(otype, False)}}},
                          "responses": {"200": _ok(None, "Changed"), **_errors(*ERRORS)}}
        out[coll_path] = ops
        return
    listed = _object_schema(otype, "listed")
    query = [
        {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0}},
        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 0, "maximum": PAGE_LIMIT}},
    ]
    for flt in otype.filters:
        schema: dict[str, Any] = {"type": "string"}
        if flt.op is FilterOp.USAGE:
            schema = {"type": "string", "enum": ["referenced", "unreferenced"]}
        query.append({"name": flt.param, "in": "query", "schema": schema})
    list_schema = {
        "type": "object",
        "properties": {tag: {"type": "object", "properties": {"total": {"type": "integer"}, otype.name: {"type": "array", "items": listed}}}},
    }
    coll: dict[str, Any] = {
        "get": {"tags": [tag], "summary": f"List {tag}", "parameters": params + query,
                "responses": {"200": _ok(list_schema, f"A page of {tag}"), **_errors(*ERRORS)}},
    }
    if otype.creatable:
        coll["post"] = {"tags": [tag], "summary": f"Create a {otype.name}", "parameters": params,
                        "requestBody": {"content": {FORM: {"schema": _form_schema(otype, True)}}},
                        "responses": {"200": _ok(None, "Created", location=True), **_errors(*ERRORS)}}
    if otype.delete_collection:
        coll["delete"] = {"tags": [tag], "summary": f"Delete every {otype.name}", "parameters": params,
                          "responses": {"200": _ok(None, "Deleted"), **_errors(*ERRORS)}}
    out[coll_path] = coll
    id_name = f"{otype.name}Id"
    item_params = [*params, _id_param(id_name)]
    item_path = f"{coll_path}/{{{id_name}}}"
    item: dict[str, Any] = {
        "get": {"tags": [tag], "summary": f"Get one {otype.name}", "parameters": item_params,
                "responses": {"200": _ok({"type": "object", "properties": {otype.name: one}}, otype.name), **_errors(*ERRORS)}},
    }
    if otype.updatable:
        item["put"] = {"tags": [tag], "summary": f"Change a {otype.name} (only the parameters sent; empty unsets)",
                       "parameters": item_params,
                       "requestBody": {"content": {FORM: {"schema": _form_schema(otype, False)}}},
                       "responses": {"200": _ok(None, "Changed"), **_errors(*ERRORS)}}
    if otype.deletable:
        item["delete"] = {"tags": [tag], "summary": f"Delete a {otype.name}", "parameters": item_params,
                          "responses": {"200": _ok(None, "Deleted"), **_errors(*ERRORS)}}
    out[item_path] = item
    if otype.hooks:
        for view in otype.hooks.views():
            out[f"{item_path}/{view}"] = {
                "get": {"tags": [tag], "summary": f"{view} of a {otype.name}", "parameters": item_params,
                        "responses": {"200": _ok({"type": "object"}, view), **_errors(*ERRORS)}},
            }
    for child in cat.children.get(otype.name, {}).values():
        _paths_for(cat, child, item_path, item_params, out)
    for scoped, _field in cat.scoped.get(otype.name, {}).values():
        _paths_for(cat, scoped, item_path, item_params, out)


def document(cat: Catalog) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for otype in cat.types:
        if otype.parent is None:
            _paths_for(cat, otype, "", [], paths)
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Moot REST API",
            "version": __version__,
            "description": "The meeting server API (/api/v1): objects, parameters and failure reasons "
            "as the commercial product's API 2.8-3.0. Requests are form-urlencoded; responses are "
            "text/xml, or JSON with 'Accept: application/json'.",
        },
        "servers": [{"url": "/api/v1"}],
        "security": [{"basic": []}],
        "components": {
            "securitySchemes": {"basic": {"type": "http", "scheme": "basic"}},
            "schemas": {"failureDetails": _failure_schema()},
        },
        "paths": paths,
    }
