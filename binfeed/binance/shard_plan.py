"""One shard's decisions: connect, reconnect, rotate, cut over, give up.

Sans-I/O, like :mod:`binfeed.binance.machine`, one level up: a :class:`ShardPlan` keeps
one group of streams connected through :class:`~binfeed.binance.machine.ConnectionMachine`
objects, and the supervisor (:mod:`binfeed.binance.supervisor`) runs what it asks for; what
the shards share is their :class:`~binfeed.binance.plan.RecorderPlan`'s. The supervisor's
loop per shard is::

    action = shard.next_action(now)        Open | Close | Wait | Done
    write recorder.records_to_append()     CONNECTION records and streams marked lost
    Open(machine):  connect it, then shard.opened(machine, now) or shard.open_failed(...)
    Close(machine): the machine was told to close; let its connection act (and wait)
    Wait(until):    sleep until then, or until a connection has news
    Done:           nothing left to record on this shard

The decisions are the protocol modules' own, never re-implemented here: reconnect or give
up and how long to wait (:func:`retry.classify`, :class:`retry.Backoff`), when to rotate
(:func:`health.rotation_due`, ``serverShutdown``) and when to cut over
(:class:`health.Handover`), the connection attempt budget
(:class:`pacing.TokenBucket`, one for all shards); stalls and overdue replies are each
machine's.

- a connection lost: every stream it carried is marked lost in the parser (its next record
  is preceded by a GAP record unless a trade id proves continuity), then reconnect,
  resubscribing everything: at once if the connection was proven (subscribed, then stored
  market data), else with exponential backoff (retry.py's table). The time from the loss
  to the next connection of the shard being subscribed is the drop's downtime
  (:class:`~binfeed.binance.plan.Downtime`, for the status line and the summary);
- ``serverShutdown`` or ``max_age`` reached: a replacement connection buffers its frames
  while the old one keeps recording, for ``overlap`` seconds after its first frame; then the
  old one stops and the buffer goes to the parser, which drops by sequence number what was
  already stored. Nothing lost, nothing doubled. If the old one had no market data since
  the replacement began (:meth:`health.Handover.frames_may_be_missing`), the streams are
  marked lost before the buffer reaches the parser (``go_live(now, lost)``).

Every connection event is also a CONNECTION record: connected, subscribed, refused and
unsubscribed from the connection's machine (written at once, ahead of its market data),
stalled, server shutdown, rotated and disconnected from here. Fatal conditions raise from
the call that meets them: :class:`~binfeed.errors.EndpointError` (the endpoint refuses us
in a way retrying cannot fix) and, through the recorder's plan,
:class:`~binfeed.errors.SubscriptionError` (every stream refused).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from binfeed.binance import control, health
from binfeed.binance.endpoint import split_for_url
from binfeed.binance.events import Action, AllSubscribed, Close, Done, Open, Stalled, Wait
from binfeed.binance.machine import ConnectionMachine, State
from binfeed.binance.retry import Backoff, Failure, FailureKind, Verdict, classify
from binfeed.binance.streams import StreamId
from binfeed.errors import EndpointError
from binfeed.records import ConnectionEvent

if TYPE_CHECKING:
    from binfeed.binance.plan import RecorderPlan

log = logging.getLogger("binfeed.record")

#: After a failed replacement for a connection the server is shutting down, try again
#: this soon (a planned rotation waits ``rotation_retry``).
SHUTDOWN_ROTATION_RETRY = 1.0


class ShardPlan:
    """One group of streams on one connection at a time (two during a rotation).

    Args:
        recorder: the recorder's plan: what the shards share (the settings, the attempt
            budget, connection numbers and sinks, the counters, the records to append).
        index: the shard's number (logs).
        streams: the streams it carries.
    """

    def __init__(self, recorder: RecorderPlan, index: int, streams: list[StreamId]) -> None:
        cfg = recorder.config
        self.recorder = recorder
        self.index = index
        self.streams = streams
        self.backoff = Backoff(cfg.backoff_base, cfg.backoff_cap, cfg.reconnect_jitter)
        #: when the shard's live connection was lost, until the next one is subscribed
        self.down_since: float | None = None
        self.live: ConnectionMachine | None = None
        self.replacement: ConnectionMachine | None = None
        self.handover: health.Handover | None = None
        self.next_rotation_try = 0.0
        self.subscribe_only = False
        self._opening: ConnectionMachine | None = None
        self._retry_at: float | None = None
        self._shutdown_audited: int | None = None  # conn_id of the last SERVER_SHUTDOWN record
        self._done = False

    @property
    def done(self) -> bool:
        """Nothing left to record on this shard (its task ends)."""
        return self._done

    @property
    def _machines(self) -> list[ConnectionMachine]:
        """Its connections that have not ended: live, replacement, being opened."""
        return [m for m in (self.live, self.replacement, self._opening)
                if m is not None and not m.ended]

    # -- the streams change -----------------------------------------------------------
    def add(self, streams: Sequence[StreamId], now: float) -> None:
        """Carries ``streams`` too (new to the recorder): subscribed on its connections."""
        self.streams += streams
        for machine in self._machines:
            machine.add_streams(streams, now)

    def remove(self, gone: set[StreamId], now: float) -> None:
        """Stops carrying the streams in ``gone``: unsubscribed on its connections; with
        none left, :meth:`next_action` closes the shard."""
        left = [s for s in self.streams if s in gone]
        if not left:
            return
        self.streams = [s for s in self.streams if s not in gone]
        for machine in self._machines:
            machine.remove_streams(left, now)
        log.info("shard %d: %d streams unsubscribed, %d left", self.index, len(left),
                 len(self.streams))

    # -- the loop ---------------------------------------------------------------------
    def next_action(self, now: float) -> Action:
        """What the supervisor should do next for this shard."""
        if self._opening is not None:
            raise RuntimeError("report the pending Open first (opened or open_failed)")
        while True:
            if self._done:
                return Done()
            live = self.live
            for machine in (live, self.replacement):
                if machine is not None:
                    self._events(machine)
            if not self.streams:
                return self._wind_down(now)
            if live is None:
                if self._retry_at is not None and now < self._retry_at:
                    return Wait(self._retry_at)
                self._retry_at = None
                return self._open(now, live=True)
            action = self._watch(live, now)
            if action is not None:
                return action

    def _watch(self, live: ConnectionMachine, now: float) -> Action | None:
        """One look at the live connection (and its replacement); None: look again."""
        cfg = self.recorder.config
        if self.handover is not None:
            step = self._handover_step(live, now)
            if step is health.HandoverStep.CUT_OVER:
                return self._cut_over(live, now)
            if step is health.HandoverStep.ABANDON:
                return self._abandon(now)
            return Wait(self.handover.next_check(now))
        if live.ended:
            self._lost(live, now)
            return None
        if live.state is not State.OPEN:
            return Wait(math.inf)  # ending (stalled, closed by the server): its Ended comes
        due = live.shutdown_announced or health.rotation_due(live.connected_at, now,
                                                             cfg.max_age)
        if due and now >= self.next_rotation_try:
            return self._start_rotation(live, now)
        until = max(live.connected_at + cfg.max_age, self.next_rotation_try)
        if live.shutdown_announced:
            until = min(until, self.next_rotation_try)
        return Wait(until)

    def _wind_down(self, now: float) -> Action:
        """No stream left (refused or removed): the replacement closes, then the live
        connection (waited for), then the shard is done."""
        new, live = self.replacement, self.live
        if new is not None:
            self.replacement, self.handover = None, None
            new.detach()
            if not new.ended:
                new.close(Failure(FailureKind.CLOSED, 1000, "no stream left"), now)
                return Close(new)
        self._done = True
        self.down_since = None  # nothing to be down for
        if live is None or live.ended:
            return Done()
        live.close(Failure(FailureKind.CLOSED, 1000, "no stream left to record"), now,
                   1000, "no stream left")
        self.recorder.audit(ConnectionEvent.DISCONNECTED, live.conn_id, 1000,
                             "no stream left to record")
        return Close(live, wait=True)

    # -- connecting -------------------------------------------------------------------
    def _open(self, now: float, live: bool) -> Action:
        rec = self.recorder
        wait = rec.take_attempt(now)
        if wait > 0:
            return Wait(now + wait)
        limit = 0 if self.subscribe_only else rec.config.max_url_length
        in_url, rest = split_for_url(rec.config.endpoint, self.streams, limit,
                                     rec.config.time_unit)
        machine = rec.new_machine(in_url, rest, live=live)
        self._opening = machine
        return Open(machine)

    def opened(self, machine: ConnectionMachine, now: float) -> None:
        """The connection of the last :class:`Open` is up (``machine.opened()`` was called)."""
        self._take_opening(machine)
        rec = self.recorder
        rec.stats.connections += 1
        carried = machine.carried
        log.info("connection %d (shard %d) open: %d streams in the URL, %d to subscribe",
                 machine.conn_id, self.index, len(carried.in_url), len(carried.to_subscribe))
        # Its CONNECTED (and SUBSCRIBED) records were written by the machine when it opened.
        rec.confirmed(carried.in_url)
        if self.live is None:
            self.live = machine
        else:
            self.replacement = machine
            cfg = rec.config
            self.handover = health.Handover(now, cfg.overlap, cfg.quiet_cutover,
                                            cfg.handover_timeout)

    def open_failed(self, machine: ConnectionMachine, failure: Failure, now: float) -> None:
        """The attempt of the last :class:`Open` failed.

        Raises:
            EndpointError: the failure is fatal (a person must act; the message says how).
        """
        self._take_opening(machine)
        rec = self.recorder
        rec.stats.failed_attempts += 1
        log.warning("connection %d (shard %d) failed: %s", machine.conn_id, self.index, failure)
        rec.audit(ConnectionEvent.DISCONNECTED, machine.conn_id, failure.code or 0,
                   f"connect failed: {failure}")
        live = self.live
        if live is not None:  # a replacement: keep the old connection, try again later
            retry = (SHUTDOWN_ROTATION_RETRY if live.shutdown_announced
                     else rec.config.rotation_retry)
            self.next_rotation_try = now + retry
            log.warning("connection %d: replacement failed (%s); keeping the old connection, "
                        "trying again in %.0f s", live.conn_id, failure, retry)
            return
        self._reconnect_after(failure, now, proven=False)

    def _take_opening(self, machine: ConnectionMachine) -> None:
        if machine is not self._opening:
            raise RuntimeError(f"connection {machine.conn_id} is not the one being opened")
        self._opening = None

    def _reconnect_after(self, failure: Failure, now: float, *, proven: bool) -> None:
        verdict = self._verdict(failure)
        delay = self.backoff.ended(proven, verdict)
        if self.backoff.failures:
            log.info("shard %d: reconnecting in %.2f s (%d attempts in a row failed)",
                     self.index, delay, self.backoff.failures)
        self._retry_at = now + delay

    def _verdict(self, failure: Failure) -> Verdict:
        verdict = classify(failure)
        if not verdict.retry:
            raise EndpointError(
                f"{self.recorder.config.endpoint.base}: {failure}. {verdict.advice}")
        if verdict.subscribe_only and not self.subscribe_only:
            log.warning("shard %d: the endpoint refused the streams named in the URL (%s); "
                        "subscribing to them one message at a time instead", self.index,
                        failure)
            self.subscribe_only = True
        return verdict

    def _lost(self, live: ConnectionMachine, now: float) -> None:
        failure = live.failure or Failure(FailureKind.DROPPED, 1006)
        rec = self.recorder
        log.warning("connection %d (shard %d) lost: %s", live.conn_id, self.index, failure)
        rec.audit(ConnectionEvent.DISCONNECTED, live.conn_id, failure.code or 0, str(failure))
        rec.mark_lost(live, live.gap_reason)
        self.live = None
        self.down_since = live.ended_at if live.ended_at is not None else now
        rec.stats.reconnects += 1
        self._reconnect_after(failure, now, proven=live.proven_at is not None)

    # -- what the connections said ----------------------------------------------------
    def _events(self, machine: ConnectionMachine) -> None:
        rec = self.recorder
        for event in machine.events_received():
            if isinstance(event, AllSubscribed):
                if machine is self.live and self.down_since is not None:
                    rec.recovered(max(0.0, event.at - self.down_since))
                    self.down_since = None
            elif isinstance(event, control.Subscribed):
                rec.confirmed(event.streams)
            elif isinstance(event, control.Refused):
                if event.stream in self.streams:
                    self.streams.remove(event.stream)
                rec.refused(machine, event)
            elif isinstance(event, control.Failed):
                log.warning("connection %d: %s refused: %s %s", machine.conn_id,
                            event.request.method, event.code, event.msg)
            elif isinstance(event, Stalled):
                rec.stats.stalls += 1
                rec.audit(ConnectionEvent.STALLED, machine.conn_id, int(event.silent * 1000),
                           f"no frame for {event.silent:.1f} s")

    # -- rotation ---------------------------------------------------------------------
    def _start_rotation(self, live: ConnectionMachine, now: float) -> Action:
        rec = self.recorder
        why = ("serverShutdown" if live.shutdown_announced
               else f"age {rec.config.max_age:.0f} s")
        if live.shutdown_announced and self._shutdown_audited != live.conn_id:
            self._shutdown_audited = live.conn_id
            rec.stats.server_shutdowns += 1
            rec.audit(ConnectionEvent.SERVER_SHUTDOWN, live.conn_id, 0,
                       "server announced shutdown")
        log.info("connection %d: rotating (%s): opening its replacement", live.conn_id, why)
        return self._open(now, live=False)

    def _handover_step(self, live: ConnectionMachine, now: float) -> health.HandoverStep:
        ho, new = self.handover, self.replacement
        assert ho is not None and new is not None
        if new.ended:
            ho.new_lost = True
        if new.subscribed_at is not None:
            ho.subscribed(new.subscribed_at)
        if new.first_data_at is not None:
            ho.delivered(new.first_data_at)
        if live.last_data_at is not None:
            ho.old_delivered(live.last_data_at)
        if live.ended_at is not None:
            ho.old_lost(live.ended_at)
        return ho.step(now)

    def _cut_over(self, old: ConnectionMachine, now: float) -> Action | None:
        ho, new = self.handover, self.replacement
        assert ho is not None and new is not None
        rec = self.recorder
        old.detach()
        lost = old.gap_reason if ho.frames_may_be_missing() else None
        if lost is not None:
            rec.stats.streams_lost += len(new.carried.streams)
        fed = new.go_live(now, lost)
        rec.stats.rotations += 1
        log.info("connection %d replaced by %d (%d buffered frames fed, overlap dropped by "
                 "sequence number)", old.conn_id, new.conn_id, fed)
        rec.audit(ConnectionEvent.ROTATED, old.conn_id, new.conn_id,
                   f"replaced by connection {new.conn_id}; {fed} buffered frames")
        self.live, self.replacement, self.handover = new, None, None
        self.next_rotation_try = 0.0
        if old.ended:
            rec.audit(ConnectionEvent.DISCONNECTED, old.conn_id,
                       (old.failure.code if old.failure else 0) or 0, str(old.failure))
            return None
        old.close(Failure(FailureKind.CLOSED, 1000, "rotated"), now, 1000, "rotated")
        return Close(old)

    def _abandon(self, now: float) -> Action | None:
        new = self.replacement
        assert new is not None
        log.warning("connection %d: replacement was not ready within %.0f s; keeping the old "
                    "connection", new.conn_id, self.recorder.config.handover_timeout)
        new.detach()
        self.replacement, self.handover = None, None
        self.next_rotation_try = now + self.recorder.config.rotation_retry
        if new.ended:
            return None
        new.close(Failure(FailureKind.CLOSED, 1000, "replacement given up"), now)
        return Close(new)

