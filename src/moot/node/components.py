"""The components of a single combined server, in start order."""

from __future__ import annotations

from moot.node.component import Component
from moot.node.context import NodeContext


def build_components(node: NodeContext) -> list[Component]:
    from moot.callbridge.component import CallBridge
    from moot.mmp.sshserver import MmpSshServer
    from moot.scheduler.component import Scheduler
    from moot.turn.component import TurnServer
    from moot.webadmin.server import WebAdmin
    from moot.webbridge.component import WebBridge

    return [MmpSshServer(node), WebAdmin(node), CallBridge(node), WebBridge(node), Scheduler(node), TurnServer(node)]
