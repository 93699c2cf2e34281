"""Everything one connection sends, through one outgoing budget: pongs first, then
control messages, at most 4 messages in any 1.1 s.

Binance counts every message a client sends (PING, PONG, SUBSCRIBE, UNSUBSCRIBE and every
other JSON control message) against one limit of 5 per second per connection; one more
and it closes the connection with 1008. :class:`Outgoing` is the one place a connection's
messages leave from, under :class:`~binfeed.binance.pacing.OutgoingBudget` (its table has
the rules and their margins):

============================================  ==========================================
what is waiting                               what :meth:`Outgoing.due` returns
============================================  ==========================================
a ping's pong, and room for it (no pong in   the pong first, with the payload of the
the last 1.1 s)                               latest ping (older ones are answered by
                                              it, RFC 6455 section 5.5.3)
control messages (the channel's requests),    as many as fit under 3 per 1.1 s (their
and room for them                             own window), after the pong
nothing fits                                  nothing; :meth:`Outgoing.deadline` says
                                              when something will
============================================  ==========================================

At most 4 messages in any 1.1 s, one under Binance's limit. A ping flood gets one pong
per 1.1 s, whatever its rate, and cannot starve the control messages; a ping of
Binance's (every 20 s) never waits for control messages.
The transport must not answer pings by itself
(:class:`binfeed.binance.transport.PongsLeftToCaller`).
The close frame that ends a connection is its last message and is never held back; the
one-message margin under Binance's limit covers it.

Sans-I/O: callers pass the time.
"""

from __future__ import annotations

import logging

from binfeed.binance.control import ControlChannel
from binfeed.binance.events import OutgoingFrame, SendPong, SendText
from binfeed.binance.pacing import OutgoingBudget

log = logging.getLogger("binfeed.record")


class Outgoing:
    """One connection's outgoing messages (see the module doc).

    Args:
        channel: the connection's control channel (its requests are sent from here).
        budget: the outgoing budget (default: Binance's, with margins).
        conn_id: for logs.
    """

    def __init__(self, channel: ControlChannel, budget: OutgoingBudget | None = None,
                 conn_id: int = 0) -> None:
        self.channel = channel
        self.budget = budget or OutgoingBudget()
        self.conn_id = conn_id
        self.pongs = 0
        self._pong: bytes | None = None  # payload of the latest ping not answered yet

    def ping(self, payload: bytes) -> None:
        """A ping arrived: its pong goes with the next :meth:`due` that has room (a later
        ping's payload replaces it)."""
        self._pong = payload

    @property
    def waiting(self) -> bool:
        """Whether something waits for room in the budget."""
        return self._pong is not None or self.channel.has_outgoing

    def due(self, now: float) -> list[OutgoingFrame]:
        """The messages that may go at ``now``, in order (each is counted as sent)."""
        frames: list[OutgoingFrame] = []
        budget = self.budget
        if self._pong is not None and budget.pong_delay(now) == 0.0:
            frames.append(SendPong(self._pong))
            self._pong = None
            self.pongs += 1
            budget.record(now, pong=True)
        channel = self.channel
        while channel.has_outgoing and budget.control_delay(now) == 0.0:
            req = channel.next_request(now)
            assert req is not None
            text = req.encode()
            log.debug("connection %d: -> %s", self.conn_id, text)
            frames.append(SendText(text))
            budget.record(now)
        return frames

    def deadline(self, now: float) -> float | None:
        """When :meth:`due` will have something to send (None: nothing is waiting)."""
        times = []
        if self._pong is not None:
            times.append(now + self.budget.pong_delay(now))
        if self.channel.has_outgoing:
            times.append(now + self.budget.control_delay(now))
        return min(times) if times else None
