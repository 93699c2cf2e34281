"""When one connection's time is up: a stall (judged on an empty socket), an overdue
control reply, a closing handshake that takes too long.

:class:`Watchdogs` is a part of :class:`~binfeed.binance.machine.ConnectionMachine` (which
inherits it): its time inputs, :meth:`~Watchdogs.tick` and, after a suspected stall,
:meth:`~Watchdogs.socket_checked`. The stall judgement itself is
:class:`~binfeed.binance.health.StallWatch`'s: the peer's silence for ``stall_timeout``,
never the recorder's own absence (a clock that woke late restarts the reply timers), and
never while the socket holds unread bytes.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from binfeed.binance.events import Stalled
from binfeed.binance.health import StallStep
from binfeed.binance.machine_types import Mode, State
from binfeed.binance.retry import Failure, FailureKind

if TYPE_CHECKING:
    from binfeed.binance.machine import ConnectionMachine

log = logging.getLogger("binfeed.record")


class Watchdogs:
    """The time inputs of :class:`~binfeed.binance.machine.ConnectionMachine`."""

    def tick(self: ConnectionMachine, now: float) -> None:
        """Time passed: sends what the budget now allows, and ends a live connection that
        stalled or whose control reply is overdue, or a closing handshake that took too
        long."""
        if self.state is State.CLOSING:
            since = self._closing.since
            if since is not None and now - since >= self.settings.close_timeout:
                self._closing.done = True
            return
        if self.state is not State.OPEN:
            return
        if self.mode is Mode.LIVE:
            step = self._stall.check(self.last_rx, now)
            if step is StallStep.PROBE:
                self._probe = True  # judged by socket_checked(), nothing else before it
                return
            if step is StallStep.ABSENT:
                log.warning("connection %d: its clock woke %.1f s late (the process was "
                            "stopped, swapped out or its VM paused?); reading what arrived "
                            "meanwhile before judging the connection", self.conn_id,
                            self._stall.late)
                self.channel.restart_timers(now)
            overdue = self.channel.expired(now)
            if overdue:
                log.warning("connection %d: no reply to %s within %.0f s; reconnecting",
                            self.conn_id, overdue[0].encode(), self.settings.reply_timeout)
                self._end(Failure(FailureKind.CONTROL, None, "control reply overdue"))
                return
        self._send_due(now)

    def socket_checked(self: ConnectionMachine, unread: bool, now: float) -> None:
        """After :attr:`stall_suspected`: whether the socket, read with a zero timeout,
        held unread bytes (then the receive side reads them and the connection is kept),
        or nothing (then the peer was silent for the stall timeout: the connection ends)."""
        if not self._probe:
            return
        self._probe = False
        if not self._stall.probed(unread, now):
            self.tick(now)
            return
        silent, timeout = now - self.last_rx, self.settings.stall_timeout
        log.warning("connection %d: no frame for %.1f s (stall timeout %.1f s); replacing it",
                    self.conn_id, silent, timeout)
        self._event(Stalled(silent))
        self._end(Failure(FailureKind.STALLED, None, f"no frame for {silent:.1f} s"))
