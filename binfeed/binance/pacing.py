"""Rate budgets: outgoing messages per connection, connection attempts per process.

**Outgoing messages.** Binance counts every message a connection sends (PING, PONG and
JSON control messages alike) and closes the connection with 1008 above
``BINANCE_MESSAGE_LIMIT`` (5) per second. :class:`OutgoingBudget` holds everything one
connection sends to less, with a margin on both sides of the ratio:

=====================================  ================================================
rule                                   why
=====================================  ================================================
at most ``DEFAULT_MESSAGE_LIMIT`` (4)  one message under Binance's 5: a retransmitted
messages in any window of              TCP segment can deliver two messages together,
``DEFAULT_MESSAGE_WINDOW`` (1.1 s)     and the close frame that ends a connection is
                                       sent at once, whatever the window holds
the window is 1.1 s, not 1 s           up to 100 ms of network jitter cannot squeeze
                                       two windows' messages into one of the server's
                                       seconds
control messages (SUBSCRIBE,           each kind in its own window: a pong never waits
UNSUBSCRIBE, ...): at most             behind control messages, and a ping flood never
``DEFAULT_CONTROL_LIMIT`` (3) per      starves them
window; pongs: at most
``DEFAULT_PONG_LIMIT`` (1)
pongs first                            a pong and a control message due together: the
                                       pong is sent first
a pong that cannot go yet (a ping      waits, then answers the latest ping only (RFC 6455
flood: one pong per 1.1 s)             section 5.5.3 allows it); Binance pings every
                                       20 s, so each of its pings is answered at once,
                                       far inside its 1-minute deadline
=====================================  ================================================

**Connection attempts.** Binance allows 300 connection attempts per 5 minutes per IP.
:class:`TokenBucket` paces every attempt of a process (all shards, reconnects and
rotations): a burst of ``DEFAULT_CONNECT_BURST`` (10) at once, then
``DEFAULT_CONNECT_RATE`` (0.8) per second, so that any 5 minutes hold at most
10 + 0.8 x 300 = 250 attempts (:meth:`TokenBucket.most_in`), room left for a second
process on the same IP (one per second, as often suggested, would allow 310). Several
recorders on one IP share Binance's limit: give each a share with ``record
--connect-burst`` and ``--connect-rate`` (docs/recorder.md).

Sans-I/O: callers pass the time (any monotonic clock, in seconds).
"""

from __future__ import annotations

import math
from collections import deque

#: Binance's limit: messages a connection may send per second (PING, PONG and JSON control
#: messages together); one more and Binance closes the connection with 1008.
BINANCE_MESSAGE_LIMIT = 5
#: Binance's window for BINANCE_MESSAGE_LIMIT, seconds.
BINANCE_MESSAGE_WINDOW = 1.0
#: The window of the outgoing budget, seconds: one second plus a margin for jitter.
DEFAULT_MESSAGE_WINDOW = 1.1
#: Control messages per DEFAULT_MESSAGE_WINDOW at most.
DEFAULT_CONTROL_LIMIT = 3
#: Pongs per DEFAULT_MESSAGE_WINDOW at most (a faster ping gets its pong a window later).
DEFAULT_PONG_LIMIT = 1
#: Messages a connection sends per DEFAULT_MESSAGE_WINDOW at most, pongs included.
DEFAULT_MESSAGE_LIMIT = DEFAULT_CONTROL_LIMIT + DEFAULT_PONG_LIMIT
#: Binance's limit of connection attempts per IP, and its window, seconds.
BINANCE_ATTEMPT_LIMIT = 300
BINANCE_ATTEMPT_WINDOW = 300.0
#: Connection attempts a process may make at once (all shards together).
DEFAULT_CONNECT_BURST = 10
#: Connection attempts per second after the burst (all shards together).
DEFAULT_CONNECT_RATE = 0.8


