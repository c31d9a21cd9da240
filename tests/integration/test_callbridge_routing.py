"""Inbound, forwarding and outbound dial plans and profile inheritance, on SQLite and PostgreSQL."""

from __future__ import annotations

from moot.api.engine import Api
from moot.callbridge import profiles, routing


def post(api: Api, path: str, **form: str) -> str:
    response = api.handle("POST", path, [], list(form.items()))
    assert response.location, response
    return response.location.rsplit("/", 1)[-1]


def route(api: Api, user: str | None, domain: str) -> routing.Target:
    with api.store.reader() as txn:
        return routing.route_inbound(txn, user, domain)


def test_inbound_rules_resolve_spaces_access_methods_and_ivrs(api: Api) -> None:
    space = post(api, "/coSpaces", name="Sales", uri="sales", secondaryUri="8001", passcode="42")
    method = post(api, f"/coSpaces/{space}/accessMethods", uri="sales.guest", passcode="7")
    ivr = post(api, "/ivrs", uri="ivr")
    assert route(api, "sales", "meet.example.com") == routing.Rejected(404, "Not Found")
    post(api, "/inboundDialPlanRules", domain="meet.example.com")
    target = route(api, "SALES", "Meet.Example.com")
    assert isinstance(target, routing.SpaceTarget) and target.space["id"] == space
    assert target.passcode == "42"
    secondary = route(api, "8001", "meet.example.com")
    assert isinstance(secondary, routing.SpaceTarget) and secondary.space["id"] == space
    guest = route(api, "sales.guest", "meet.example.com")
    assert isinstance(guest, routing.SpaceTarget) and guest.access_method is not None
    assert guest.access_method["id"] == method and guest.passcode == "7"
    by_ivr = route(api, "ivr", "meet.example.com")
    assert isinstance(by_ivr, routing.IvrTarget) and by_ivr.ivr["id"] == ivr
    assert isinstance(route(api, "nobody", "meet.example.com"), routing.Rejected)
    assert isinstance(route(api, "sales", "other.example.com"), routing.Rejected)


def test_rule_flags_and_tenants_limit_what_resolves(api: Api) -> None:
    tenant = post(api, "/tenants", name="Acme")
    post(api, "/coSpaces", name="Acme room", uri="acme", tenant=tenant)
    post(api, "/ivrs", uri="ivr")
    post(api, "/inboundDialPlanRules", domain="a.example", resolveTocoSpaces="false")
    post(api, "/inboundDialPlanRules", domain="b.example", resolveToIvrs="false")
    other = post(api, "/tenants", name="Other")
    post(api, "/inboundDialPlanRules", domain="c.example", tenant=other)
    post(api, "/inboundDialPlanRules", domain="d.example", tenant=tenant)
    assert isinstance(route(api, "acme", "a.example"), routing.Rejected)
    assert isinstance(route(api, "ivr", "a.example"), routing.IvrTarget)
    assert isinstance(route(api, "acme", "b.example"), routing.SpaceTarget)
    assert isinstance(route(api, "ivr", "b.example"), routing.Rejected)
    assert isinstance(route(api, "acme", "c.example"), routing.Rejected)
    assert isinstance(route(api, "acme", "d.example"), routing.SpaceTarget)


def test_forwarding_rules_forward_or_reject_by_pattern_and_priority(api: Api) -> None:
    post(api, "/forwardingDialPlanRules", matchPattern="*.partner.com", destinationDomain="gw.partner.com",
         action="forward", priority="1")
    post(api, "/forwardingDialPlanRules", matchPattern="bad.partner.com", action="reject", priority="5")
    forward = route(api, "bob", "eu.partner.com")
    assert isinstance(forward, routing.ForwardTarget)
    assert (forward.user, forward.domain) == ("bob", "gw.partner.com")
    assert route(api, "bob", "bad.partner.com") == routing.Rejected(403, "Forbidden by forwarding dial plan")
    assert isinstance(route(api, "bob", "elsewhere.com"), routing.Rejected)


def test_outbound_rules_in_priority_order_with_wildcards(api: Api) -> None:
    post(api, "/outboundDialPlanRules", domain="*.example.com", sipProxy="sbc1.example.net", priority="1")
    post(api, "/outboundDialPlanRules", domain="pbx.example.com", sipProxy="pbx:5070", priority="10",
         failureAction="continue", sipControlEncryption="encrypted")
    post(api, "/outboundDialPlanRules", domain="*", priority="0")
    post(api, "/outboundDialPlanRules", domain="pbx.example.com", trunkType="lync")
    with api.store.reader() as txn:
        routes = routing.outbound_routes(txn, "PBX.example.com")
        other = routing.outbound_routes(txn, "other.org")
    assert [(r.proxy, r.continue_on_failure, r.encryption) for r in routes] == [
        ("pbx:5070", True, "encrypted"), ("sbc1.example.net", False, "auto"), (None, False, "auto")]
    assert [r.proxy for r in other] == [None]


def test_profiles_inherit_from_access_method_to_system(api: Api) -> None:
    system_legs = post(api, "/callLegProfiles", rxAudioMute="true", sipMediaEncryption="required")
    api.handle("PUT", "/system/profiles", [], [("callLegProfile", system_legs)])
    tenant_legs = post(api, "/callLegProfiles", txAudioMute="true")
    tenant_calls = post(api, "/callProfiles", participantLimit="5")
    tenant = post(api, "/tenants", name="T", callLegProfile=tenant_legs, callProfile=tenant_calls)
    space_legs = post(api, "/callLegProfiles", sipMediaEncryption="prohibited")
    space = post(api, "/coSpaces", name="S", uri="s", tenant=tenant, callLegProfile=space_legs)
    method_legs = post(api, "/callLegProfiles", needsActivation="true")
    method = post(api, f"/coSpaces/{space}/accessMethods", uri="s.host", callLegProfile=method_legs)
    with api.store.reader() as txn:
        from moot.api.objects.cospaces import ACCESS_METHOD, COSPACE

        space_row = txn.get(COSPACE, space)
        method_row = txn.get(ACCESS_METHOD, method)
        plain = profiles.effective(txn, space_row)
        via_method = profiles.effective(txn, space_row, method_row)
        bare = profiles.effective(txn, None)
    assert plain.media_encryption == "prohibited"
    assert plain.leg["rxAudioMute"] is True and plain.leg["txAudioMute"] is True
    assert plain.participant_limit == 5
    assert via_method.leg["needsActivation"] is True and via_method.media_encryption == "prohibited"
    assert "needsActivation" not in plain.leg
    assert bare.media_encryption == "required" and bare.participant_limit is None
