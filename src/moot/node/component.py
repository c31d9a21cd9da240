"""Components: the parts of a node the supervisor starts, stops and restarts."""

from __future__ import annotations

import abc
import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from moot.node.context import NodeContext


class State(enum.StrEnum):
    STOPPED = "stopped"
    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"
    DISABLED = "disabled"
    FAILED = "failed"


@dataclass
class ComponentStatus:
    name: str
    state: str
    enabled: bool
    listeners: list[str] = field(default_factory=list)
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "state": self.state,
            "enabled": self.enabled,
            "listeners": self.listeners,
            "detail": self.detail,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ComponentStatus:
        return cls(
            data["name"], data["state"], data["enabled"], list(data["listeners"]), data["detail"]
        )


class Component(abc.ABC):
    """One part of the node with an explicit lifecycle.

    ``start`` reads the node config afresh, so a restart applies changed settings.
    A start that fails leaves the component FAILED with the reason in ``detail``;
    the other components go on.
    """

    name: ClassVar[str]
    title: ClassVar[str]

    def __init__(self, node: NodeContext) -> None:
        self.node = node
        self.state = State.STOPPED
        self.listeners: list[str] = []
        self.detail = ""

    def enabled(self) -> bool:
        return True

    @abc.abstractmethod
    async def start(self) -> None: ...

    @abc.abstractmethod
    async def stop(self) -> None: ...

    def status(self) -> ComponentStatus:
        return ComponentStatus(self.name, self.state.value, self.enabled(), list(self.listeners), self.detail)
