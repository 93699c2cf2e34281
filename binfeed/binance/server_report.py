"""What the loopback server did on each connection, and its JSON report (``replay --serve
--stats FILE``): the frames it sent as runs of the served data, the client's messages with
their times, the faults it injected.

A frame is named by its **index**, its position in the served data (0 = the first frame
the source yields; ``replay --serve`` serves a queue's bookTicker and trade records in
receive-time order, :func:`binfeed.binance.queue_source.queue_frames`). The frames sent on a
connection are listed per stream as **runs**: ``{"stream", "first", "last", "frames"}``, the
frames of that stream from index ``first`` to ``last`` with none of the stream's frames
left out in between (``frames`` of them). A client that got every frame sent to it holds
exactly these; frames of a stream that fall between two runs of any connection were sent
to nobody (the client was away: it must mark a gap there).

"Sent" means written to the socket before the connection ended (a drop or a close then
still delivers them); a write that failed (the client was gone) is listed apart, as
``unconfirmed``: the client may or may not have received those frames.

Client messages are ``[seconds since the connection opened, kind]`` with kind ``text``
(control messages: SUBSCRIBE...), ``binary``, ``ping``, ``pong`` or ``close``; Binance
counts all but ``close`` toward its 5 per second.

This module keeps the accounts; :mod:`binfeed.binance.server` feeds them.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from binfeed.binance import exchange

if TYPE_CHECKING:
    from binfeed.binance.faults import Fault

__all__ = ["ConnectionStats", "Run", "SentFrame", "SentLog", "write_report"]

#: Report format: bumped when a field changes meaning or goes away.
REPORT_VERSION = 1
#: The kinds of client messages Binance counts toward its incoming-message limit.
COUNTED = frozenset({"text", "binary", "ping", "pong"})


class SentFrame(Protocol):
    """A frame as the log sees it (:class:`binfeed.binance.playback.Encoded`)."""

    name: str  # its stream
    index: int  # its position in the served data
    ordinal: int  # its position among the frames of its stream


@dataclass
class Run:
    """Consecutive frames of one stream sent on one connection."""

    stream: str
    first: int
    last: int
    frames: int
    next_ordinal: int  # the stream ordinal the run continues with

    def as_json(self) -> dict[str, Any]:
        return {"stream": self.stream, "first": self.first, "last": self.last,
                "frames": self.frames}


class SentLog:
    """Frames sent on one connection, as runs per stream (see the module doc)."""

    __slots__ = ("_open", "runs", "total")

    def __init__(self) -> None:
        self.runs: list[Run] = []
        self._open: dict[str, Run] = {}
        self.total = 0

    def add(self, frames: Iterable[SentFrame]) -> None:
        open_runs = self._open
        n = 0
        for frame in frames:
            n += 1
            run = open_runs.get(frame.name)
            if run is not None and run.next_ordinal == frame.ordinal:
                run.last = frame.index
                run.frames += 1
                run.next_ordinal += 1
                continue
            run = Run(frame.name, frame.index, frame.index, 1, frame.ordinal + 1)
            self.runs.append(run)
            open_runs[frame.name] = run
        self.total += n

    def as_json(self) -> list[dict[str, Any]]:
        return [r.as_json() for r in self.runs]


@dataclass
class ConnectionStats:
    """What the server saw and did on one connection (tests, logs, ``--stats``).

    Times ``opened_at`` and ``closed_at`` are monotonic seconds; ``opened_wall`` is the
    opening as seconds since the epoch (the report's times).
    """

    number: int
    path: str
    opened_at: float
    combined: bool = True
    opened_wall: float = field(default_factory=time.time)
    subscriptions: list[str] = field(default_factory=list)
    control_messages: int = 0
    incoming_messages: int = 0
    max_incoming_per_window: int = 0
    frames_sent: int = 0
    pings_sent: int = 0
    pongs_received: int = 0
    closed_by_rate_limit: bool = False
    close_code_sent: int | None = None
    close_code_received: int | None = None
    faults_applied: list[str] = field(default_factory=list)
    fault_log: list[dict[str, Any]] = field(default_factory=list)
    sent: SentLog = field(default_factory=SentLog)
    unconfirmed: SentLog = field(default_factory=SentLog)
    malformed_sent: dict[str, int] = field(default_factory=dict)
    unsubscribed_sent: dict[str, int] = field(default_factory=dict)
    client_messages: list[tuple[float, str]] = field(default_factory=list)
    ended: str = ""
    closed_at: float | None = None

    def client_message(self, now: float, kind: str) -> None:
        self.client_messages.append((now - self.opened_at, kind))

    def fault(self, fault: Fault, now: float) -> None:
        self.faults_applied.append(fault.name)
        self.fault_log.append({"fault": fault.name, "after_frames": self.frames_sent,
                               "at": round(now - self.opened_at, 6)})

    def counted_per_second(self) -> int:
        """The most client messages Binance would count in any rolling second."""
        times = [t for t, kind in self.client_messages if kind in COUNTED]
        return max_in_window(times, exchange.INCOMING_WINDOW)

    def summary(self) -> str:
        """One log line: what the connection carried and how it ended."""
        runs = ", ".join(f"{r.stream} {r.first}..{r.last} ({r.frames})" for r in self.sent.runs)
        extra = sum(self.malformed_sent.values()), sum(self.unsubscribed_sent.values())
        return (f"connection {self.number} ended ({self.ended or 'closed'}): "
                f"{self.frames_sent} frames sent [{runs or 'none'}], "
                f"{extra[0]} malformed, {extra[1]} unsubscribed, "
                f"{len(self.client_messages)} client messages (at most "
                f"{self.counted_per_second()} counted in a second), "
                f"faults: {', '.join(self.faults_applied) or 'none'}")

    def as_json(self) -> dict[str, Any]:
        closed = (None if self.closed_at is None
                  else round(self.opened_wall + self.closed_at - self.opened_at, 6))
        return {
            "number": self.number,
            "path": self.path,
            "combined": self.combined,
            "opened_at": round(self.opened_wall, 6),
            "closed_at": closed,
            "ended": self.ended or ("open" if self.closed_at is None else "closed"),
            "subscriptions": self.subscriptions,
            "frames_sent": self.frames_sent,
            "sent": self.sent.as_json(),
            "unconfirmed": self.unconfirmed.as_json(),
            "malformed_sent": self.malformed_sent,
            "unsubscribed_sent": self.unsubscribed_sent,
            "faults": self.fault_log,
            "pings_sent": self.pings_sent,
            "pongs_received": self.pongs_received,
            "control_messages": self.control_messages,
            "client_messages": [[round(t, 6), kind] for t, kind in self.client_messages],
            "max_client_messages_per_second": self.counted_per_second(),
            "closed_by_rate_limit": self.closed_by_rate_limit,
            "close_code_sent": self.close_code_sent,
            "close_code_received": self.close_code_received,
        }


def max_in_window(times: Iterable[float], window: float) -> int:
    """The most of ``times`` (sorted or not) within any half-open interval of ``window``
    seconds."""
    ordered = sorted(times)
    best = start = 0
    for end, t in enumerate(ordered):
        while ordered[start] <= t - window:
            start += 1
        best = max(best, end - start + 1)
    return best


def write_report(path: str | os.PathLike[str], header: Mapping[str, Any],
                 connections: Iterable[ConnectionStats]) -> None:
    """Writes the report atomically (a reader never sees half a file).

    Raises:
        OSError: the file cannot be written.
    """
    doc = {"version": REPORT_VERSION, **header, "written_at": round(time.time(), 6),
           "connections": [c.as_json() for c in connections]}
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent or ".")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(doc, fh, separators=(",", ":"))
            fh.write("\n")
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
