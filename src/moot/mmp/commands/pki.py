"""MMP `pki` commands: keys, CSRs and self-signed certificates in the file store (guide 3.5.1).

Every file is a plain name in the file store that SFTP serves. Nothing is ever overwritten:
``pki csr`` and ``pki selfsigned`` refuse names whose files exist (``pki unlink`` them first),
and ``pki unlink`` refuses files a component is configured to use.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from moot.mmp.context import CommandFailed, Context
from moot.mmp.registry import ALL_MMP, CRYPTO, registry
from moot.pki.catalog import catalog, holders_of
from moot.pki.chain import verify_chain
from moot.pki.csr import make_csr
from moot.pki.errors import PkiError
from moot.pki.inspect import describe_certificate, describe_csr, describe_key, show_time
from moot.pki.keys import DEFAULT_KEY_TYPE, KEY_TYPES, same_public_key
from moot.pki.material import load_certificates, read_material
from moot.pki.names import ATTRIBUTE_NAMES, SubjectSpec, parse_attributes, show_name
from moot.pki.selfsigned import DEFAULT_DAYS, write_selfsigned

command = registry.command

_KEY_TYPE_TEXT = "|".join(KEY_TYPES)
_ATTRIBUTE_TEXT = ", ".join(ATTRIBUTE_NAMES)


@contextmanager
def _pki_errors() -> Iterator[None]:
    try:
        yield
    except PkiError as exc:
        raise CommandFailed(str(exc)) from None


def _store_file(ctx: Context, name: str) -> Path:
    try:
        return ctx.node.datadir.file(name)
    except ValueError:
        raise CommandFailed(
            f"{name!r} is not a file name in the file store; "
            "give the plain name as 'pki list' shows it (no directories)"
        ) from None


def _existing(ctx: Context, name: str) -> Path:
    path = _store_file(ctx, name)
    if not path.exists() and not path.is_symlink():
        raise CommandFailed(
            f"{name} not found in the file store; upload it over SFTP or check 'pki list'"
        )
    return path


def _new_files(ctx: Context, basename: str, *suffixes: str) -> list[Path]:
    """The files ``<basename><suffix>``; none may exist yet."""
    paths = [_store_file(ctx, basename + suffix) for suffix in suffixes]
    _store_file(ctx, basename)
    if basename.startswith("."):
        raise CommandFailed(f"{basename!r} is hidden; give a name that does not start with '.'")
    for path in paths:
        if path.exists() or path.is_symlink():
            raise CommandFailed(
                f"{path.name} already exists in the file store; choose another name, "
                f"or delete the old file first with 'pki unlink {path.name}'"
            )
    return paths


def _key_type_and_spec(words: list[str], *, require_name: bool) -> tuple[str, SubjectSpec]:
    """Split ``[<key type>] [<attribute>:<value>...]`` and parse the attributes."""
    key_types = [w.lower() for w in words if ":" not in w and w.lower() in KEY_TYPES]
    attributes = [w for w in words if ":" in w]
    stray = [w for w in words if ":" not in w and w.lower() not in KEY_TYPES]
    if stray:
        raise CommandFailed(
            f"{stray[0]!r} is neither <attribute>:<value> nor a key type ({_KEY_TYPE_TEXT}); "
            f"attributes are {_ATTRIBUTE_TEXT}"
        )
    if len(key_types) > 1:
        raise CommandFailed(f"give one key type ({_KEY_TYPE_TEXT}), not {len(key_types)}")
    with _pki_errors():
        spec = parse_attributes(attributes)
    if require_name and not spec.attributes and not spec.sans:
        raise CommandFailed(
            "a CSR needs at least CN:<fully qualified domain name> or subjectAltName:<names>, "
            'e.g. pki csr webadmin CN:moot.example.com "O:My Company"'
        )
    return (key_types[0] if key_types else DEFAULT_KEY_TYPE), spec


@command(
    "pki list",
    help="List the keys, certificates, bundles and CSRs in the file store",
    roles=ALL_MMP,
)
async def pki_list(ctx: Context) -> None:
    entries = catalog(ctx.node.datadir.files)
    ctx.print("User supplied certificates and keys:")
    for entry in entries:
        ctx.print(entry.name)
    if not entries:
        ctx.print("none")


@command(
    "pki inspect <file>",
    help="Show a certificate (each one of a bundle), a CSR or a key: subject, issuer, "
    "validity, names, key, fingerprint",
    roles=ALL_MMP,
)
async def pki_inspect(ctx: Context, file: str) -> None:
    path = _existing(ctx, file)
    store = ctx.node.datadir.files
    with _pki_errors():
        material = read_material(path)
    blocks: list[tuple[str, list[tuple[str, Any]]]] = []
    for key in material.keys:
        rows: list[tuple[str, Any]] = list(describe_key(key))
        rows.append(("Matching files", holders_of(store, key.public_key(), exclude=file)))
        blocks.append(("Private key", rows))
    for _ in range(material.encrypted_keys):
        blocks.append(
            ("Private key", [("Type", "encrypted with a passphrase; Moot needs it without one")])
        )
    total = len(material.certificates)
    for number, cert in enumerate(material.certificates, start=1):
        rows = list(describe_certificate(cert))
        if number == 1 and not material.keys:
            keys = [
                e.name
                for e in catalog(store)
                if e.name != file and any(
                    same_public_key(k.public_key(), cert.public_key()) for k in e.material.keys
                )
            ]
            rows.append(("Matching key files", keys))
        blocks.append((f"Certificate {number} of {total}" if total > 1 else "Certificate", rows))
    for csr in material.csrs:
        blocks.append(("Certificate signing request", list(describe_csr(csr))))
    for index, (title, rows) in enumerate(blocks):
        if index:
            ctx.print()
        ctx.print(f"{file}: {title}")
        ctx.table(rows)


@command(
    "pki match <key> <crt>",
    help="Check that a private key belongs to a certificate (or CSR)",
    roles=ALL_MMP,
)
async def pki_match(ctx: Context, key: str, crt: str) -> None:
    key_path, crt_path = _existing(ctx, key), _existing(ctx, crt)
    with _pki_errors():
        key_material = read_material(key_path)
        other = read_material(crt_path)
    if not key_material.keys:
        raise CommandFailed(
            f"{key} is not an unencrypted private key ({key_material.kind}); "
            "give the key file first, then the certificate"
        )
    if other.certificates:
        public, what = other.certificates[0].public_key(), "certificate"
    elif other.csrs:
        public, what = other.csrs[0].public_key(), "CSR"
    else:
        raise CommandFailed(f"{crt} holds no certificate or CSR ({other.kind})")
    if not same_public_key(key_material.keys[0].public_key(), public):
        raise CommandFailed(
            f"key {key} does not match {what} {crt}; find the key it was issued for "
            "('pki inspect' shows the public key fingerprints)"
        )
    ctx.success(f"key {key} matches {what} {crt}")


@command(
    "pki verify <crt> [<bundle>]",
    help="Verify a certificate's chain up to its root CA, with the CA certificates in the "
    "bundle (or in the certificate file itself)",
    roles=ALL_MMP,
)
async def pki_verify(ctx: Context, crt: str, bundle: str | None) -> None:
    crt_path = _existing(ctx, crt)
    bundle_path = _existing(ctx, bundle) if bundle is not None else None
    with _pki_errors():
        certs = load_certificates(crt_path)
        pool = certs[1:] + (load_certificates(bundle_path) if bundle_path else [])
    report = verify_chain(certs[0], pool)
    ctx.print(f"Certificate chain of {crt}:")
    for number, link in enumerate(report.links, start=1):
        cert = link.certificate
        issuer = "self-signed" if link.self_signed else show_name(cert.issuer)
        ctx.print(f"Certificate {number}")
        ctx.table(
            [
                ("Subject", link.subject),
                ("Issuer", issuer),
                ("Not after", show_time(cert.not_valid_after_utc)),
                ("Check", "; ".join(link.problems) or "ok"),
            ],
            width=9,
        )
    if not report.ok:
        raise CommandFailed(f"{crt} did not verify: " + "; ".join(report.all_problems()))
    if len(report.links) == 1:
        ctx.success(f"{crt} is a valid self-signed certificate")
    else:
        root = report.links[-1].subject
        ctx.success(f"{crt} verified: chain of {len(report.links)} certificates up to {root}")


@command(
    "pki selfsigned <name> [<attribute>...]",
    help=f"Create <name>.key and a self-signed <name>.crt (lab use). Optional: a key type "
    f"({_KEY_TYPE_TEXT}, default {DEFAULT_KEY_TYPE}) and <attribute>:<value> pairs "
    f"({_ATTRIBUTE_TEXT}); CN defaults to <name>",
    roles=CRYPTO,
)
async def pki_selfsigned(ctx: Context, name: str, attribute: list[str] | None) -> None:
    words = attribute or []
    if not any(w.lower().startswith("cn:") for w in words):
        words = [f"CN:{name}", *words]
    key_type, spec = _key_type_and_spec(words, require_name=False)
    key_path, crt_path = _new_files(ctx, name, ".key", ".crt")
    with _pki_errors():
        cert = await asyncio.to_thread(
            write_selfsigned, key_path, crt_path, spec, key_type, DEFAULT_DAYS
        )
    ctx.table(
        [
            ("Subject", show_name(cert.subject)),
            ("Subject alternative names", spec.san_text()),
            ("Not after", show_time(cert.not_valid_after_utc)),
        ]
    )
    ctx.success(
        f"created key file {key_path.name} and self-signed certificate {crt_path.name} "
        f"({key_type}); self-signed certificates are not for production use"
    )


@command(
    "pki csr <name> [<attribute>...]",
    help=f"Create <name>.key and a certificate signing request <name>.csr for a CA to sign. "
    f"<attribute>:<value> pairs: {_ATTRIBUTE_TEXT} (subjectAltName: comma-separated host "
    f'names and IP addresses; quote values with spaces, "OU:Accounts UK"). '
    f"Optional key type: {_KEY_TYPE_TEXT} (default {DEFAULT_KEY_TYPE})",
    roles=CRYPTO,
)
async def pki_csr(ctx: Context, name: str, attribute: list[str] | None) -> None:
    key_type, spec = _key_type_and_spec(attribute or [], require_name=True)
    key_path, csr_path = _new_files(ctx, name, ".key", ".csr")
    with _pki_errors():
        await asyncio.to_thread(make_csr, key_path, csr_path, spec, key_type)
    ctx.table(
        [
            ("Subject", show_name(spec.name())),
            ("Subject alternative names", spec.san_text()),
            ("Key type", key_type),
        ]
    )
    ctx.print(f"Created key file {key_path.name} and CSR {csr_path.name}")
    ctx.success(f"{key_path.name} and {csr_path.name} are ready for download via SFTP")


def _uses(value: object, name: str) -> bool:
    if isinstance(value, str):
        return value == name
    if isinstance(value, dict):
        return any(_uses(v, name) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_uses(v, name) for v in value)
    return False


def files_in_use(ctx: Context, name: str) -> list[str]:
    """Settings (``webadmin.certs``, ``callbridge.certs``, ``*.trust``...) naming ``name``."""
    users: list[str] = []
    for key, value in ctx.node.store.items().items():
        last = key.rsplit(".", 1)[-1]
        if ("cert" in last or "trust" in last or "bundle" in last) and _uses(value, name):
            users.append(key)
    return users


@command("pki unlink <file>", help="Delete a file from the file store", roles=CRYPTO)
async def pki_unlink(ctx: Context, file: str) -> None:
    path = _existing(ctx, file)
    users = files_in_use(ctx, file)
    if users:
        commands = ", ".join(f"'{u.replace('.', ' ')}'" for u in users)
        raise CommandFailed(
            f"{file} is in use ({commands}); configure other files there first, then unlink it"
        )
    if path.is_dir() and not path.is_symlink():
        raise CommandFailed(f"{file} is a directory, not a file")
    path.unlink()
    ctx.success(f"{file} deleted")
