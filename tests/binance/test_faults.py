"""The server's fault decisions (binfeed.binance.faults), without a socket."""

from __future__ import annotations

import math

import pytest

from binfeed.binance.faults import Fault, FaultSchedule, apply_fault

pytestmark = pytest.mark.anyio


def test_a_connection_gets_its_own_faults_and_the_shared_ones_in_frame_order() -> None:
    faults = [Fault("close", 30, connection=2), Fault("stall", 10, connection=0),
              Fault("abort", 5, connection=1)]
    first, second = FaultSchedule(faults, 1), FaultSchedule(faults, 2)
    assert first.frames_until_next(0) == 5
    assert first.due(4) is None
    assert first.due(7) == faults[2]  # abort, late is still due
    assert first.frames_until_next(7) == 3
    assert first.due(10) == faults[1]
    assert first.due(10) is None and first.frames_until_next(10) == math.inf
    assert [second.due(100), second.due(100), second.due(100)] == [faults[1], faults[0], None]


class Target:
    def __init__(self) -> None:
        self.calls: list[tuple[object, ...]] = []

    async def abort(self, *, reset: bool) -> None:
        self.calls.append(("abort", reset))

    async def close(self, code: int, reason: str = "") -> None:
        self.calls.append(("close", code, reason))

    def stall(self) -> None:
        self.calls.append(("stall",))

    async def announce_shutdown(self, grace: float) -> None:
        self.calls.append(("shutdown", grace))


async def test_what_each_fault_does() -> None:
    target = Target()
    for fault in (Fault("abort"), Fault("reset"), Fault("close", code=1006),
                  Fault("close", code=1008, reason="x"), Fault("stall"),
                  Fault("shutdown", grace=0.5)):
        await apply_fault(target, fault)
    assert target.calls == [("abort", False), ("abort", True), ("abort", False),
                            ("close", 1008, "x"), ("stall",), ("shutdown", 0.5)]
