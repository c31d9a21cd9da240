"""Every declared API object type, checked generically through the engine.

For each type: the declaration is coherent; an object created with every
writable parameter reads back the same; lists show the listed fields and
``total``; filters narrow the list; bad values, unknown parameters and
missing references are refused with the product's failure reasons; PUT is
partial and an empty value unsets; DELETE makes the object unknown.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from moot.api.encoding import xml_one
from moot.api.engine import Api
from moot.api.model import (
    Access,
    Boolean,
    Choice,
    FilterOp,
    Number,
    ObjectType,
)
from tests.api_fixtures import (
    CATALOG,
    COLLECTIONS,
    NOWHERE,
    TYPES,
    Maker,
    expected,
    failure,
    listing,
)


@pytest.mark.parametrize("otype", CATALOG.types, ids=lambda t: t.name)
def test_declaration_is_coherent(otype: ObjectType) -> None:
    names = [f.name for f in otype.fields]
    assert len(names) == len({n.lower() for n in names}), f"duplicate field in {otype.name}"
    assert otype.summary, f"{otype.name} has no summary"
    for f in otype.fields:
        if f.ref is not None:
            assert f.ref in TYPES, f"{otype.name}.{f.name} refers to undeclared {f.ref}"
        if f.listed:
            assert f.shown, f"{otype.name}.{f.name} is listed but never shown"
        if f.default is not None:
            assert f.kind.parse(f.kind.show(f.default)) == f.default, f"{otype.name}.{f.name} default"
        if f.required:
            assert f.writable, f"{otype.name}.{f.name} is required but not settable"
    for flt in otype.filters:
        if flt.op in (FilterOp.EQUALS, FilterOp.CONTAINS):
            assert otype.field(flt.field or "") is not None, f"{otype.name} filter {flt.param}"
    if otype.parent is not None:
        assert otype.parent in TYPES
    if any(flt.op is FilterOp.SEARCH for flt in otype.filters):
        assert otype.searchable_fields or otype.name == "tenantGroup", f"{otype.name} filter= searches nothing"


def test_every_type_the_issue_lists_is_declared() -> None:
    wanted = {
        "coSpace", "coSpaceUser", "accessMethod", "coSpaceTemplate", "accessMethodTemplate", "user",
        "userProfile", "tenant", "tenantGroup", "callLegProfile", "callProfile", "callBrandingProfile",
        "ivrBrandingProfile", "dtmfProfile", "dialInSecurityProfile", "compatibilityProfile",
        "webBridgeProfile", "inboundDialPlanRule", "outboundDialPlanRule", "forwardingDialPlanRule",
        "dialTransform", "ivr", "layoutTemplate", "callBridge", "callBridgeGroup", "webBridge",
        "turnServer", "ldapServer", "ldapMapping", "ldapSource", "directorySearchLocation",
        "cdrReceiver", "status", "alarm", "database", "cluster", "profiles", "accessQuery",
        "uriUsageQuery", "call", "callLeg", "participant",
    }
    assert wanted <= set(TYPES)
    paths = {t.collection for t in CATALOG.types}
    assert {"system/status", "system/alarms", "system/database", "system/configuration/cluster",
            "system/profiles", "system/cdrReceivers", "forwardingDialPlanRules"} <= paths


# --- the create / read / list / update / delete cycle -----------------------------------


@pytest.mark.parametrize("otype", COLLECTIONS, ids=lambda t: t.name)
def test_create_with_every_parameter_reads_back(api: Api, otype: ObjectType) -> None:
    maker = Maker(api)
    form = maker.form(otype, everything=True)
    path = maker.path(otype)
    oid = maker.create(otype, form, path)
    element = maker.get(otype, oid, path)
    assert element.tag == otype.name and element.get("id") == oid
    for name, raw in form:
        f = otype.field(name)
        assert f is not None
        shown = element.find(name)
        if f.shown:
            assert shown is not None and shown.text == expected(f, raw), f"{otype.name}.{name}"
        else:
            assert shown is None, f"{otype.name}.{name} must never be shown"

    # A second, minimal object: the list counts both and shows only listed fields.
    maker.create(otype, maker.form(otype, everything=False), path)
    root = listing(api, path)
    assert root.tag == otype.collection.split("/")[-1] and root.get("total") == "2"
    first = root.find(f"{otype.name}[@id='{oid}']")
    assert first is not None
    listed = {f.name for f in otype.listed_fields}
    for child in first:
        assert child.tag in listed, f"{otype.name} list shows unlisted {child.tag}"
    for name, raw in form:
        if name in listed:
            assert first.findtext(name) == expected(otype.field(name), raw)  # type: ignore[arg-type]


@pytest.mark.parametrize("otype", COLLECTIONS, ids=lambda t: t.name)
def test_bad_input_is_refused_and_changes_nothing(api: Api, otype: ObjectType) -> None:
    maker = Maker(api)
    path = maker.path(otype)
    base = maker.form(otype, everything=False)
    err = failure(api, "POST", path, [*base, ("noSuchParameter", "1")])
    assert (err.reason, err.attrs) == ("parameterError", {"parameter": "noSuchParameter", "error": "unrecognised"})
    for f in otype.fields:
        if f.writable and isinstance(f.kind, (Choice, Boolean, Number)):
            err = failure(api, "POST", path, [*base, (f.name, "notAValue")])
            assert (err.reason, err.attrs) == ("parameterError", {"parameter": f.name, "error": "invalidValue"})
        if f.writable and f.ref is not None and f.access is not Access.ACTION:
            err = failure(api, "POST", path, [*[p for p in base if p[0] != f.name], (f.name, NOWHERE)])
            assert err.reason == TYPES[f.ref].failure_not_found
    for f in otype.fields:
        if f.required:
            err = failure(api, "POST", path, [p for p in base if p[0] != f.name])
            assert (err.reason, err.attrs.get("error")) == ("parameterError", "required")
    assert listing(api, path).get("total") == "0"
    err = failure(api, "GET", f"{path}/{NOWHERE}")
    assert err.reason == otype.failure_not_found


@pytest.mark.parametrize("otype", [t for t in COLLECTIONS if t.updatable], ids=lambda t: t.name)
def test_put_is_partial_and_empty_unsets(api: Api, otype: ObjectType) -> None:
    maker = Maker(api)
    path = maker.path(otype)
    form = maker.form(otype, everything=True)
    oid = maker.create(otype, form, path)
    optional = [f for f in otype.fields if f.shown and f.writable and not f.required and not f.create_only]
    if not optional:
        api.handle("PUT", f"{path}/{oid}", [], [])
        assert maker.get(otype, oid, path).get("id") == oid
        return
    target, untouched = optional[0], optional[1:]
    new = maker.value(otype, target)
    api.handle("PUT", f"{path}/{oid}", [], [(target.name, new)])
    element = maker.get(otype, oid, path)
    assert element.findtext(target.name) == expected(target, new)
    before = dict(form)
    for f in untouched:
        if f.name in before:
            assert element.findtext(f.name) == expected(f, before[f.name]), f"PUT changed {f.name}"
    api.handle("PUT", f"{path}/{oid}", [], [(target.name, "")])
    assert maker.get(otype, oid, path).find(target.name) is None
    create_only = [f for f in otype.fields if f.create_only]
    for f in create_only:
        err = failure(api, "PUT", f"{path}/{oid}", [(f.name, dict(form)[f.name])])
        assert err.attrs.get("error") == "unrecognised"


@pytest.mark.parametrize("otype", [t for t in COLLECTIONS if t.deletable], ids=lambda t: t.name)
def test_delete_then_get_does_not_exist(api: Api, otype: ObjectType) -> None:
    maker = Maker(api)
    path = maker.path(otype)
    oid = maker.create(otype, maker.form(otype, everything=False), path)
    api.handle("DELETE", f"{path}/{oid}", [], [])
    assert failure(api, "GET", f"{path}/{oid}").reason == otype.failure_not_found
    assert failure(api, "DELETE", f"{path}/{oid}").reason == otype.failure_not_found
    assert listing(api, path).get("total") == "0"


# --- filters -----------------------------------------------------------------------------


def _filterable(kind: FilterOp) -> list[ObjectType]:
    return [t for t in COLLECTIONS if any(flt.op is kind for flt in t.filters)]


@pytest.mark.parametrize("otype", [t for t in _filterable(FilterOp.SEARCH) if t.searchable_fields],
                         ids=lambda t: t.name)
def test_filter_matches_a_substring_of_searchable_fields(api: Api, otype: ObjectType) -> None:
    maker = Maker(api)
    path = maker.path(otype)
    form = maker.form(otype, everything=True)
    maker.create(otype, form, path)
    maker.create(otype, maker.form(otype, everything=False), path)
    searchable = {f.name for f in otype.searchable_fields}
    name, raw = next((n, v) for n, v in form if n in searchable)
    value = expected(otype.field(name), raw)  # type: ignore[arg-type]
    needle = value[1:].upper()  # a part of it, in another case
    hits = listing(api, path, [("filter", needle)])
    assert hits.get("total") == "1", f"{otype.name} filter on {name}"
    assert listing(api, path, [("filter", "no-such-text-anywhere")]).get("total") == "0"
    assert listing(api, path, [("filter", "")]).get("total") == "2"


@pytest.mark.parametrize("otype", _filterable(FilterOp.EQUALS), ids=lambda t: t.name)
def test_id_filters_select_by_reference(api: Api, otype: ObjectType) -> None:
    maker = Maker(api)
    path = maker.path(otype)
    form = dict(maker.form(otype, everything=True))
    maker.create(otype, list(form.items()), path)
    for flt in otype.filters:
        if flt.op is not FilterOp.EQUALS:
            continue
        f = otype.field(flt.field or "")
        assert f is not None
        if f.name in form:
            value = form[f.name]
        elif f.ref is not None:
            continue  # set by the server (e.g. a call leg's participant)
        else:
            value = "nothing"
        root = listing(api, path, [(flt.param, value)])
        assert root.get("total") == "1", f"{otype.name} {flt.param}"
        other = NOWHERE if f.ref else "someone-else@example.org"
        assert listing(api, path, [(flt.param, other)]).get("total") == "0"
        if f.ref is not None:
            err = failure(api, "GET", path, query=[(flt.param, "not-a-guid")])
            assert err.attrs == {"parameter": flt.param, "error": "invalidValue"}


@pytest.mark.parametrize("otype", _filterable(FilterOp.USAGE), ids=lambda t: t.name)
def test_usage_filter_tells_referenced_from_unreferenced(api: Api, otype: ObjectType) -> None:
    maker = Maker(api)
    used = maker.create(otype)
    unused = maker.create(otype)
    referrers = [(TYPES[t], f) for t, f in api.store.referrers[otype.name] if not TYPES[t].query]
    # Prefer an ordinary object as the referrer; the system profiles otherwise.
    ref_type, ref_field = sorted(referrers, key=lambda r: r[0].singleton)[0]
    if ref_type.singleton:
        api.handle("PUT", "/" + ref_type.collection, [], [(ref_field, used)])
    else:
        maker.create(ref_type, [*maker.form(ref_type, everything=False), (ref_field, used)])
    path = "/" + otype.collection
    referenced = listing(api, path, [("usageFilter", "referenced")])
    unreferenced = listing(api, path, [("usageFilter", "unreferenced")])
    assert [e.get("id") for e in referenced] == [used]
    assert [e.get("id") for e in unreferenced] == [unused]
    assert failure(api, "GET", path, query=[("usageFilter", "sometimes")]).attrs["parameter"] == "usageFilter"
    # Deleting a referenced profile unsets the reference.
    api.handle("DELETE", f"{path}/{used}", [], [])
    if ref_type.singleton:
        item = api.handle("GET", "/" + ref_type.collection, [], []).item
        assert item is not None and used not in xml_one(item).decode()
    else:
        assert used not in ET.tostring(listing(api, "/" + ref_type.collection)).decode()
        with api.store.reader() as txn:
            assert txn.references(otype.name, used) == 0
