"""Timed detailed logging: remaining seconds, logger levels switched on and off."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from moot.db.nodestore import NodeStore
from moot.node.settings import NodeConfig
from moot.scheduler import timedlog
from moot.scheduler.settings import TIMED_LOGGING


@pytest.fixture
def config(tmp_path: Path) -> NodeConfig:
    return NodeConfig(NodeStore(tmp_path / "config.db"))


def test_show_and_levels(config: NodeConfig) -> None:
    assert timedlog.show(config) == '{\n  "webBridge": "0",\n  "api": "0",\n  "email": "0"\n}'
    levels = timedlog.TimedLevels(config)
    timedlog.enable(config, "email", 600)
    levels.refresh()
    assert timedlog.logger("email").getEffectiveLevel() == logging.DEBUG
    assert timedlog.logger("api").level == logging.NOTSET
    assert 599 <= timedlog.remaining(config)["email"] <= 600
    # Expired: the level goes back.
    config.set(TIMED_LOGGING, {"email": time.time() - 1})
    levels.refresh()
    assert timedlog.logger("email").level == logging.NOTSET
    assert timedlog.remaining(config)["email"] == 0
    timedlog.enable(config, "api", 5)
    levels.refresh()
    timedlog.enable(config, "api", 0)
    assert "api" not in config.get(TIMED_LOGGING)
    levels.reset()
    assert timedlog.logger("api").level == logging.NOTSET


def test_area_names() -> None:
    assert timedlog.area_name("webbridge") == "webBridge"
    assert timedlog.area_name("EMAIL") == "email"
    with pytest.raises(ValueError):
        timedlog.area_name("web")
