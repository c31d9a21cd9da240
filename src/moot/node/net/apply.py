"""Applying network settings to a host device through netlink (pyroute2).

The guard: MMP commands change a host device only when BOTH

* the node config says so (``network apply enable``; off by default, so a new data dir,
  ``moot serve``, and a test suite run as root never touch the host's devices), and
* this process may change the network (effective uid 0 or CAP_NET_ADMIN).

Otherwise a command stores the setting and says that the host's network manager is the
one to apply it. Commands validate first, apply second and store last, so a failed
apply leaves the stored configuration as it was.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from moot.node.interfaces import run_netlink
from moot.node.net.settings import NETWORK_APPLY, Address, Interface, IpConfig, Network
from moot.node.settings import NodeConfig, Setting

CAP_NET_ADMIN = 12

NOT_ENABLED = "stored; not applied ('network apply' is disabled): the host's network manager applies it"
NOT_PERMITTED = (
    "stored; not applied: this process may not change the host network (it needs root or "
    "CAP_NET_ADMIN), so the host's network manager applies it"
)
HOST_MANAGED = "stored; the host's network manager applies it"


def may_change_network() -> bool:
    """Effective uid 0, or CAP_NET_ADMIN in the effective capability set."""
    if os.geteuid() == 0:
        return True
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("CapEff:"):
                    return bool(int(line.split()[1], 16) >> CAP_NET_ADMIN & 1)
    except (OSError, ValueError):
        pass
    return False


@dataclass(frozen=True)
class ApplyDecision:
    apply: bool
    #: What the command says when it does not apply.
    note: str


def decide(config: NodeConfig) -> ApplyDecision:
    if not config.get(NETWORK_APPLY):
        return ApplyDecision(False, NOT_ENABLED)
    if not may_change_network():
        return ApplyDecision(False, NOT_PERMITTED)
    return ApplyDecision(True, "")


class ApplyError(RuntimeError):
    pass


def _route_dst(dst: Network | None, version: int) -> str:
    if dst is None:
        return "0.0.0.0/0" if version == 4 else "::/0"
    return str(dst)


class DeviceApplier:
    """Changes one host device; use as a context manager. Adding what is already there
    and removing what is not are no-ops, so applying a whole configuration is safe to repeat."""

    def __init__(self, device: str) -> None:
        self.device = device
        self._ipr: Any = None
        self._index = 0

    def __enter__(self) -> DeviceApplier:
        from pyroute2 import IPRoute

        self._ipr = IPRoute()
        found = self._ipr.link_lookup(ifname=self.device)
        if not found:
            self._ipr.close()
            raise ApplyError(f"device {self.device} does not exist on this host")
        self._index = int(found[0])
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._ipr.close()

    def _call(self, what: str, fn: Any, *args: Any, ignore: tuple[int, ...] = (), **kw: Any) -> None:
        from pyroute2.netlink.exceptions import NetlinkError

        try:
            fn(*args, **kw)
        except NetlinkError as exc:
            if exc.code in ignore:
                return
            reason = os.strerror(exc.code) if exc.code else str(exc)
            raise ApplyError(f"could not {what} on device {self.device}: {reason}") from None

    def set_mtu(self, mtu: int) -> None:
        self._call(f"set MTU {mtu}", self._ipr.link, "set", index=self._index, mtu=mtu)

    def set_up(self) -> None:
        self._call("bring the link up", self._ipr.link, "set", index=self._index, state="up")

    def add_address(self, iface: Interface) -> None:
        from pyroute2.netlink.rtnl.ifaddrmsg import IFA_F_NODAD

        kw: dict[str, Any] = {"flags": IFA_F_NODAD} if iface.version == 6 else {}
        self._call(
            f"add address {iface}", self._ipr.addr, "add", index=self._index,
            address=str(iface.ip), prefixlen=iface.network.prefixlen,
            ignore=(errno.EEXIST,), **kw,
        )

    def del_address(self, iface: Interface) -> None:
        self._call(
            f"remove address {iface}", self._ipr.addr, "del", index=self._index,
            address=str(iface.ip), prefixlen=iface.network.prefixlen,
            ignore=(errno.EADDRNOTAVAIL, errno.ENOENT, errno.ESRCH),
        )

    def set_route(self, dst: Network | None, gateway: Address | None, version: int) -> None:
        """Add or replace a route (``dst`` None: the default route) via ``gateway``."""
        kw: dict[str, Any] = {"gateway": str(gateway)} if gateway is not None else {}
        self._call(
            f"set route {_route_dst(dst, version)}", self._ipr.route, "replace",
            dst=_route_dst(dst, version), oif=self._index, **kw,
        )

    def del_route(self, dst: Network | None, version: int) -> None:
        self._call(
            f"remove route {_route_dst(dst, version)}", self._ipr.route, "del",
            dst=_route_dst(dst, version), oif=self._index, ignore=(errno.ESRCH, errno.ENOENT),
        )

    # whole configurations ---------------------------------------------------------------

    def apply_ip(self, cfg: IpConfig, is_default: bool) -> None:
        """Bring the link up and add the static addresses, the routes and (for the default
        interface) the default route."""
        self.set_up()
        for a in cfg.addresses:
            self.add_address(a.interface)
        gateway = cfg.gateway
        for r in cfg.routes:
            self.set_route(r, gateway, cfg.version)
        if is_default and gateway is not None:
            self.set_route(None, gateway, cfg.version)

    def remove_ip(self, cfg: IpConfig) -> None:
        """Remove the static addresses (the kernel drops the routes through them)."""
        for r in cfg.routes:
            self.del_route(r, cfg.version)
        for a in cfg.addresses:
            self.del_address(a.interface)


Change = Callable[[DeviceApplier], None]


def apply_then_store(
    config: NodeConfig,
    device: str | None,
    change: Change | None,
    writes: Sequence[tuple[Setting[Any], Any]],
    *,
    not_applied: str = HOST_MANAGED,
) -> str:
    """Apply ``change`` to ``device`` when allowed, then store ``writes``; return what to
    tell the operator. ``change`` None: nothing to apply now, ``not_applied`` says why.
    Raises :class:`ApplyError` (having stored nothing) when the device refuses."""
    note = not_applied
    if change is not None:
        decision = decide(config)
        if not decision.apply:
            note = decision.note
        elif device is None:
            note = "stored; not applied: the interface is not mapped to a host device"
        else:

            def run() -> None:
                with DeviceApplier(device) as dev:
                    change(dev)

            run_netlink(run)
            note = f"applied to device {device}"
    config.set_many(*writes)
    return note
