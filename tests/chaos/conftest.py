"""Fixtures of the chaos suite: one source queue of the real captures per session, the pace
of the scenarios and the frames they serve."""

from __future__ import annotations

from pathlib import Path

import pytest

from binfeed.binance.queue_source import queue_frames
from binfeed.binance.sources import SourceFrame
from tests.chaos.harness import Pace, import_captures, pace_for, served_frames


@pytest.fixture(scope="session")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Both real captures (BTCUSDT and ETHUSDT, 2024-08-09) imported into a queue."""
    queue = tmp_path_factory.mktemp("chaos") / "source"
    import_captures(queue)
    return queue


@pytest.fixture(scope="session")
def whole(source: Path) -> list[SourceFrame]:
    """Every frame of the source queue, as the server serves it."""
    return list(queue_frames(source))


@pytest.fixture(scope="session")
def pace(whole: list[SourceFrame]) -> Pace:
    return pace_for(whole)


@pytest.fixture(scope="session")
def frames(source: Path, pace: Pace) -> list[SourceFrame]:
    """What every scenario serves, in order (a frame's index is its position)."""
    return served_frames(source, pace)
