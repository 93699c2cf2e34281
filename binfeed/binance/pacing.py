"""Rate budgets: outgoing control messages per connection, connection attempts per process.

Binance counts every incoming message of a connection (PING, PONG and JSON control
messages alike) and closes the connection with 1008 above 5 per second. binfeed sends at
most 4 control messages per rolling window, leaving room for the pongs it owes the server
(which are counted in the same window and never delayed), and makes the window slightly
longer than a second (``DEFAULT_CONTROL_WINDOW``) so network jitter cannot squeeze two
bursts into one of the server's seconds.

Binance also limits connection attempts to 300 per 5 minutes per IP; binfeed keeps all of
its connections together under ``DEFAULT_ATTEMPTS_PER_WINDOW`` (240) per 5 minutes, room
left for another process on the same machine.

Sans-I/O: callers pass the time (any monotonic clock, in seconds).
"""

from __future__ import annotations

from collections import deque

#: Control messages a connection sends per window (Binance allows 5 incoming messages/s).
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

    def delay(self, now: float) -> float:
        """Seconds to wait before one more event fits (0.0: it fits now)."""
        self._expire(now)
        if len(self._times) < self.limit:
            return 0.0
        # The event that has to leave the window first is the (len - limit + 1)-th oldest.
        oldest_to_leave = self._times[len(self._times) - self.limit]
        return max(0.0, oldest_to_leave + self.window - now)

    def record(self, now: float) -> None:
        """Notes one event at ``now``."""
        self._expire(now)
        self._times.append(now)


def control_budget() -> RollingWindow:
    """A connection's budget for outgoing control messages (and the pongs counted with them)."""
    return RollingWindow(DEFAULT_CONTROL_LIMIT, DEFAULT_CONTROL_WINDOW)


def attempt_budget() -> RollingWindow:
    """A process's budget of connection attempts."""
    return RollingWindow(DEFAULT_ATTEMPTS_PER_WINDOW, DEFAULT_ATTEMPT_WINDOW)
