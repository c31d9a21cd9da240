"""The call bridge component.

Its configuration (listening interfaces, certificates, trust) exists now and is
validated on every start; the SIP stack that will listen on those interfaces
arrives with the call bridge issue, so for now the component reports which
interfaces and certificates it *would* use, and binds nothing.
"""

from __future__ import annotations

from moot.node.component import Component
from moot.node.interfaces import InterfaceNotMapped, listen_address
from moot.node.settings import CALLBRIDGE_CERTS, CALLBRIDGE_LISTEN


class CallBridge(Component):
    name = "callbridge"
    title = "Call Bridge"

    async def start(self) -> None:
        config = self.node.config
        interfaces = config.get(CALLBRIDGE_LISTEN)
        certs = config.get(CALLBRIDGE_CERTS)
        for name in (certs or {}).values():
            if name and not self.node.datadir.file(name).exists():
                raise FileNotFoundError(f"certificate file {name} not found in the file store")
        addresses = []
        for iface in interfaces:
            try:
                addresses.append(f"{iface}={listen_address(config, iface)}")
            except InterfaceNotMapped as exc:
                raise RuntimeError(str(exc)) from None
        self.detail = (
            "configured on " + ", ".join(addresses) if addresses else "listening on no interfaces"
        ) + "; SIP not yet available in this build"

    async def stop(self) -> None:
        self.detail = ""
