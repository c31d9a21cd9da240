"""What key material the file store holds, recognised by content rather than by name."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from moot.pki.errors import PkiError
from moot.pki.keys import same_public_key
from moot.pki.material import Material, read_material


@dataclass(frozen=True)
class StoreEntry:
    name: str
    material: Material


def catalog(store: Path) -> list[StoreEntry]:
    """Keys, certificates, bundles and CSRs in ``store``, by name; other files are left out."""
    entries: list[StoreEntry] = []
    if not store.is_dir():
        return entries
    for path in sorted(store.iterdir(), key=lambda p: p.name):
        if path.name.startswith(".") or path.is_symlink() or not path.is_file():
            continue
        try:
            material = read_material(path)
        except PkiError:
            continue
        entries.append(StoreEntry(path.name, material))
    return entries


def holders_of(store: Path, public_key: PublicKeyTypes, exclude: str = "") -> list[str]:
    """Files whose certificate (first one), CSR or key has ``public_key``."""
    found: list[str] = []
    for entry in catalog(store):
        if entry.name == exclude:
            continue
        m = entry.material
        publics = [k.public_key() for k in m.keys]
        publics += [c.public_key() for c in m.certificates[:1]]
        publics += [r.public_key() for r in m.csrs]
        if any(same_public_key(p, public_key) for p in publics):
            found.append(entry.name)
    return found
