"""Rate budgets: outgoing messages per connection, connection attempts per process.

Binance counts every incoming message of a connection (PING, PONG and JSON control
messages alike) and closes the connection with 1008 above ``BINANCE_MESSAGE_LIMIT`` (5) per
second. :class:`OutgoingBudget` counts everything a connection sends in one rolling window
slightly longer than a second (``DEFAULT_CONTROL_WINDOW``, so network jitter cannot squeeze
two bursts into one of the server's seconds): control messages go while fewer than
``DEFAULT_CONTROL_LIMIT`` (4) were sent in the window, pongs while fewer than 5 were. The
one slot control messages leave is a pong's, so a pong never waits behind SUBSCRIBEs, and
no window ever holds a sixth message, however fast the server pings: a pong that finds the
window full waits for room (the connection then answers only the latest ping, as RFC 6455
section 5.5.3 allows).

Binance also limits connection attempts to 300 per 5 minutes per IP; binfeed keeps all of
its connections together under ``DEFAULT_ATTEMPTS_PER_WINDOW`` (240) per 5 minutes, room
left for another process on the same machine.

Sans-I/O: callers pass the time (any monotonic clock, in seconds).
"""

from __future__ import annotations

from collections import deque

#: Binance's limit: messages a connection may send per second (PING, PONG and JSON control
#: messages together); one more and Binance closes the connection with 1008.
BINANCE_MESSAGE_LIMIT = 5
#: Binance's window for BINANCE_MESSAGE_LIMIT, seconds.
BINANCE_MESSAGE_WINDOW = 1.0
#: Control messages a connection sends per window (the rest of the 5 is for pongs).
DEFAULT_CONTROL_LIMIT = 4
#: The window of DEFAULT_CONTROL_LIMIT, seconds: one second plus a margin for jitter.
DEFAULT_CONTROL_WINDOW = 1.1
#: Connection attempts per DEFAULT_ATTEMPT_WINDOW, all connections together.
DEFAULT_ATTEMPTS_PER_WINDOW = 240
#: Binance's window for connection attempts, seconds.
DEFAULT_ATTEMPT_WINDOW = 300.0


class RollingWindow:
    """At most ``limit`` events in any window of ``window`` seconds.

    :meth:`delay` says how long to wait before the next event may happen; :meth:`record`
    notes one that happened (also one that could not wait, such as a pong, which then
    delays the next ones).
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


def control_budget() -> RollingWindow:
    """A connection's budget for outgoing control messages (and the pongs counted with them)."""
    return RollingWindow(DEFAULT_CONTROL_LIMIT, DEFAULT_CONTROL_WINDOW)


class OutgoingBudget:
    """Everything one connection sends, in one :func:`control_budget` window (see the
    module doc): control messages within its limit, pongs up to Binance's.

    Ask :meth:`pong_delay` or :meth:`control_delay` before sending, :meth:`record` after.
    """

    def __init__(self, pong_limit: int = BINANCE_MESSAGE_LIMIT) -> None:
        self.sent = control_budget()
        if pong_limit < self.sent.limit:
            raise ValueError(f"pong_limit {pong_limit} is under the control limit "
                             f"{self.sent.limit}: pongs would wait behind control messages")
        self.pong_limit = pong_limit

    def pong_delay(self, now: float) -> float:
        """Seconds before a pong may go (0.0: now)."""
        return self.sent.delay(now, self.pong_limit)

    def control_delay(self, now: float) -> float:
        """Seconds before a control message may go (0.0: now)."""
        return self.sent.delay(now)

    def record(self, now: float) -> None:
        """Notes one message sent at ``now`` (a pong or a control message)."""
        self.sent.record(now)


def attempt_budget() -> RollingWindow:
    """A process's budget of connection attempts."""
    return RollingWindow(DEFAULT_ATTEMPTS_PER_WINDOW, DEFAULT_ATTEMPT_WINDOW)
