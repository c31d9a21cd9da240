"""Certificate chains: from a leaf through the bundle up to a self-signed root.

Checks each link the way a TLS peer does: the issuer's signature, the validity
period, and that every issuer is a CA allowed to sign certificates.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from cryptography import x509

from moot.pki.inspect import is_self_signed, show_time
from moot.pki.names import show_name


@dataclass
class Link:
    certificate: x509.Certificate
    problems: list[str] = field(default_factory=list)
    self_signed: bool = False

    @property
    def subject(self) -> str:
        return show_name(self.certificate.subject)


@dataclass
class ChainReport:
    links: list[Link]
    #: Problems of the chain as a whole (e.g. the issuer of the last link is missing).
    problems: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return bool(self.links) and self.links[-1].self_signed

    @property
    def ok(self) -> bool:
        return self.complete and not self.problems and not any(k.problems for k in self.links)

    def all_problems(self) -> list[str]:
        found = [f"{link.subject}: {p}" for link in self.links for p in link.problems]
        return found + self.problems


def verify_chain(
    leaf: x509.Certificate, pool: list[x509.Certificate], now: dt.datetime | None = None
) -> ChainReport:
    """Build and check the chain of ``leaf`` from the certificates in ``pool`` (any order)."""
    now = now or dt.datetime.now(dt.UTC)
    report = ChainReport([])
    current = leaf
    while True:
        link = Link(current)
        report.links.append(link)
        _check_validity(link, now)
        if is_self_signed(current):
            link.self_signed = True
            return report
        issuer = _find_issuer(current, pool, link)
        if issuer is None and current.subject == current.issuer:
            link.problems.append("claims to be self-signed, but its signature does not verify")
            return report
        if issuer is None:
            report.problems.append(
                f"incomplete chain: no certificate for the issuer {show_name(current.issuer)}; "
                "add the issuing CA certificates (up to the root) to the bundle"
            )
            return report
        if any(issuer == k.certificate for k in report.links):
            report.problems.append("the chain loops; remove the duplicate certificates")
            return report
        _check_ca(issuer, len(report.links) - 1, link)
        current = issuer


def _check_validity(link: Link, now: dt.datetime) -> None:
    cert = link.certificate
    if now < cert.not_valid_before_utc:
        link.problems.append(f"not valid before {show_time(cert.not_valid_before_utc)}")
    if now > cert.not_valid_after_utc:
        link.problems.append(f"expired on {show_time(cert.not_valid_after_utc)}")


def _find_issuer(
    cert: x509.Certificate, pool: list[x509.Certificate], link: Link
) -> x509.Certificate | None:
    candidates = [c for c in pool if c.subject == cert.issuer and c != cert]
    for candidate in candidates:
        try:
            cert.verify_directly_issued_by(candidate)
        except Exception:
            continue
        return candidate
    if candidates:
        link.problems.append(
            f"its signature does not verify with the key of {show_name(cert.issuer)}; "
            "the bundle holds a different certificate of that name"
        )
        return candidates[0]
    return None


def _check_ca(issuer: x509.Certificate, below: int, link: Link) -> None:
    """The issuer of ``link`` must be a CA; ``below`` counts the CAs under it."""
    name = show_name(issuer.subject)
    try:
        bc = issuer.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        bc = None
    if issuer.version == x509.Version.v3 and (bc is None or not bc.ca):
        link.problems.append(f"its issuer {name} is not a CA (basicConstraints CA:TRUE missing)")
        return
    if bc is not None and bc.path_length is not None and below > bc.path_length:
        link.problems.append(f"its issuer {name} allows only {bc.path_length} CAs below it")
    try:
        usage = issuer.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return
    if not usage.key_cert_sign:
        link.problems.append(f"its issuer {name} may not sign certificates (keyUsage)")
