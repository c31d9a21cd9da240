"""What the SSH and SFTP tests share: clients for a running node (asyncssh and OpenSSH).

OpenSSH gets its password from ``sshpass`` (Debian package ``sshpass``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import asyncssh
import pytest

from moot.node.datadir import DataDir
from tests.helpers import ADMIN_PASSWORD, Ports, config_of

#: A password that passes the default rules, for accounts the tests add.
PASSWORD = "S3cret-pass!"
NEW_PASSWORD = "N3w-secret-pass!"

needs_openssh = pytest.mark.skipif(
    not (shutil.which("ssh") and shutil.which("sftp") and shutil.which("sshpass")),
    reason="needs OpenSSH ssh/sftp and sshpass",
)


def connect(ports: Ports, user: str = "admin", password: str = ADMIN_PASSWORD) -> Any:
    """An asyncssh client connection (``async with connect(...) as conn``)."""
    return asyncssh.connect(
        "127.0.0.1",
        ports.ssh,
        username=user,
        password=password,
        known_hosts=None,
        client_keys=None,
        agent_path=None,
        preferred_auth="password",
        connect_timeout=10,
    )


async def refused(ports: Ports, user: str, password: str) -> bool:
    """True when the login fails as a login (not for another reason)."""
    try:
        async with connect(ports, user, password):
            return False
    except asyncssh.PermissionDenied:
        return True


def add_account(dd: DataDir, name: str, role: str, password: str = PASSWORD, *, fresh: bool = False) -> None:
    """Add an account; unless ``fresh``, as if its user had already chosen the password."""
    store, _, accounts = config_of(dd)
    try:
        accounts.add(name, role, password)
        if not fresh:
            acc = accounts.get(name)
            assert acc is not None
            acc.must_change = False
            store.put_account(acc)
    finally:
        store.close()


def openssh_options(ports: Ports, tmp: Path) -> list[str]:
    """Options for ``ssh``/``sftp``: password only, a private known_hosts, no config."""
    return [
        "-F", "/dev/null",
        "-o", f"UserKnownHostsFile={tmp / 'known_hosts'}",
        "-o", "StrictHostKeyChecking=accept-new",
        "-o", "PreferredAuthentications=password",
        "-o", "PubkeyAuthentication=no",
        "-o", "NumberOfPasswordPrompts=1",
        "-o", "ConnectTimeout=10",
        "-o", "BatchMode=no",
        "-o", f"Port={ports.ssh}",
    ]


def openssh(
    program: str,
    args: Sequence[str],
    password: str,
    *,
    input: str | None = None,
    timeout: float = 30,
) -> subprocess.CompletedProcess[str]:
    """Run ``ssh`` or ``sftp`` with ``sshpass`` typing the password."""
    return subprocess.run(
        ["sshpass", "-e", program, *args],
        env=dict(os.environ, SSHPASS=password),
        input=input if input is not None else "",
        capture_output=True,
        text=True,
        timeout=timeout,
    )

