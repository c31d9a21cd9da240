"""Which key and certificate the web admin presents.

``webadmin certs`` names files in the file store; without them the web admin
uses a self-signed certificate it makes on first start (the operator contract),
``webadmin-selfsigned.key``/``.crt`` in the file store. It is made again when it
no longer fits: expired, or no longer naming the address the web admin listens on.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509

from moot.node.context import NodeContext
from moot.node.settings import WEBADMIN_CERTS, Setting
from moot.pki import PkiError, make_selfsigned
from moot.pki.material import load_certificates

log = logging.getLogger("moot.webadmin")

SELFSIGNED_KEY = "webadmin-selfsigned.key"
SELFSIGNED_CRT = "webadmin-selfsigned.crt"
#: Renew the default certificate this long before it expires.
RENEW_BEFORE = dt.timedelta(days=7)


@dataclass(frozen=True)
class TlsFiles:
    key: Path
    crt: Path
    bundle: Path | None
    selfsigned: bool

    def describe(self) -> str:
        text = f"certificate {self.crt.name}"
        if self.bundle is not None:
            text += f" with bundle {self.bundle.name}"
        return text + (" (self-signed default)" if self.selfsigned else "")


def tls_files(
    node: NodeContext,
    listen_address: str,
    setting: Setting[dict[str, Any] | None] = WEBADMIN_CERTS,
    stem: str = "webadmin",
) -> TlsFiles:
    """The files to serve with; makes the default certificate when it is needed.

    Other HTTPS components (the scheduler) pass their own certs ``setting`` and a ``stem``
    for their default files (``<stem>-selfsigned.key``/``.crt``).
    """
    certs = node.config.get(setting)
    datadir = node.datadir
    if certs:
        bundle = certs.get("bundle")
        return TlsFiles(
            datadir.file(certs["key"]),
            datadir.file(certs["crt"]),
            datadir.file(bundle) if bundle else None,
            selfsigned=False,
        )
    key, crt = datadir.file(f"{stem}-selfsigned.key"), datadir.file(f"{stem}-selfsigned.crt")
    if not _default_fits(key, crt, listen_address):
        host = socket.gethostname()
        sans = _unique([host, listen_address, "127.0.0.1", "localhost"])
        try:
            make_selfsigned(key, crt, host, sans)
        except PkiError:
            # A host name that is not a valid DNS name cannot be in a certificate.
            sans.remove(host)
            make_selfsigned(key, crt, "localhost", sans)
        log.info("made the self-signed %s certificate %s for %s", stem, crt.name, ", ".join(sans))
    return TlsFiles(key, crt, None, selfsigned=True)


def _default_fits(key: Path, crt: Path, listen_address: str) -> bool:
    if not (key.exists() and crt.exists()):
        return False
    try:
        cert = load_certificates(crt)[0]
    except PkiError:
        return False
    if cert.not_valid_after_utc - RENEW_BEFORE < dt.datetime.now(dt.UTC):
        return False
    return _names_address(cert, listen_address)


def _names_address(cert: x509.Certificate, address: str) -> bool:
    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address.lower() in (n.lower() for n in sans.get_values_for_type(x509.DNSName))
    return ip in sans.get_values_for_type(x509.IPAddress)


def _unique(names: list[str]) -> list[str]:
    seen: list[str] = []
    for n in names:
        if n and n not in seen:
            seen.append(n)
    return seen
