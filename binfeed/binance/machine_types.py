"""The vocabulary of one connection's state machine: its states and modes, its sink, its
settings, its counters and the recorder-wide tally of frames kept out of the queue (the
tally and the malformed count log what they count, as often as is useful).

:class:`~binfeed.binance.machine.ConnectionMachine` is in a :class:`State` and a
:class:`Mode`, takes a :class:`Sink` and :class:`ConnectionSettings`, and keeps
:class:`ConnectionCounters` and a :class:`FilterTally` (shared by a recorder's connections)
up to date; the plan, the settings and the reports read them.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from binfeed.binance import control
from binfeed.binance.endpoint import DEFAULT_PARAMS_PER_MESSAGE
from binfeed.binance.events import Audit
from binfeed.binance.health import DEFAULT_STALL_TIMEOUT
from binfeed.binance.streams import StreamId
from binfeed.ingest_results import FrameKind
from binfeed.records import GapReason
from binfeed.subscriptions import SubscriptionState

log = logging.getLogger("binfeed.record")

#: Seconds a closing handshake may take before the transport is closed anyway.
DEFAULT_CLOSE_TIMEOUT = 2.0

#: Frames held for streams whose SUBSCRIBE waits for its reply, per connection, at most.
#: Binance answers within milliseconds; this covers seconds of a busy connection's data.
DEFAULT_HOLD_LIMIT = 65536


#: The parser's verdicts up to this one stored a record (kinds 1 and 2), as a plain int
#: (the hot path compares ints).
STORED_MAX = int(max(FrameKind.BOOK_TICKER, FrameKind.TRADE))


class State(enum.Enum):
    CONNECTING = "connecting"  # before the handshake completed
    OPEN = "open"
    CLOSING = "closing"  # a close frame was sent or received; the transport is to close
    CLOSED = "closed"  # the transport is closed (or never opened)


class Mode(enum.Enum):
    LIVE = "live"  # frames are appended; watched for stalls and overdue replies
    BUFFERING = "buffering"  # a replacement: market data waits for go_live()
    DETACHED = "detached"  # replaced: frames are dropped


class Sink(Protocol):
    """Where one connection's frames and records go, in the order the machine decides
    them (:class:`binfeed.binance.sink.ConnectionSink`: the C parser with the connection's
    subscribed set, and the queue)."""

    def ingest(self, frame: bytes, recv_ns: int) -> int:
        """Parses one frame against the connection's set: a ``FrameKind`` or a parse
        error (``Ingestor.ingest``'s results, plus UNSUBSCRIBED and PENDING)."""

    def set_state(self, streams: Sequence[StreamId], state: SubscriptionState) -> list[int]:
        """Sets the streams' state in the set; returns their indexes in it."""

    @property
    def subscription(self) -> int | None:
        """The set's index of the last ingested frame's stream, None if not in it."""

    def unsubscribed_stream(self) -> str:
        """The name of the stream of the last UNSUBSCRIBED frame."""

    def audit(self, record: Audit) -> None:
        """Writes a CONNECTION record now."""

    def stream_lost(self, stream: StreamId, reason: GapReason) -> None:
        """The stream may have missed frames (its next record comes after a GAP)."""


@dataclass(frozen=True)
class ConnectionSettings:
    """Timeouts and limits of one connection."""

    stall_timeout: float = DEFAULT_STALL_TIMEOUT
    reply_timeout: float = control.DEFAULT_REPLY_TIMEOUT
    close_timeout: float = DEFAULT_CLOSE_TIMEOUT
    params_per_message: int = DEFAULT_PARAMS_PER_MESSAGE
    hold_limit: int = DEFAULT_HOLD_LIMIT


@dataclass
class FilterTally:
    """Frames kept out of the queue for their stream, across a recorder's connections.

    Attributes:
        unsubscribed: frames per stream nobody subscribed to (or refused, or
            unsubscribed), by name.
        held_dropped: frames held for a pending SUBSCRIBE and dropped: beyond the hold
            limit, or because the connection ended before the reply.
    """

    unsubscribed: dict[str, int] = field(default_factory=dict)
    held_dropped: int = 0
    #: streams the recorder unsubscribed from (their late frames are expected: no warning)
    left: set[str] = field(default_factory=set)

    def count_unsubscribed(self, conn_id: int, name: str) -> None:
        """A frame of stream ``name``, not subscribed, reached connection ``conn_id``: it
        is counted, and the stream logged the first time (unless the recorder left it)."""
        seen = self.unsubscribed
        if name not in seen:
            seen[name] = 0
            if name not in self.left:
                log.warning("connection %d: frames of %s, a stream not subscribed (or "
                            "refused), are counted and not stored; logged once per stream",
                            conn_id, name)
        seen[name] += 1


@dataclass
class ConnectionCounters:
    """Per-connection counters (rare events; market data is counted by the parser)."""

    frames: int = 0
    duplicates: int = 0
    unstored: int = 0
    unsubscribed: int = 0
    held: int = 0  # frames held for a pending SUBSCRIBE (each counted once)
    held_dropped: int = 0
    malformed: int = 0
    control_replies: int = 0
    pings: int = 0  # the pongs sent are Outgoing.pongs

    def count_malformed(self, conn_id: int, status: int, frame: bytes) -> None:
        """The parser refused ``frame`` with ``status`` (negative): counted, and logged
        with its start, the first ten and then every thousandth."""
        self.malformed += 1
        if self.malformed <= 10 or self.malformed % 1000 == 0:
            log.warning("connection %d: malformed frame #%d skipped (status %d): %s", conn_id,
                        self.malformed, status, frame[:120].decode("utf-8", "replace"))
