"""When one connection's time is up: a stall (judged on an empty socket) or an overdue
control reply (the closing handshake's own limit is :mod:`~binfeed.binance.closing`'s).

:class:`Watchdogs` is owned by :class:`~binfeed.binance.machine.ConnectionMachine`, whose
time inputs (:meth:`~binfeed.binance.machine.ConnectionMachine.tick` and, after a
suspected stall, :meth:`~binfeed.binance.machine.ConnectionMachine.socket_checked`) ask
it; it answers with what is due and the machine acts on it (ends the connection, reports
the stall). The stall judgement itself is :class:`~binfeed.binance.health.StallWatch`'s:
the peer's silence for ``stall_timeout``, never the recorder's own absence (a clock that
woke late restarts the reply timers), and never while the socket holds unread bytes.
"""

from __future__ import annotations

import logging

from binfeed.binance.control import ControlChannel
from binfeed.binance.health import StallStep, StallWatch
from binfeed.binance.machine_types import ConnectionSettings
from binfeed.binance.retry import Failure, FailureKind

log = logging.getLogger("binfeed.record")


class Watchdogs:
    """One connection's time limits: its stall timer, whether a stall is suspected, the
    deadlines of its control replies.

    Args:
        conn_id: the connection's number (logs).
        settings: its timeouts.
        channel: its control channel (the replies it waits for).
    """

    def __init__(self, conn_id: int, settings: ConnectionSettings,
                 channel: ControlChannel) -> None:
        self.conn_id = conn_id
        self.settings = settings
        self.channel = channel
        self._stall = StallWatch(settings.stall_timeout)
        self._suspected = False  # a stall is suspected: socket_checked() is due

    @property
    def suspected(self) -> bool:
        """The stall deadline passed without a frame: the socket is to be read first."""
        return self._suspected

    def opened(self, now: float) -> None:
        """The handshake completed at ``now``: silence counts from then."""
        self._stall.quiet_from = now

    def deadline(self, last_rx: float) -> float:
        """When a live connection whose last read came at ``last_rx`` is due a tick: its
        stall deadline, or a control reply's if sooner."""
        stall = self._stall.deadline(last_rx)
        reply = self.channel.next_deadline()
        return stall if reply is None else min(stall, reply)

    def promise(self, deadline: float, now: float) -> None:
        """The glue's clock sleeps until ``deadline`` (asked at ``now``): a tick much later
        means the process was away."""
        self._stall.promise(deadline, now)

    def check_stall(self, last_rx: float, now: float) -> bool:
        """A live connection's tick at ``now``: True when a stall is now suspected (then
        nothing else happens before the socket is read, :meth:`socket_checked`). A clock
        that woke late restarts the reply timers instead."""
        step = self._stall.check(last_rx, now)
        if step is StallStep.PROBE:
            self._suspected = True
            return True
        if step is StallStep.ABSENT:
            log.warning("connection %d: its clock woke %.1f s late (the process was "
                        "stopped, swapped out or its VM paused?); reading what arrived "
                        "meanwhile before judging the connection", self.conn_id,
                        self._stall.late)
            self.channel.restart_timers(now)
        return False

    def reply_overdue(self, now: float) -> Failure | None:
        """The failure that ends a live connection whose control reply is overdue, or
        None."""
        overdue = self.channel.expired(now)
        if not overdue:
            return None
        log.warning("connection %d: no reply to %s within %.0f s; reconnecting",
                    self.conn_id, overdue[0].encode(), self.settings.reply_timeout)
        return Failure(FailureKind.CONTROL, None, "control reply overdue")

    def socket_checked(self, unread: bool, silent: float, now: float) -> Failure | None:
        """After :attr:`suspected`: the socket, read with a zero timeout, held unread bytes
        (None: not a stall, the receive side reads them) or nothing (the failure that ends
        the connection: the peer was ``silent`` for the stall timeout)."""
        self._suspected = False
        if not self._stall.probed(unread, now):
            return None
        log.warning("connection %d: no frame for %.1f s (stall timeout %.1f s); replacing it",
                    self.conn_id, silent, self.settings.stall_timeout)
        return Failure(FailureKind.STALLED, None, f"no frame for {silent:.1f} s")
