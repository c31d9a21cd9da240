"""One SSH connection to the MMP: password login, its sessions, and who may use SFTP.

Logins go through ``Accounts.login`` like every other way in, so the same
rules hold: no password (the default ``admin``), locked, disabled and ``api``
accounts are refused. Failures are logged without the password. A client is
told only that the login failed, never why, so that names cannot be probed.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

import asyncssh

from moot.db.nodestore import AccountRow
from moot.mmp.context import Context
from moot.mmp.sftp import StoreSftpServer
from moot.mmp.sshshell import run_command, run_shell
from moot.mmp.sshterm import Process, SshTerminal
from moot.node.accounts import MMP_ROLES, Login, LoginResult, Role

if TYPE_CHECKING:
    from moot.node.context import NodeContext

log = logging.getLogger("moot.mmp.ssh")

#: Roles that may use SFTP: admins, and crypto officers who upload keys and
#: certificates and download CSRs.
SFTP_ROLES = frozenset({Role.ADMIN, Role.CRYPTO})
SFTP_VERSION = 3
#: Failed logins after which a connection is dropped (as OpenSSH's MaxAuthTries).
MAX_AUTH_TRIES = 6


class MmpConnection(asyncssh.SSHServer):
    def __init__(self, node: NodeContext, connections: set[MmpConnection]) -> None:
        self.node = node
        self.connections = connections
        self.conn: asyncssh.SSHServerConnection | None = None
        self.peer = "unknown"
        self.login: Login | None = None
        self.session_id: int | None = None
        self.tasks: set[asyncio.Task[Any]] = set()
        self.failures = 0

    # connection ------------------------------------------------------------
    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self.conn = conn
        peer = conn.get_extra_info("peername")
        if peer:
            host = str(peer[0])
            self.peer = f"[{host}]:{peer[1]}" if ":" in host else f"{host}:{peer[1]}"
        self.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.connections.discard(self)
        if self.session_id is not None:
            self.node.sessions.remove(self.session_id)
            self.session_id = None
            log.info("SSH logout: %s from %s", self.user_name, self.peer)
        for task in list(self.tasks):
            task.cancel()

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()

    async def wait_closed(self) -> None:
        if self.conn is not None:
            await self.conn.wait_closed()

    @property
    def account(self) -> AccountRow:
        assert self.login is not None and self.login.account is not None
        return self.login.account

    @property
    def user_name(self) -> str:
        return self.login.account.name if self.login and self.login.account else "?"

    # authentication ----------------------------------------------------------
    def begin_auth(self, username: str) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return True

    async def validate_password(self, username: str, password: str) -> bool:
        result = await asyncio.to_thread(self.node.accounts.login, username, password, MMP_ROLES)
        if not result.allowed:
            self._log_failure(username, result)
            self.failures += 1
            if self.failures >= MAX_AUTH_TRIES:
                self.close()
            return False
        self.login = result
        self.session_id = self.node.sessions.add(username, "ssh", self.peer, self.close)
        log.info("SSH login: %s from %s", username, self.peer)
        return True

    def _log_failure(self, username: str, result: Login) -> None:
        why = {
            LoginResult.BAD_CREDENTIALS: result.detail or "wrong user name or password",
            LoginResult.LOCKED: "account locked",
            LoginResult.NO_PASSWORD: "the account has no password; set one on the local console",
            LoginResult.ROLE_NOT_ALLOWED: f"role {result.account.role if result.account else '?'}"
            " may not use the MMP",
        }.get(result.result, result.result.value)
        log.warning("failed SSH login for %s from %s (%s)", username, self.peer, why)
        acc = result.account
        if (
            result.result == LoginResult.BAD_CREDENTIALS
            and acc is not None
            and self.node.accounts.is_locked(acc)
        ):
            log.warning("account %s locked after too many failed logins", username)

    # sessions ----------------------------------------------------------------
    def session_requested(self) -> MmpSession:
        return MmpSession(self)

    def may_sftp(self) -> str | None:
        """Why this user may not use SFTP (None when they may)."""
        acc = self.account
        if Role(acc.role) not in SFTP_ROLES:
            return f"the {acc.role} role may not use SFTP"
        if self.node.accounts.must_change(self.node.accounts.get(acc.name) or acc):
            return "the password must be changed first (log in with ssh)"
        return None

    def sftp_server(self, chan: Any) -> StoreSftpServer:
        """The SFTP factory; asyncssh passes the session's (server) channel."""
        log.info("SFTP session: %s from %s", self.user_name, self.peer)
        return StoreSftpServer(chan, self.node.datadir, f"{self.user_name} from {self.peer}")

    async def run_process(self, process: Process) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.tasks.add(task)
        status = 1
        try:
            user = self.node.accounts.get(self.account.name) or self.account
            ctx = Context(self.node, user, SshTerminal(process), channel="ssh", peer=self.peer)
            if process.command is not None:
                status = await run_command(ctx, process.command)
            else:
                status = await run_shell(ctx, self.login.warnings if self.login else [])
        finally:
            self.tasks.discard(task)
            if not process.channel.is_closing():
                process.exit(status)


class MmpSession(asyncssh.SSHServerProcess[str]):
    """A session channel: a shell, a command, or SFTP for the roles allowed it."""

    def __init__(self, owner: MmpConnection) -> None:
        super().__init__(owner.run_process, owner.sftp_server, SFTP_VERSION, False)
        self.owner = owner

    def subsystem_requested(self, subsystem: str) -> bool:
        if subsystem != "sftp":
            return False
        refusal = self.owner.may_sftp()
        if refusal:
            log.warning(
                "SFTP refused for %s from %s: %s", self.owner.user_name, self.owner.peer, refusal
            )
            return False
        return super().subsystem_requested(subsystem)
