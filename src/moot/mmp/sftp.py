"""SFTP on the MMP's SSH port: the node's file store, and its logs to read.

What a client sees is one flat directory ``/``:

- the files of the store (``DataDir.files``): keys, certificates, CSRs,
  ``cms.lic``, backups ``<name>.bak``; created 0600, at most
  ``MAX_FILE_SIZE`` bytes each;
- ``log`` and ``audit``: the node's syslog and audit log, read-only.

Nothing leaves the store: paths with ``..`` or a directory part are refused,
directories and links cannot be made, and symbolic links found in the store
(put there by someone with shell access) are never followed.
"""

from __future__ import annotations

import logging
import os
import posixpath
import stat
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncssh
from asyncssh import SFTPAttrs, SFTPName

from moot.node.datadir import DataDir

log = logging.getLogger("moot.mmp.sftp")

#: The largest file an upload may make.
MAX_FILE_SIZE = 64 * 1024 * 1024

_READ_ONLY = stat.S_IFREG | 0o400


def _mib(size: int) -> str:
    return f"{size / (1024 * 1024):g} MiB"


@dataclass
class StoreFile:
    """An open file of the store (or a log) and what the server needs to know about it."""

    name: str
    fd: int
    writable: bool
    #: The open made or emptied the file, so a refused upload removes it again.
    fresh: bool
    append: bool = False
    written: int = 0
    too_big: bool = False


