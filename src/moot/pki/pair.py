"""Key/certificate pairs as components use them: checked before any setting changes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from moot.pki.errors import PkiError
from moot.pki.files import store_file
from moot.pki.keys import same_public_key
from moot.pki.material import load_certificates, load_private_key


@dataclass(frozen=True)
class LoadedPair:
    key: PrivateKeyTypes
    #: The certificate file's certificates (the first is the server's own).
    certificates: list[x509.Certificate]
    bundle: list[x509.Certificate]

    @property
    def chain(self) -> list[x509.Certificate]:
        """What a TLS server sends: its certificate, then the bundle."""
        return self.certificates + [c for c in self.bundle if c not in self.certificates]


def load_pair(key: Path, crt: Path, bundle: Path | None) -> LoadedPair:
    """Load and check a key, its certificate and an optional bundle; PkiError when unusable."""
    private_key = load_private_key(key)
    certificates = load_certificates(crt)
    extra = load_certificates(bundle) if bundle is not None else []
    if not same_public_key(private_key.public_key(), certificates[0].public_key()):
        raise PkiError(
            f"key {key.name} does not match certificate {crt.name}; "
            "give the key the certificate was issued for ('pki match' compares them)"
        )
    return LoadedPair(private_key, certificates, extra)


def check_pair(store: Path, key_name: str, crt_name: str, bundle_name: str | None) -> None:
    """Check files in the file store ``store`` before a component is told to use them."""
    load_pair(
        store_file(store, key_name),
        store_file(store, crt_name),
        store_file(store, bundle_name) if bundle_name is not None else None,
    )


def check_bundle(store: Path, name: str) -> None:
    """Check that a trust bundle in the file store holds at least one certificate."""
    load_certificates(store_file(store, name))
