"""The loopback server's fault injection: which fault, on which connection, when, and what
it does to that connection.

Faults are a documented feature, for testing clients (the recorder, or a user's own)
against ``replay --serve``-like endpoints: per connection (numbered 1, 2, 3... in accept
order), after a number of market-data frames sent on it:

- ``abort``: TCP closed without a close frame (the client sees 1006);
- ``reset``: TCP RST;
- ``close``: a close frame with ``code`` (1000, 1001, 1008, 1011...; 1006 cannot be sent:
  it means ``abort``);
- ``stall``: nothing is sent any more, not even pongs; the socket stays open;
- ``shutdown``: a ``serverShutdown`` event, then close 1001 after ``grace`` seconds (frames
  keep flowing meanwhile).

This module decides; the server's connection (:mod:`binfeed.binance.server`) carries the
decision out through the :class:`FaultTarget` calls.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, Protocol

__all__ = ["Fault", "FaultAction", "FaultSchedule", "FaultTarget", "apply_fault"]

FaultAction = Literal["abort", "reset", "close", "stall", "shutdown"]


@dataclass(frozen=True)
class Fault:
    """A fault to inject on a connection.

    Args:
        action: abort | reset | close | stall | shutdown (see the module doc).
        after_frames: act once this many market-data frames were sent on the connection.
        connection: the connection's number (1 = the first accepted), 0 = every connection.
        code: the close code of ``close`` (1006 is not a code one can send: use ``abort``).
        reason: the close reason.
        grace: ``shutdown``: seconds between the event and the close (frames keep flowing).
    """

    action: FaultAction
    after_frames: int = 0
    connection: int = 1
    code: int = 1011
    reason: str = ""
    grace: float = 1.0


class FaultSchedule:
    """The faults of one connection, in the order they fall due.

    Args:
        faults: every configured fault (those of other connections are left out).
        number: the connection's number.
    """

    def __init__(self, faults: Iterable[Fault], number: int) -> None:
        self._pending = sorted((f for f in faults if f.connection in (0, number)),
                               key=lambda f: f.after_frames)

    def frames_until_next(self, sent: int) -> float:
        """How many more frames may be sent before the next fault (inf: no fault left)."""
        if not self._pending:
            return math.inf
        return max(0, self._pending[0].after_frames - sent)

    def due(self, sent: int) -> Fault | None:
        """The next fault once ``sent`` frames were sent (taken off the schedule), or None."""
        if self._pending and self._pending[0].after_frames <= sent:
            return self._pending.pop(0)
        return None


class FaultTarget(Protocol):
    """What a connection offers a fault (the server's connection implements it)."""

    async def abort(self, *, reset: bool) -> None:
        """Closes the TCP connection without a close frame (with an RST when ``reset``)."""

    async def close(self, code: int, reason: str = "") -> None:
        """Starts the closing handshake."""

    def stall(self) -> None:
        """Sends nothing more, keeping the socket open."""

    async def announce_shutdown(self, grace: float) -> None:
        """Sends a ``serverShutdown`` event and closes with 1001 after ``grace`` seconds."""


async def apply_fault(target: FaultTarget, fault: Fault) -> None:
    """Does what ``fault`` says to the connection ``target``."""
    if fault.action in ("abort", "reset") or (fault.action == "close" and fault.code == 1006):
        await target.abort(reset=fault.action == "reset")
    elif fault.action == "close":
        await target.close(fault.code, fault.reason)
    elif fault.action == "stall":
        target.stall()
    elif fault.action == "shutdown":
        await target.announce_shutdown(fault.grace)
    else:  # pragma: no cover - Literal keeps this out
        raise ValueError(f"unknown fault {fault.action!r}")