class StoreSftpServer(asyncssh.SFTPServer):
    def __init__(
        self,
        chan: asyncssh.SSHServerChannel[bytes],
        datadir: DataDir,
        who: str,
        max_file_size: int = MAX_FILE_SIZE,
    ) -> None:
        super().__init__(chan)
        self.root = os.path.realpath(datadir.files)
        self.logs = {"log": datadir.syslog, "audit": datadir.audit_log}
        self.who = who
        self.max_file_size = max_file_size

    # paths -------------------------------------------------------------------
    def _name(self, path: bytes) -> str | None:
        """The store file a client path names; None for the store itself (``/``)."""
        try:
            text = path.decode("utf-8")
        except UnicodeDecodeError:
            raise asyncssh.SFTPInvalidFilename("file names must be UTF-8") from None
        parts = [p for p in text.split("/") if p not in ("", ".")]
        if ".." in parts:
            self._refuse(f"path {text!r} leaves the file store", "'..' is not allowed")
        if not parts:
            return None
        if len(parts) > 1:
            self._refuse(
                f"path {text!r} has a directory",
                "the file store has no directories; use a plain file name",
            )
        name = parts[0]
        if "\\" in name or "\0" in name:
            raise asyncssh.SFTPInvalidFilename(f"invalid file name {name!r}")
        return name

    def _refuse(self, what: str, why: str) -> None:
        log.warning("sftp: refused for %s: %s (%s)", self.who, what, why)
        raise asyncssh.SFTPPermissionDenied(why)

    def _local(self, name: str) -> str:
        """The store path of ``name``, checked to stay in the store and not be a link."""
        path = os.path.join(self.root, name)
        if os.path.islink(path):
            self._refuse(f"{name} is a symbolic link", f"{name} is a link; links are not followed")
        real = os.path.realpath(path)
        if os.path.dirname(real) != self.root:
            self._refuse(f"{name} resolves to {real}", f"{name} is outside the file store")
        return path

    def _store_file(self, path: bytes, action: str) -> str:
        """A store file (not ``/``, not a log) for ``action``."""
        name = self._name(path)
        if name is None:
            self._refuse(f"{action} /", "give a file name")
        assert name is not None
        if name in self.logs:
            self._refuse(f"{action} {name}", f"{name} is the node's {name}; it is read-only")
        return name

    # attributes --------------------------------------------------------------
    def _log_attrs(self, name: str) -> SFTPAttrs:
        try:
            attrs = SFTPAttrs.from_local(os.stat(self.logs[name]))
        except FileNotFoundError:
            attrs = SFTPAttrs(size=0)
        attrs.permissions = _READ_ONLY
        return attrs

    def lstat(self, path: bytes) -> SFTPAttrs | os.stat_result:
        name = self._name(path)
        if name is None:
            return os.stat(self.root)
        if name in self.logs:
            return self._log_attrs(name)
        return os.lstat(os.path.join(self.root, name))

    def stat(self, path: bytes) -> SFTPAttrs | os.stat_result:
        name = self._name(path)
        if name is None or name in self.logs:
            return self.lstat(path)
        return os.stat(self._local(name))

    def fstat(self, file_obj: object) -> os.stat_result:
        return os.fstat(_file(file_obj).fd)

    def setstat(self, path: bytes, attrs: SFTPAttrs) -> None:
        name = self._store_file(path, "change")
        local = self._local(name)
        if attrs.size is not None:
            self._check_size(name, attrs.size)
            os.truncate(local, attrs.size)
        _set_times(local, attrs)

    def lsetstat(self, path: bytes, attrs: SFTPAttrs) -> None:
        self.setstat(path, attrs)

    def fsetstat(self, file_obj: object, attrs: SFTPAttrs) -> None:
        f = _file(file_obj)
        if attrs.size is not None:
            if not f.writable:
                raise asyncssh.SFTPPermissionDenied(f"{f.name} is open read-only")
            self._check_size(f.name, attrs.size)
            os.ftruncate(f.fd, attrs.size)
        _set_times(f.fd, attrs)

    def _check_size(self, name: str, size: int) -> None:
        if size > self.max_file_size:
            log.warning("sftp: refused %s for %s: larger than %d bytes", name, self.who, self.max_file_size)
            raise asyncssh.SFTPFailure(
                f"{name} would be larger than {_mib(self.max_file_size)}, "
                "the file store's limit per file"
            )

    # directory -----------------------------------------------------------------
    async def scandir(self, path: bytes) -> AsyncIterator[SFTPName]:
        if self._name(path) is not None:
            raise asyncssh.SFTPNoSuchFile("the file store is one directory, /")
        root_attrs = SFTPAttrs.from_local(os.stat(self.root))
        yield SFTPName(b".", attrs=root_attrs)
        yield SFTPName(b"..", attrs=root_attrs)
        for name in self.logs:
            yield SFTPName(name.encode(), attrs=self._log_attrs(name))
        with os.scandir(self.root) as entries:
            for entry in entries:
                if entry.name in self.logs:
                    continue
                attrs = SFTPAttrs.from_local(entry.stat(follow_symlinks=False))
                yield SFTPName(os.fsencode(entry.name), attrs=attrs)

    def realpath(self, path: bytes) -> bytes:
        # Only names a path; reads and writes check it themselves.
        return posixpath.normpath(posixpath.join(b"/", path)).replace(b"//", b"/")

    def mkdir(self, path: bytes, attrs: SFTPAttrs) -> None:
        self._refuse(f"mkdir {path!r}", "the file store has no directories")

    def rmdir(self, path: bytes) -> None:
        self._refuse(f"rmdir {path!r}", "the file store has no directories")

    def symlink(self, oldpath: bytes, newpath: bytes) -> None:
        self._refuse(f"symlink {newpath!r} -> {oldpath!r}", "links are not allowed in the file store")

    def link(self, oldpath: bytes, newpath: bytes) -> None:
        self._refuse(f"link {newpath!r} -> {oldpath!r}", "links are not allowed in the file store")

    def readlink(self, path: bytes) -> bytes:
        self._refuse(f"readlink {path!r}", "links are not followed in the file store")
        return b""

    # files ---------------------------------------------------------------------
    def open(self, path: bytes, pflags: int, attrs: SFTPAttrs) -> StoreFile:
        write = bool(pflags & (asyncssh.FXF_WRITE | asyncssh.FXF_APPEND))
        name = self._name(path)
        if name is None:
            raise asyncssh.SFTPFailure("/ is the file store; give a file name")
        if name in self.logs:
            if write:
                self._refuse(f"write {name}", f"{name} is the node's {name}; it is read-only")
            fd = os.open(self.logs[name], os.O_RDONLY | os.O_CLOEXEC)
            return StoreFile(name, fd, writable=False, fresh=False)
        local = self._local(name)
        flags = os.O_CLOEXEC | os.O_NOFOLLOW
        if write:
            flags |= os.O_RDWR if pflags & asyncssh.FXF_READ else os.O_WRONLY
        else:
            flags |= os.O_RDONLY
        for bit, os_bit in (
            (asyncssh.FXF_APPEND, os.O_APPEND),
            (asyncssh.FXF_CREAT, os.O_CREAT),
            (asyncssh.FXF_TRUNC, os.O_TRUNC),
            (asyncssh.FXF_EXCL, os.O_EXCL),
        ):
            if pflags & bit:
                flags |= os_bit
        existed = os.path.lexists(local)
        # Created files are 0600 whatever the client asks: keys live here.
        fd = os.open(local, flags, 0o600)
        fresh = not existed or bool(flags & os.O_TRUNC)
        return StoreFile(name, fd, writable=write, fresh=fresh, append=bool(flags & os.O_APPEND))

    def read(self, file_obj: object, offset: int, size: int) -> bytes:
        return os.pread(_file(file_obj).fd, size, offset)

    def write(self, file_obj: object, offset: int, data: bytes) -> int:
        f = _file(file_obj)
        if not f.writable:
            raise asyncssh.SFTPPermissionDenied(f"{f.name} is open read-only")
        end = (os.fstat(f.fd).st_size if f.append else offset) + len(data)
        if end > self.max_file_size:
            f.too_big = True
            self._check_size(f.name, end)
        written = os.write(f.fd, data) if f.append else os.pwrite(f.fd, data, offset)
        f.written += written
        return written

    def close(self, file_obj: object) -> None:
        f = _file(file_obj)
        os.close(f.fd)
        if f.too_big and f.fresh:
            try:
                os.remove(os.path.join(self.root, f.name))
            except OSError:
                pass
            log.warning("sftp: removed the refused upload %s of %s", f.name, self.who)
        elif f.writable:
            log.info("sftp: %s wrote %s (%d bytes)", self.who, f.name, f.written)

    def fsync(self, file_obj: object) -> None:
        os.fsync(_file(file_obj).fd)

    def remove(self, path: bytes) -> None:
        name = self._store_file(path, "remove")
        # A link is removed itself, never what it points to.
        os.remove(os.path.join(self.root, name))
        log.info("sftp: %s removed %s", self.who, name)

    def rename(self, oldpath: bytes, newpath: bytes) -> None:
        old, new = self._store_file(oldpath, "rename"), self._store_file(newpath, "rename to")
        if os.path.lexists(os.path.join(self.root, new)):
            raise asyncssh.SFTPFailure(f"{new} already exists")
        self._rename(old, new)

    def posix_rename(self, oldpath: bytes, newpath: bytes) -> None:
        old, new = self._store_file(oldpath, "rename"), self._store_file(newpath, "rename to")
        self._rename(old, new)

    def _rename(self, old: str, new: str) -> None:
        os.rename(self._local(old), self._local(new))
        log.info("sftp: %s renamed %s to %s", self.who, old, new)

    def statvfs(self, path: bytes) -> os.statvfs_result:
        return os.statvfs(self.root)

    def fstatvfs(self, file_obj: object) -> os.statvfs_result:
        return os.statvfs(self.root)


def _file(file_obj: object) -> StoreFile:
    assert isinstance(file_obj, StoreFile)
    return file_obj


def _set_times(target: str | int, attrs: SFTPAttrs) -> None:
    if attrs.atime is not None and attrs.mtime is not None:
        os.utime(target, (attrs.atime, attrs.mtime))
