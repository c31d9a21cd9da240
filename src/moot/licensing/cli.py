"""``moot license``: make an authority, issue and verify licence files.

    moot license authority --out DIR
    moot license issue --authority-key K --host-id H [--host-id H2 ...]
        --feature callBridge:2027-06-30 [--feature ...]
        [--personal N[:YYYY-MM-DD]] [--shared N[:YYYY-MM-DD]]
        [--issuer NAME] [--serial S] --out cms.lic
    moot license verify FILE --authority-public P [--host-id H]

Exit status 0 on success, 1 when a file or key is refused (the reason on stderr),
2 for bad arguments.
"""

from __future__ import annotations

import argparse
import sys
import uuid
from datetime import date
from pathlib import Path
from typing import Any

from moot.licensing import authority
from moot.licensing.feature import Feature, UserLicence, parse_day, show_date
from moot.licensing.licensefile import (
    MAX_FILE_SIZE,
    LicenseFile,
    LicenseFileError,
    UserLimit,
    sign,
    verify,
)
from moot.licensing.node import today_utc


class UsageError(Exception):
    """Arguments that do not make a licence (exit status 2)."""


def add_parser(sub: Any) -> None:
    """Add ``license`` and its subcommands to the ``moot`` parser's subparsers."""
    lic = sub.add_parser(
        "license",
        help="make a licence authority, issue and verify licence files (cms.lic)",
        description="Licence files for Moot nodes, signed with Ed25519. Upload the file as "
        "cms.lic over SFTP, trust the authority's public key with the MMP "
        "'license authority <file>', then 'callbridge restart'.",
    )
    verbs = lic.add_subparsers(dest="license_cmd", metavar="VERB")
    verbs.required = True
    auth = verbs.add_parser("authority", help="create an authority key pair")
    auth.add_argument("--out", type=Path, required=True, metavar="DIR",
                      help=f"directory for {authority.PRIVATE_NAME} (0600) and {authority.PUBLIC_NAME}")
    issue = verbs.add_parser("issue", help="issue a signed licence file")
    issue.add_argument("--authority-key", type=Path, required=True, metavar="K")
    issue.add_argument("--host-id", action="append", required=True, metavar="H",
                       help="node id it is valid for (MMP 'serial' shows it); repeatable")
    issue.add_argument("--feature", action="append", default=[], metavar="NAME:YYYY-MM-DD",
                       help=f"feature and last day; NAME one of {', '.join(Feature)}")
    issue.add_argument("--personal", metavar="N[:YYYY-MM-DD]",
                       help="PMP Plus licences (expiry defaults to the latest feature's)")
    issue.add_argument("--shared", metavar="N[:YYYY-MM-DD]",
                       help="SMP Plus licences (expiry defaults to the latest feature's)")
    issue.add_argument("--issuer", default="Moot license authority")
    issue.add_argument("--serial", default=None, help="default: a new random serial")
    issue.add_argument("--issued", default=None, metavar="YYYY-MM-DD", help="default: today")
    issue.add_argument("--out", type=Path, required=True, metavar="FILE")
    check = verbs.add_parser("verify", help="check a licence file's signature and show it")
    check.add_argument("file", type=Path, metavar="FILE")
    check.add_argument("--authority-public", type=Path, required=True, action="append",
                       metavar="P", help="a trusted authority public key; repeatable")
    check.add_argument("--host-id", default=None, metavar="H", help="also check it is for H")


def _user(value: str | None, kind: UserLicence, default: date | None) -> UserLimit | None:
    if value is None:
        return None
    count, _, day = value.partition(":")
    if not count.isdigit():
        raise UsageError(f"--{kind} wants N or N:YYYY-MM-DD, not {value!r}")
    if day:
        try:
            expiry = parse_day(day)
        except ValueError as exc:
            raise UsageError(f"--{kind}: {exc}") from None
    elif default is None:
        raise UsageError(f"--{kind} needs an expiry (N:YYYY-MM-DD) when no --feature is given")
    else:
        expiry = default
    return UserLimit(int(count), expiry)


def build_licence(args: argparse.Namespace) -> LicenseFile:
    features: dict[Feature, date] = {}
    for spec in args.feature:
        name, _, day = spec.partition(":")
        try:
            feature = Feature(name)
        except ValueError:
            raise UsageError(f"unknown feature {name!r}; one of {', '.join(Feature)}") from None
        try:
            features[feature] = parse_day(day)
        except ValueError as exc:
            raise UsageError(f"--feature {spec}: {exc}") from None
    latest = max(features.values()) if features else None
    try:
        issued = parse_day(args.issued) if args.issued else today_utc()
    except ValueError as exc:
        raise UsageError(f"--issued: {exc}") from None
    licence = LicenseFile(
        issuer=args.issuer,
        serial=args.serial or uuid.uuid4().hex,
        issued=issued,
        hosts=tuple(args.host_id),
        features=features,
        personal=_user(args.personal, UserLicence.PERSONAL, latest),
        shared=_user(args.shared, UserLicence.SHARED, latest),
    )
    if licence.last_day is None:
        raise UsageError("the licence grants nothing: give --feature, --personal or --shared")
    return licence


def describe(licence: LicenseFile) -> list[str]:
    out = [
        f"Issuer: {licence.issuer}",
        f"Serial: {licence.serial}",
        f"Issued: {show_date(licence.issued)}",
        f"Authority: {licence.authority}",
        f"Hosts: {' '.join(licence.hosts)}",
    ]
    out += [f"Feature: {f.value} expiry: {show_date(d)}" for f, d in licence.features.items()]
    for kind in UserLicence:
        limit = licence.user_limit(kind)
        if limit is not None:
            out.append(f"Users: {kind.value} ({kind.product}) limit: {limit.limit} "
                       f"expiry: {show_date(limit.expiry)}")
    return out


def run(args: argparse.Namespace) -> int:
    try:
        if args.license_cmd == "authority":
            private, public = authority.create(args.out)
            print(f"private key: {private} (keep it secret; mode 0600)")
            print(f"public key:  {public} (put it in each node's file store and trust it "
                  "with the MMP 'license authority <file>')")
            return 0
        if args.license_cmd == "issue":
            key = authority.load_private(args.authority_key)
            try:
                text = sign(build_licence(args), key)
            except LicenseFileError as exc:
                raise UsageError(exc.detail) from None
            if args.out.exists():
                raise UsageError(f"{args.out} exists; not overwriting it")
            args.out.write_text(text)
            print(f"wrote {args.out}")
            return 0
        if args.license_cmd == "verify":
            keys = [authority.load_public(p) for p in args.authority_public]
            try:
                with args.file.open("rb") as f:
                    data = f.read(MAX_FILE_SIZE + 1)
            except OSError as exc:
                raise authority.AuthorityError(f"cannot read {args.file}: {exc.strerror}") from None
            licence = verify(data, keys, today=today_utc(), host_id=args.host_id)
            print(f"{args.file}: valid license")
            for line in describe(licence):
                print(line)
            return 0
    except UsageError as exc:
        print(f"moot license: {exc}", file=sys.stderr)
        return 2
    except LicenseFileError as exc:
        print(f"moot license: {args.file} refused: {exc}", file=sys.stderr)
        return 1
    except authority.AuthorityError as exc:
        print(f"moot license: {exc}", file=sys.stderr)
        return 1
    return 2
