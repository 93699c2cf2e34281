"""The loopback server's fault injection: which fault, on which connection, when, and what
it does to that connection.

Faults are a documented feature, for testing clients (the recorder, or a user's own)
against ``replay --serve`` (``--fault KIND=VALUE``, parsed by
:mod:`binfeed.commands.params`). Everything here is decided by counts and by the time since
a connection opened, never by chance: the same data, options and client give the same
faults at the same frames.

One-shot faults (:class:`Fault`), per connection (numbered 1, 2, 3... in accept order, 0 =
every connection), after a number of market-data frames sent on it or a number of seconds
after it opened:

- ``abort``: TCP closed without a close frame (the client sees 1006); what was sent before
  is delivered;
- ``reset``: TCP RST (the kernel may discard what was still unsent);
- ``close``: a close frame with ``code`` (1000, 1001, 1008, 1011, 3000-4999...; 1006
  cannot be sent: it means ``abort``);
- ``stall``: nothing is sent any more, not even pings or pongs; the socket stays open;
- ``shutdown``: Binance's ``serverShutdown`` event, then close 1001 after ``grace``
  seconds (frames keep flowing meanwhile).

A ping flood is no fault of its own here: :class:`PingEvery` sets the server's ping
interval (``ServerConfig.ping_interval``).

Recurring injections (:class:`Injection`), after every ``every`` market-data frames sent on
a connection, inserted between them (no market-data frame is replaced or lost):

- ``malformed``: a frame binfeed's parser (or any client) must refuse, cycling through
  :data:`MALFORMED_KINDS` (see :func:`malformed_message`);
- ``unsubscribed``: the latest frame of a stream the client did not subscribe to (a source
  with only the subscribed streams has none to send).

This module decides; the server's connection (:mod:`binfeed.binance.server`) carries the
decision out through the :class:`FaultTarget` calls.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, Protocol

from websockets.frames import EXTERNAL_CLOSE_CODES

__all__ = [
    "DEFAULT_SHUTDOWN_GRACE",
    "MALFORMED_KINDS",
    "Fault",
    "FaultAction",
    "FaultOption",
    "FaultSchedule",
    "FaultTarget",
    "Injection",
    "InjectionKind",
    "InjectionSchedule",
    "PingEvery",
    "apply_fault",
    "malformed_message",
    "sendable_close_code",
]

FaultAction = Literal["abort", "reset", "close", "stall", "shutdown"]
FaultWhen = Literal["frames", "seconds"]
InjectionKind = Literal["malformed", "unsubscribed"]
#: The malformed frames :func:`malformed_message` makes, in the order they come.
MALFORMED_KINDS = ("truncated", "not-json", "mistyped", "bad-decimal")
#: 1006 is what a client reports for a connection dropped without a close frame.
ABNORMAL_CLOSURE = 1006
#: Seconds between a ``serverShutdown`` event and the close that follows it.
DEFAULT_SHUTDOWN_GRACE = 5.0


def sendable_close_code(code: int) -> bool:
    """Whether a close frame may carry ``code`` (RFC 6455 section 7.4), or it is 1006
    (which :class:`Fault` turns into an abort)."""
    return code in EXTERNAL_CLOSE_CODES or 3000 <= code <= 4999 or code == ABNORMAL_CLOSURE


@dataclass(frozen=True)
class Fault:
    """A one-shot fault to inject on a connection.

    Args:
        action: abort | reset | close | stall | shutdown (see the module doc).
        after_frames: act once this many market-data frames were sent on the connection.
        connection: the connection's number (1 = the first accepted), 0 = every connection.
        code: the close code of ``close`` (1006 means ``abort``).
        reason: the close reason.
        grace: ``shutdown``: seconds between the event and the close (frames keep flowing).
        after_seconds: act this many seconds after the connection opened instead (then
            ``after_frames`` is not used).
        label: how the user spelled it (``drop-every=1500``), for logs and reports.

    Raises:
        ValueError: a negative count or time, or a code no close frame can carry.
    """

    action: FaultAction
    after_frames: int = 0
    connection: int = 1
    code: int = 1011
    reason: str = ""
    grace: float = DEFAULT_SHUTDOWN_GRACE
    after_seconds: float | None = None
    label: str = ""

    def __post_init__(self) -> None:
        if self.after_frames < 0 or self.connection < 0 or self.grace < 0:
            raise ValueError("fault counts, connection numbers and grace cannot be negative")
        if self.after_seconds is not None and not (
                math.isfinite(self.after_seconds) and self.after_seconds >= 0):
            raise ValueError(f"a fault's time must be a number of seconds >= 0, not "
                             f"{self.after_seconds!r}")
        if self.action == "close" and not sendable_close_code(self.code):
            raise ValueError(f"close code {self.code} cannot be sent: use 1000-1003, "
                             "1007-1014 or 3000-4999 (1006: a drop without a close frame)")

    @property
    def when(self) -> FaultWhen:
        """Whether the fault falls due by frames sent or by seconds since the opening."""
        return "frames" if self.after_seconds is None else "seconds"

    @property
    def name(self) -> str:
        """The label, or the action when it has none."""
        return self.label or self.action


class FaultSchedule:
    """The one-shot faults of one connection, in the order they fall due.

    Args:
        faults: every configured fault (those of other connections are left out).
        number: the connection's number.
    """

    def __init__(self, faults: Iterable[Fault], number: int) -> None:
        mine = [f for f in faults if f.connection in (0, number)]
        self._pending = sorted((f for f in mine if f.when == "frames"),
                               key=lambda f: f.after_frames)
        #: the faults due at a time, earliest first: the connection starts a timer for each.
        self.timed: list[Fault] = sorted((f for f in mine if f.when == "seconds"),
                                         key=lambda f: f.after_seconds or 0.0)

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


@dataclass(frozen=True)
class Injection:
    """A frame inserted after every ``every`` market-data frames of a connection.

    Args:
        kind: malformed | unsubscribed (see the module doc).
        every: market-data frames between two insertions (at least 1).
        connection: the connection's number, 0 = every connection.
        label: how the user spelled it (``malformed-every=50``).

    Raises:
        ValueError: ``every`` below 1.
    """

    kind: InjectionKind
    every: int
    connection: int = 0
    label: str = ""

    def __post_init__(self) -> None:
        if self.every < 1:
            raise ValueError(f"an injection needs every >= 1 frames, not {self.every}")


@dataclass(frozen=True)
class PingEvery:
    """Pings every ``interval`` seconds instead of Binance's 20 (0.02: a flood of 50/s).

    Raises:
        ValueError: not a positive number of seconds.
    """

    interval: float
    label: str = ""

    def __post_init__(self) -> None:
        if not (math.isfinite(self.interval) and self.interval > 0):
            raise ValueError(f"a ping interval must be a number of seconds > 0, not "
                             f"{self.interval!r}")


#: What one ``--fault`` option can be.
FaultOption = Fault | Injection | PingEvery


class InjectionSchedule:
    """The recurring injections of one connection.

    Args:
        injections: every configured injection (those of other connections are left out).
        number: the connection's number.
    """

    def __init__(self, injections: Iterable[Injection], number: int) -> None:
        self._next = [[i.every, i] for i in injections if i.connection in (0, number)]

    @property
    def wants_unsubscribed(self) -> bool:
        """Whether frames of streams the connection did not subscribe to are wanted."""
        return any(i.kind == "unsubscribed" for _, i in self._next)

    def frames_until_next(self, sent: int) -> float:
        """How many more frames may be sent before the next insertion (inf: none)."""
        if not self._next:
            return math.inf
        return max(0, min(at for at, _ in self._next) - sent)

    def due(self, sent: int) -> list[Injection]:
        """The injections due once ``sent`` frames were sent, in configuration order; each
        is then scheduled ``every`` frames later again."""
        out = []
        for entry in self._next:
            at, injection = entry
            if at <= sent:
                out.append(injection)
                # Frames sent in one go past several multiples still give one insertion.
                entry[0] = (sent // injection.every + 1) * injection.every
        return out


def _ascii_upper(text: str) -> str:
    return "".join(c.upper() if c.isascii() else c for c in text)


def malformed_message(n: int, last: bytes, name: str, combined: bool) -> tuple[str, bytes]:
    """The ``n``-th malformed message of a connection (0-based), made from the last
    market-data message it sent (``last``, as the client got it) and that message's stream
    ``name``; ``combined``: the client gets ``{"stream":..,"data":..}`` envelopes.

    The kinds cycle through :data:`MALFORMED_KINDS`: ``truncated`` (the last message cut in
    half, at a UTF-8 character boundary), ``not-json``, ``mistyped`` (a field of the wrong
    JSON type: the update id or event time as a string) and ``bad-decimal`` (a price that
    is not a decimal). Every one is valid UTF-8: a WebSocket text frame must be.

    Returns:
        (the kind, the message text as bytes).
    """
    kind = MALFORMED_KINDS[n % len(MALFORMED_KINDS)]
    symbol, _, stream = name.partition("@")
    sym = _ascii_upper(symbol)
    if kind == "truncated":
        cut = len(last) // 2
        while cut > 0 and (last[cut] & 0xC0) == 0x80:  # not inside a UTF-8 sequence
            cut -= 1
        return kind, last[:cut]
    if kind == "not-json":
        return kind, f"malformed frame {n + 1}: this is not JSON".encode()
    wrong = '"not a number"' if kind == "mistyped" else None
    price = '"1,5"' if kind == "bad-decimal" else '"1.00000000"'
    if stream == "bookTicker":
        data = (f'{{"u":{wrong or 1},"s":"{sym}","b":{price},"B":"1.00000000",'
                f'"a":"1.00000000","A":"1.00000000"}}')
    elif stream == "trade":
        data = (f'{{"e":"trade","E":{wrong or 1},"s":"{sym}","t":1,"p":{price},'
                f'"q":"1.00000000","T":1,"m":true,"M":true}}')
    else:
        data = f'{{"e":"{stream}","E":{wrong or 1},"s":"{sym}","p":{price}}}'
    text = f'{{"stream":"{name}","data":{data}}}' if combined else data
    return kind, text.encode()


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
    if fault.action in ("abort", "reset") or (
            fault.action == "close" and fault.code == ABNORMAL_CLOSURE):
        await target.abort(reset=fault.action == "reset")
    elif fault.action == "close":
        await target.close(fault.code, fault.reason)
    elif fault.action == "stall":
        target.stall()
    elif fault.action == "shutdown":
        await target.announce_shutdown(fault.grace)
    else:  # pragma: no cover - Literal keeps this out
        raise ValueError(f"unknown fault {fault.action!r}")
