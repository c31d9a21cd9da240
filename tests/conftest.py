from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from moot.node.datadir import DataDir
from tests.helpers import Ports, RunningNode, prepare_datadir


@pytest.fixture
def ports() -> Ports:
    return Ports()


@pytest.fixture
def datadir(tmp_path: Path, ports: Ports) -> DataDir:
    """A fresh data dir: interface a on loopback, free ports, admin password set."""
    return prepare_datadir(tmp_path / "node", ports)


@pytest.fixture
def node(datadir: DataDir, ports: Ports) -> Iterator[RunningNode]:
    """A running ``moot serve`` on ``datadir``."""
    running = RunningNode(datadir, ports).start()
    try:
        yield running
    finally:
        running.stop()
