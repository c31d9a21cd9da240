"""Files of key material: plain names in the file store, bounded reads, atomic writes."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from moot.pki.errors import PkiError

#: Keys, certificates and bundles are small; anything bigger is not one of them.
MAX_MATERIAL_BYTES = 1024 * 1024

KEY_MODE = 0o600
PUBLIC_MODE = 0o600  # the data dir keeps nothing world-readable


def store_file(store: Path, name: str) -> Path:
    """The file ``name`` in the file store ``store``; only plain names are allowed."""
    if (
        not name
        or name in (".", "..")
        or Path(name).name != name
        or "\\" in name
        or "\0" in name
    ):
        raise PkiError(
            f"{name!r} is not a file name in the file store; "
            "give the plain name as 'pki list' shows it (no directories)"
        )
    return store / name


def read_bytes(path: Path) -> bytes:
    """The content of a key/certificate file, or a PkiError saying why it cannot be read."""
    name = path.name
    try:
        if path.is_symlink():
            raise PkiError(f"{name} is a symbolic link; upload the file itself over SFTP")
        size = path.stat().st_size
    except FileNotFoundError:
        raise PkiError(
            f"{name} not found in the file store; upload it over SFTP or check 'pki list'"
        ) from None
    except OSError as exc:
        raise PkiError(f"{name} cannot be read ({exc.strerror})") from None
    if not path.is_file():
        raise PkiError(f"{name} is not a regular file")
    if size > MAX_MATERIAL_BYTES:
        raise PkiError(
            f"{name} is {size} bytes, too large for a key, certificate or bundle; "
            "check that you uploaded the right file"
        )
    try:
        return path.read_bytes()
    except OSError as exc:
        raise PkiError(f"{name} cannot be read ({exc.strerror})") from None


def write_atomic(path: Path, data: bytes, mode: int) -> None:
    """Write ``data`` to ``path`` with ``mode``: a temporary file, fsync, then rename.

    Readers see the old file or the complete new one, never a partial key.
    """
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        try:
            os.fchmod(fd, mode)  # the umask must not widen or narrow what we asked for
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
