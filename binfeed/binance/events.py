"""What the protocol core and its glue tell each other: frames, events, actions and records.

The vocabulary of :mod:`~binfeed.binance.machine` (frames in as :class:`FrameLike`, frames
to send, connection events) and of :mod:`~binfeed.binance.shard_plan` and
:mod:`~binfeed.binance.plan` (the supervisor's actions, the records to append), in plain
values, as websockets keeps ``Frame`` and ``Close`` in ``frames.py`` apart from its
protocol. Sans-I/O.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from binfeed.binance import control
from binfeed.binance.retry import Failure
from binfeed.records import ConnectionEvent

if TYPE_CHECKING:
    from binfeed.binance.machine import ConnectionMachine


class Opcode(enum.IntEnum):
    """WebSocket frame opcodes (RFC 6455 section 5.2); equal to websockets' ``Opcode``."""

    CONT = 0x0
    TEXT = 0x1
    BINARY = 0x2
    CLOSE = 0x8
    PING = 0x9
    PONG = 0xA


class FrameLike(Protocol):
    """A received frame as transports hand it out (``websockets.frames.Frame`` is one)."""

    @property
    def opcode(self) -> int: ...

    @property
    def data(self) -> bytes | bytearray | memoryview: ...

    @property
    def fin(self) -> bool: ...


# -- what the machine asks the transport to send ------------------------------------


@dataclass(frozen=True, slots=True)
class SendText:
    """A text frame (a control message)."""

    text: str


@dataclass(frozen=True, slots=True)
class SendPong:
    """A pong frame answering a ping with this payload."""

    payload: bytes


@dataclass(frozen=True, slots=True)
class SendClose:
    """A close frame: start the closing handshake."""

    code: int
    reason: str


OutgoingFrame = SendText | SendPong | SendClose


# -- what happened on a connection (for the shard's plan) ------------------------------


@dataclass(frozen=True, slots=True)
class AllSubscribed:
    """Every stream of the connection is confirmed or refused."""

    at: float


@dataclass(frozen=True, slots=True)
class DataBuffered:
    """A buffering connection received its first market data."""

    at: float


@dataclass(frozen=True, slots=True)
class ShutdownAnnounced:
    """The server sent ``serverShutdown``: the connection should be replaced."""

    at: float


@dataclass(frozen=True, slots=True)
class Stalled:
    """No frame for ``silent`` seconds (over the stall timeout): the connection ends."""

    silent: float


@dataclass(frozen=True, slots=True)
class Ended:
    """The connection is over, for this reason."""

    failure: Failure
    at: float


Event = AllSubscribed | DataBuffered | ShutdownAnnounced | Stalled | Ended | control.ControlEvent


# -- records to append ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Audit:
    """A CONNECTION record to append (``QueueWriter.append_connection``)."""

    event: ConnectionEvent
    conn_id: int
    code: int
    detail: str


@dataclass(frozen=True, slots=True)
class StreamLost:
    """A stream that may have missed frames (``Ingestor.stream_lost``)."""

    symbol: str
    stream: int
    reason: int


Record = Audit | StreamLost


# -- actions --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Open:
    """Connect ``machine``, then report :meth:`ShardPlan.opened` or
    :meth:`ShardPlan.open_failed`."""

    machine: ConnectionMachine


@dataclass(frozen=True, slots=True)
class Close:
    """``machine`` was told to close: let its connection send the close frame; with
    ``wait``, until the connection is over."""

    machine: ConnectionMachine
    wait: bool = False


@dataclass(frozen=True, slots=True)
class Wait:
    """Nothing to do before ``until`` (monotonic), unless a connection has news."""

    until: float


@dataclass(frozen=True, slots=True)
class Done:
    """Every stream of the shard was refused: nothing left to record."""


Action = Open | Close | Wait | Done
