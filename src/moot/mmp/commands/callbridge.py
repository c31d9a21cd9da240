"""``callbridge`` commands (guide 3.4): listening interfaces, certificates, trust, restart."""

from __future__ import annotations

from moot.mmp.commands.common import assign_certs, restart_component, show_file
from moot.mmp.context import CommandFailed, Context
from moot.mmp.registry import CONFIG, READ, registry
from moot.node.settings import CALLBRIDGE_CERTS, CALLBRIDGE_LISTEN, CALLBRIDGE_TRUST, INTERFACES

command = registry.command

TRUST_KINDS = {
    "c2w": "C2W trusted certs",
    "cluster": "Callbridge cluster trusted certs",
    "branding": "Callbridge trust branding certs",
    "ucm": "UCM trusted certs",
    "imps": "IMPS trusted certs",
}


def _trust(ctx: Context) -> dict[str, str]:
    return dict(ctx.node.config.get(CALLBRIDGE_TRUST))


@command("callbridge", help="Show the call bridge configuration and status", roles=READ)
async def callbridge_status(ctx: Context) -> None:
    config = ctx.node.config
    certs = config.get(CALLBRIDGE_CERTS) or {}
    trust = _trust(ctx)
    status = await ctx.node.control.status()
    comp = status.component("callbridge") if status else None
    rows: list[tuple[str, object]] = [
        ("Listening interfaces", " ".join(config.get(CALLBRIDGE_LISTEN)) or "none"),
        ("Key file", show_file(certs.get("key"))),
        ("Certificate file", show_file(certs.get("crt"))),
    ]
    if certs.get("bundle"):
        rows.append(("CA Bundle file", certs["bundle"]))
    rows += [(label, show_file(trust.get(kind))) for kind, label in TRUST_KINDS.items()]
    rows.append(("Status", f"{comp.state}: {comp.detail}" if comp else "node not running"))
    ctx.table(rows)


@command(
    "callbridge listen <if:a|b|c|d|none>...",
    help="Interfaces the call bridge listens on (takes effect on 'callbridge restart')",
    roles=CONFIG,
)
async def callbridge_listen(ctx: Context, if_: list[str]) -> None:
    if "none" in if_:
        if len(if_) > 1:
            raise CommandFailed("'none' cannot be combined with interfaces")
        chosen: list[str] = []
    else:
        chosen = [i for i in INTERFACES if i in if_]
    ctx.node.config.set(CALLBRIDGE_LISTEN, chosen)
    ctx.success(
        f"call bridge will listen on {' '.join(chosen) or 'no interfaces'}; "
        "apply with 'callbridge restart'"
    )


@command(
    "callbridge certs <key> <crt> [<bundle>]",
    help="Key and certificate (and CA bundle) for SIP TLS; apply with 'callbridge restart'",
    roles=CONFIG,
)
async def callbridge_certs(ctx: Context, key: str, crt: str, bundle: str | None) -> None:
    assign_certs(ctx, CALLBRIDGE_CERTS, key, crt, bundle)
    ctx.success("call bridge certificates set; apply with 'callbridge restart'")


@command("callbridge certs none", help="Remove the call bridge certificates", roles=CONFIG)
async def callbridge_certs_none(ctx: Context) -> None:
    ctx.node.config.set(CALLBRIDGE_CERTS, None)
    ctx.success("call bridge certificates removed; apply with 'callbridge restart'")


@command(
    f"callbridge trust <kind:{'|'.join(TRUST_KINDS)}> <bundle>",
    help="Trust a certificate bundle for connections of that kind ('none' removes it)",
    roles=CONFIG,
)
async def callbridge_trust(ctx: Context, kind: str, bundle: str) -> None:
    trust = _trust(ctx)
    if bundle.lower() == "none":
        trust.pop(kind, None)
    else:
        from moot.pki import PkiError, check_bundle

        try:
            check_bundle(ctx.node.datadir.files, bundle)
        except (PkiError, ValueError) as exc:
            raise CommandFailed(str(exc)) from None
        trust[kind] = bundle
    ctx.node.config.set(CALLBRIDGE_TRUST, trust)
    ctx.success(f"{TRUST_KINDS[kind]}: {trust.get(kind, 'none')}; apply with 'callbridge restart'")


@command("callbridge restart", help="Restart the call bridge alone (applies its settings and licence)", roles=CONFIG)
async def callbridge_restart(ctx: Context) -> None:
    await restart_component(ctx, "callbridge")
