"""Logs in the data dir: ``logs/syslog`` (everything) and ``logs/audit`` (every MMP command).

The node rotates them; ``moot mmp`` processes append whole lines (O_APPEND),
so a line is never interleaved with another.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import socket
import time
from pathlib import Path

from moot.node.datadir import DataDir

MAX_BYTES = 10 * 1024 * 1024
BACKUPS = 5

_LEVELS = {
    logging.DEBUG: "debug",
    logging.INFO: "info",
    logging.WARNING: "warning",
    logging.ERROR: "err",
    logging.CRITICAL: "crit",
}


class SyslogFormatter(logging.Formatter):
    """``2026-12-04T15:30:01.123 user.info host moot.webadmin: message``."""

    def __init__(self, facility: str = "user") -> None:
        super().__init__()
        self.facility = facility
        self.host = socket.gethostname()

    def format(self, record: logging.LogRecord) -> str:
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        ms = int(record.msecs)
        level = _LEVELS.get(record.levelno, "info")
        text = record.getMessage()
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return f"{ts}.{ms:03d} {self.facility}.{level} {self.host} {record.name}: {text}"


def _file_handler(path: Path, rotate: bool) -> logging.Handler:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.touch(mode=0o600)
    handler: logging.Handler
    if rotate:
        handler = logging.handlers.RotatingFileHandler(
            path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8"
        )
    else:
        handler = logging.FileHandler(path, encoding="utf-8")
    return handler


def setup(datadir: DataDir, *, rotate: bool, echo: bool = False, level: int = logging.INFO) -> None:
    """Send the ``moot`` loggers to the data dir's logs (and to stderr with ``echo``)."""
    os.umask(0o077)
    root = logging.getLogger("moot")
    for h in list(root.handlers):
        root.removeHandler(h)
        h.close()
    root.setLevel(level)
    root.propagate = False
    syslog = _file_handler(datadir.syslog, rotate)
    syslog.setFormatter(SyslogFormatter("user"))
    root.addHandler(syslog)
    if echo:
        err = logging.StreamHandler()
        err.setFormatter(logging.Formatter("%(name)s: %(message)s"))
        err.setLevel(logging.WARNING)
        root.addHandler(err)
    audit = logging.getLogger("moot.audit")
    for h in list(audit.handlers):
        audit.removeHandler(h)
        h.close()
    audit_handler = _file_handler(datadir.audit_log, rotate)
    audit_handler.setFormatter(SyslogFormatter("local0"))
    audit.addHandler(audit_handler)
    # Audit lines go to the audit file and to syslog.
    audit.propagate = True


def audit(user: str, peer: str, line: str, verdict: str) -> None:
    """One line per MMP command: ``verdict`` is "permission granted", "permission denied", ..."""
    logging.getLogger("moot.audit").info(
        "cli: User %s from %s issued command < %s>: %s", user, peer, line, verdict
    )
