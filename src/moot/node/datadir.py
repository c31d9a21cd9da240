"""The node's data directory: where everything one node keeps lives.

Layout (all created 0700, files 0600)::

    DIR/
      config.db        node config (MMP settings, admin accounts)
      database.db      the cluster-wide database (SQLite default)
      files/           the MMP file store, served over SFTP (keys, certs, licences, backups)
      logs/            rotating logs (``syslog follow``)
      ssh/             SSH host keys
      run/             lock file and the control socket of a running node
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

ENV_HOME = "MOOT_HOME"
DEFAULT_DIRNAME = "moot-data"


def default_data_dir() -> Path:
    env = os.environ.get(ENV_HOME)
    return Path(env) if env else Path.cwd() / DEFAULT_DIRNAME


@dataclass(frozen=True)
class DataDir:
    root: Path

    @property
    def config_db(self) -> Path:
        return self.root / "config.db"

    @property
    def database_db(self) -> Path:
        return self.root / "database.db"

    @property
    def files(self) -> Path:
        return self.root / "files"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def syslog(self) -> Path:
        return self.logs / "syslog"

    @property
    def audit_log(self) -> Path:
        return self.logs / "audit"

    @property
    def ssh(self) -> Path:
        return self.root / "ssh"

    @property
    def run(self) -> Path:
        return self.root / "run"

    @property
    def lock_file(self) -> Path:
        return self.run / "node.lock"

    @property
    def control_socket(self) -> Path:
        return self.run / "control.sock"

    @property
    def backups(self) -> Path:
        """Snapshots live in the file store so that SFTP can download them."""
        return self.files

    def exists(self) -> bool:
        return self.config_db.exists()

    def ensure(self) -> bool:
        """Create the directory tree; return True when it was new."""
        new = not self.config_db.exists()
        old_umask = os.umask(0o077)
        try:
            for d in (self.root, self.files, self.logs, self.ssh, self.run):
                d.mkdir(parents=True, exist_ok=True)
                os.chmod(d, 0o700)
        finally:
            os.umask(old_umask)
        return new

    def file(self, name: str) -> Path:
        """A file in the MMP file store, by the plain name the operator types.

        Names are confined to the store: no directories, no ``..``.
        """
        if not name or "/" in name or "\\" in name or name in (".", "..") or "\0" in name:
            raise ValueError(f"invalid file name {name!r}")
        return self.files / name