class RollingWindow:
    """At most ``limit`` events in any window of ``window`` seconds.

    :meth:`delay` says how long to wait before the next event may happen; :meth:`record`
    notes one that happened (also one that could not wait, such as a close frame, which
    then delays the next ones).
    """

    def __init__(self, limit: int, window: float) -> None:
        if limit < 1 or window <= 0:
            raise ValueError(f"need limit >= 1 and window > 0, got {limit}, {window}")
        self.limit = limit
        self.window = window
        self._times: deque[float] = deque()

    def _expire(self, now: float) -> None:
        times = self._times
        while times and times[0] <= now - self.window:
            times.popleft()

    def count(self, now: float) -> int:
        """Events within the window ending at ``now``."""
        self._expire(now)
        return len(self._times)

    def delay(self, now: float, limit: int | None = None) -> float:
        """Seconds to wait before one more event fits (0.0: it fits now).

        Args:
            limit: judge against this many events per window instead of :attr:`limit` (a
                higher one for events that take precedence, such as pongs).
        """
        self._expire(now)
        limit = self.limit if limit is None else limit
        if len(self._times) < limit:
            return 0.0
        # The event that has to leave the window first is the (len - limit + 1)-th oldest.
        oldest_to_leave = self._times[len(self._times) - limit]
        return max(0.0, oldest_to_leave + self.window - now)

    def record(self, now: float) -> None:
        """Notes one event at ``now``."""
        self._expire(now)
        self._times.append(now)


class OutgoingBudget:
    """Everything one connection sends (see the module's table): in any ``window``, at
    most ``control_limit`` control messages and ``pong_limit`` pongs, each kind in its own
    window, so that neither ever waits for the other.

    Ask :meth:`pong_delay` or :meth:`control_delay` before sending, :meth:`record` after.
    """

    def __init__(self, control_limit: int = DEFAULT_CONTROL_LIMIT,
                 pong_limit: int = DEFAULT_PONG_LIMIT,
                 window: float = DEFAULT_MESSAGE_WINDOW) -> None:
        self.controls = RollingWindow(control_limit, window)
        self.pongs = RollingWindow(pong_limit, window)
        self.window = window

    @property
    def limit(self) -> int:
        """Messages in any window at most, both kinds together."""
        return self.controls.limit + self.pongs.limit

    def count(self, now: float) -> int:
        """Messages sent in the window ending at ``now``."""
        return self.controls.count(now) + self.pongs.count(now)

    def pong_delay(self, now: float) -> float:
        """Seconds before a pong may go (0.0: now)."""
        return self.pongs.delay(now)

    def control_delay(self, now: float) -> float:
        """Seconds before a control message may go (0.0: now)."""
        return self.controls.delay(now)

    def record(self, now: float, pong: bool = False) -> None:
        """Notes one message sent at ``now``: a pong, or a control message."""
        (self.pongs if pong else self.controls).record(now)


class TokenBucket:
    """Connection attempts of a process: ``burst`` at once, then ``rate`` per second.

    Ask :meth:`delay` before an attempt and :meth:`take` when making it.

    Args:
        burst: tokens the bucket holds (it starts full), at least 1.
        rate: tokens added per second, over 0.
    """

    def __init__(self, burst: int = DEFAULT_CONNECT_BURST,
                 rate: float = DEFAULT_CONNECT_RATE) -> None:
        if burst < 1 or not rate > 0 or math.isinf(rate):
            raise ValueError(f"need a burst >= 1 and a finite rate > 0, got {burst}, {rate}")
        self.burst = burst
        self.rate = rate
        self._tokens = float(burst)
        self._at: float | None = None

    def _refill(self, now: float) -> None:
        if self._at is not None and now > self._at:
            self._tokens = min(float(self.burst), self._tokens + (now - self._at) * self.rate)
        if self._at is None or now > self._at:
            self._at = now

    def delay(self, now: float) -> float:
        """Seconds until an attempt may go (0.0: now)."""
        self._refill(now)
        return 0.0 if self._tokens >= 1.0 else (1.0 - self._tokens) / self.rate

    def take(self, now: float) -> None:
        """Uses one token for an attempt made at ``now`` (call after a zero :meth:`delay`)."""
        self._refill(now)
        self._tokens -= 1.0

    def most_in(self, seconds: float) -> int:
        """The most attempts any window of ``seconds`` can hold: the full bucket, then the
        refill (an attempt at each end of the window counts)."""
        return self.burst + math.floor(seconds * self.rate)
