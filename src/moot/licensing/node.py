"""Licensing on a node: trusted authorities, applying ``cms.lic``, the current state.

The operator uploads ``cms.lic`` over SFTP into the file store, then ``callbridge
restart`` applies it (guide B.14.1.1): the call bridge component calls ``load(node)``
as it starts. A file that is refused (malformed, signed by an untrusted authority, a bad
signature, another host, ended) leaves the licence applied before in force, and the
reason is kept for ``license`` to show. With no ``cms.lic`` in the store, no licence
is applied (trial or unlicensed).

Trusted authorities are public key files in the file store, named with the MMP
``license authority <file>`` (kept in the node config as ``license.authorities``).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from moot.licensing.authority import Authority, AuthorityError, load_public
from moot.licensing.compliance import UsageRecord
from moot.licensing.licensefile import (
    FILE_NAME,
    MAX_FILE_SIZE,
    LicenseFile,
    LicenseFileError,
    Refusal,
    verify,
)
from moot.licensing.state import LicensingState, evaluate
from moot.node.settings import NODE_CREATED, Setting

if TYPE_CHECKING:
    from moot.node.context import NodeContext

log = logging.getLogger("moot.licensing")

#: File store names of the trusted authorities' public keys.
LICENSE_AUTHORITIES: Setting[list[str]] = Setting("license.authorities", [])
#: The licence in force: {"payload": <verified payload>, "applied": <epoch>, "sha256": <file hash>}.
LICENSE_APPLIED: Setting[dict[str, Any] | None] = Setting("license.applied", None)
#: The last refused file: {"reason", "detail", "at": <epoch>, "sha256"}.
LICENSE_REFUSED: Setting[dict[str, Any] | None] = Setting("license.refused", None)


def today_utc() -> date:
    return datetime.now(UTC).date()


def created_day(node: NodeContext) -> date:
    created = node.config.get(NODE_CREATED) or time.time()
    return datetime.fromtimestamp(created, UTC).date()


def trusted_authorities(node: NodeContext) -> tuple[list[Authority], list[str]]:
    """The authorities' keys, and a note for each named file that cannot be used."""
    keys: list[Authority] = []
    problems: list[str] = []
    for name in node.config.get(LICENSE_AUTHORITIES):
        try:
            keys.append(load_public(node.datadir.file(name)))
        except (AuthorityError, ValueError) as exc:
            problems.append(str(exc))
    return keys, problems


def add_authority(node: NodeContext, name: str) -> Authority:
    """Trust the public key in file store file ``name`` (checked first; nothing changes on error)."""
    try:
        authority = load_public(node.datadir.file(name))
    except ValueError as exc:
        raise AuthorityError(str(exc)) from None
    names = node.config.get(LICENSE_AUTHORITIES)
    if name not in names:
        node.config.set(LICENSE_AUTHORITIES, [*names, name])
    return authority


def applied_licence(node: NodeContext) -> LicenseFile | None:
    """The licence in force (verified when it was applied)."""
    applied = node.config.get(LICENSE_APPLIED)
    if not applied:
        return None
    try:
        return LicenseFile.from_payload(applied["payload"])
    except (LicenseFileError, KeyError, TypeError):
        log.error("the applied licence in the node config is unreadable; ignoring it")
        return None


@dataclass(frozen=True)
class ApplyResult:
    """What ``load`` did: the licence now in force, and the refusal when there was one."""

    licence: LicenseFile | None
    refused: LicenseFileError | None = None

    @property
    def message(self) -> str:
        if self.refused is not None:
            return f"{FILE_NAME} refused: {self.refused}; the previous license stays in force"
        if self.licence is None:
            return f"no {FILE_NAME} in the file store: no license applied"
        return f"{FILE_NAME} applied: serial {self.licence.serial}"


def load(node: NodeContext, today: date | None = None) -> ApplyResult:
    """Apply ``cms.lic`` from the file store (the call bridge calls this as it starts)."""
    today = today or today_utc()
    path = node.datadir.file(FILE_NAME)
    try:
        with path.open("rb") as f:
            data = f.read(MAX_FILE_SIZE + 1)
    except FileNotFoundError:
        if node.config.get(LICENSE_APPLIED) is not None:
            log.warning("no %s in the file store: the license is removed", FILE_NAME)
        node.config.set_many((LICENSE_APPLIED, None), (LICENSE_REFUSED, None))
        return ApplyResult(None)
    digest = hashlib.sha256(data).hexdigest()
    authorities, problems = trusted_authorities(node)
    try:
        try:
            licence = verify(data, authorities, today=today, host_id=node.node_id)
        except LicenseFileError as exc:
            if exc.reason is Refusal.NO_AUTHORITY and problems:
                raise LicenseFileError(exc.reason, "; ".join(problems)) from None
            raise
    except LicenseFileError as exc:
        log.warning("%s refused: %s; the previous license stays in force", FILE_NAME, exc)
        node.config.set(LICENSE_REFUSED, {
            "reason": exc.reason.value, "detail": exc.detail, "at": time.time(), "sha256": digest,
        })
        return ApplyResult(applied_licence(node), exc)
    node.config.set_many(
        (LICENSE_APPLIED, {"payload": licence.to_payload(), "applied": time.time(), "sha256": digest}),
        (LICENSE_REFUSED, None),
    )
    log.info("%s applied: serial %s from %s", FILE_NAME, licence.serial, licence.issuer)
    return ApplyResult(licence)


def current(
    node: NodeContext, today: date | None = None, usage: Sequence[UsageRecord] | None = None
) -> LicensingState:
    """The node's licensing state on ``today`` (default: now, UTC)."""
    return evaluate(
        today or today_utc(), created=created_day(node), licence=applied_licence(node), usage=usage
    )


def notices(node: NodeContext) -> list[str]:
    """File store notices for ``license``: a refused file, a file not applied yet."""
    out: list[str] = []
    refused = node.config.get(LICENSE_REFUSED)
    if refused:
        when = datetime.fromtimestamp(refused["at"], UTC).strftime("%Y-%m-%d %H:%M UTC")
        out.append(
            f"License file {FILE_NAME} refused at {when}: {refused['reason']}: "
            f"{refused['detail']}; the previous license stays in force"
        )
    path = node.datadir.file(FILE_NAME)
    if path.is_file() and path.stat().st_size <= MAX_FILE_SIZE:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        known = {(node.config.get(LICENSE_APPLIED) or {}).get("sha256"),
                 (refused or {}).get("sha256")}
        if digest not in known:
            out.append(f"License file {FILE_NAME} is not applied yet: apply it with "
                       "'callbridge restart'")
    elif not path.exists() and node.config.get(LICENSE_APPLIED):
        out.append(f"License file {FILE_NAME} is no longer in the file store: "
                   "the license is removed on 'callbridge restart'")
    names = node.config.get(LICENSE_AUTHORITIES)
    if names:
        out.append(f"Trusted license authorities: {' '.join(names)}")
    return out
