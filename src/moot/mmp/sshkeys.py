"""The MMP's SSH host keys: made once per data dir, kept in ``ssh/``, never changed.

Clients remember a host key the first time they connect; a node that made a
new key on every start would look like a man in the middle. So keys are
generated on the first start only (ed25519 and ECDSA P-256, both fast to
make) and read back afterwards.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import asyncssh

log = logging.getLogger("moot.mmp.ssh")

#: (file name, algorithm) of each host key, in the order the server offers them.
HOST_KEYS: tuple[tuple[str, str], ...] = (
    ("ssh_host_ed25519_key", "ssh-ed25519"),
    ("ssh_host_ecdsa_key", "ecdsa-sha2-nistp256"),
)


@dataclass(frozen=True)
class Fingerprint:
    algorithm: str
    sha256: str

    def __str__(self) -> str:
        return f"{self.algorithm} {self.sha256}"


def _write_private(path: Path, data: bytes) -> None:
    """Write a file 0600 under a temporary name, then move it in place."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def load_host_keys(directory: Path) -> list[asyncssh.SSHKey]:
    """The node's host keys, made (0600) on the first call."""
    keys: list[asyncssh.SSHKey] = []
    for filename, algorithm in HOST_KEYS:
        path = directory / filename
        if path.exists():
            keys.append(asyncssh.read_private_key(str(path)))
            continue
        key = asyncssh.generate_private_key(algorithm)
        _write_private(path, key.export_private_key())
        _write_private(path.with_name(filename + ".pub"), key.export_public_key())
        log.info("made SSH host key %s %s", algorithm, key.get_fingerprint("sha256"))
        keys.append(key)
    return keys


def fingerprints(directory: Path) -> list[Fingerprint]:
    """The SHA256 fingerprints of the host keys made so far (none before the first start)."""
    result: list[Fingerprint] = []
    for filename, algorithm in HOST_KEYS:
        pub = directory / (filename + ".pub")
        try:
            key = asyncssh.read_public_key(str(pub))
        except (OSError, asyncssh.KeyImportError):
            continue
        result.append(Fingerprint(algorithm, key.get_fingerprint("sha256")))
    return result
