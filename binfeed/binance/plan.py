"""The recorder's decisions across its shards: what they share, and the streams changing.

Sans-I/O, like :mod:`binfeed.binance.machine`, one level up: a :class:`RecorderPlan` holds
the recorder's shards (:class:`~binfeed.binance.shard_plan.ShardPlan`, each keeping one
group of streams connected, whose actions the supervisor, :mod:`binfeed.binance.supervisor`,
runs) and what they share: the connection attempt budget (:class:`pacing.TokenBucket`,
one for all shards), connection numbers, the refusals, the counters (:class:`RecorderStats`)
and the downtime after drops (:class:`Downtime`), and the records they decide, in order
(:meth:`RecorderPlan.records_to_append`).

When the streams change (``--symbols all`` refreshed, :meth:`RecorderPlan.change_streams`),
removed streams leave their shard, and every connection of it that has not ended (the live
one, a rotation's replacement, one being opened) unsubscribes them; a shard left without
streams closes its connection and is done. Added streams fill the shards up to
``streams_per_connection`` (subscribed on their connections at once, or at the next
connect of a shard that is down); the rest make new shards, for the supervisor to run.
Every message goes through each connection's one outgoing budget.

Every stream refused by the server is fatal: :class:`~binfeed.errors.SubscriptionError`
raises from the call that met the last refusal.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from binfeed.binance import control
from binfeed.binance.endpoint import shard
from binfeed.binance.events import Audit, Record, StreamLost
from binfeed.binance.machine import ConnectionMachine
from binfeed.binance.machine_types import FilterTally, Sink
from binfeed.binance.pacing import BINANCE_ATTEMPT_LIMIT, BINANCE_ATTEMPT_WINDOW, TokenBucket
from binfeed.binance.settings import RecorderConfig
from binfeed.binance.shard_plan import ShardPlan
from binfeed.binance.streams import StreamId
from binfeed.errors import SubscriptionError
from binfeed.records import ConnectionEvent, GapReason

log = logging.getLogger("binfeed.record")


@dataclass
class RecorderStats:
    """Counters for the status line and the final summary."""

    started_at: float = field(default_factory=time.monotonic)
    connection_attempts: int = 0
    connections: int = 0
    failed_attempts: int = 0
    reconnects: int = 0
    rotations: int = 0
    stalls: int = 0
    server_shutdowns: int = 0
    streams_lost: int = 0
    segments_prepared: int = 0
    syncs: int = 0
    refused: list[str] = field(default_factory=list)
    confirmed: set[str] = field(default_factory=set)
    filtered: FilterTally = field(default_factory=FilterTally)
    #: drops whose downtime ended (the shard's next connection subscribed), and theirs
    recovered: int = 0
    downtime_last: float = 0.0
    downtime_max: float = 0.0
    downtime_total: float = 0.0


@dataclass(frozen=True)
class Downtime:
    """Time without a subscribed connection after drops, seconds, over every shard: the
    last and the longest recovered drop, and the total including outages still going on
    (``down_now`` shards)."""

    last: float
    max: float
    total: float
    down_now: int


class RecorderPlan:
    """The decisions of one recorder: its shards, and what they share (the connection
    attempt budget, connection numbers, refusals, counters).

    Args:
        config: what and how to record.
        new_sink: makes each connection's sink (the parser with the connection's own
            subscribed set, and the queue: :class:`binfeed.binance.sink.ConnectionSink`).
    """

    def __init__(self, config: RecorderConfig, new_sink: Callable[[], Sink]) -> None:
        self.config = config
        self.new_sink = new_sink
        self.settings = config.connection_settings()
        self.stats = RecorderStats()
        self.streams = list(dict.fromkeys(config.streams))
        #: streams recorded once and removed since (their records stay in the queue)
        self.removed: list[StreamId] = []
        self.attempts = TokenBucket(config.connect_burst, config.connect_rate)
        most = self.attempts.most_in(BINANCE_ATTEMPT_WINDOW)
        if most > BINANCE_ATTEMPT_LIMIT:
            log.warning("the connection attempt budget (burst %d, %g per second) allows up to "
                        "%d attempts in %.0f s, over Binance's %d per IP: lower "
                        "--connect-burst or --connect-rate", config.connect_burst,
                        config.connect_rate, most, BINANCE_ATTEMPT_WINDOW,
                        BINANCE_ATTEMPT_LIMIT)
        self._throttled = False
        self.shards = [ShardPlan(self, i + 1, s)
                       for i, s in enumerate(shard(self.streams, config.streams_per_connection))]
        self._next_conn_id = 0
        self._records: list[Record] = []

    def change_streams(self, added: Sequence[StreamId], removed: Sequence[StreamId],
                       now: float) -> list[ShardPlan]:
        """Records ``added`` streams too and ``removed`` ones no more (the symbol list
        changed): see the module doc.

        Returns:
            the new shards (also in :attr:`shards`): the supervisor starts running them.
        """
        gone = set(removed) & set(self.streams)
        if gone:
            self.streams = [s for s in self.streams if s not in gone]
            self.removed += [s for s in removed if s in gone and s not in self.removed]
            for sh in self.shards:
                sh.remove(gone, now)
        current = set(self.streams)
        new = [s for s in dict.fromkeys(added) if s not in current]
        if not new:
            return []
        self.streams += new
        self.removed = [s for s in self.removed if s not in set(new)]
        per = self.config.streams_per_connection
        for sh in self.shards:
            room = per - len(sh.streams)
            if room > 0 and not sh.done:
                sh.add(new[:room], now)
                new = new[room:]
            if not new:
                return []
        first = max((sh.index for sh in self.shards), default=0) + 1
        shards = [ShardPlan(self, first + i, group) for i, group in enumerate(shard(new, per))]
        self.shards += shards
        for sh in shards:
            log.info("shard %d: new, for %d streams", sh.index, len(sh.streams))
        return shards

    @property
    def connections(self) -> list[ConnectionMachine]:
        """The open connections (live ones and replacements)."""
        out = []
        for s in self.shards:
            out += [m for m in (s.live, s.replacement) if m is not None and not m.ended]
        return out

    def downtime(self, now: float) -> Downtime:
        """Downtime after drops so far (see :class:`Downtime`)."""
        st = self.stats
        current = [now - s.down_since for s in self.shards if s.down_since is not None]
        return Downtime(st.downtime_last, max([st.downtime_max, *current]),
                        st.downtime_total + sum(current), len(current))

    def records_to_append(self) -> list[Record]:
        """The records decided since the last call, in order (append them at once, also
        when the call that decided them raised)."""
        records, self._records = self._records, []
        return records

    # -- what its shards ask and tell it (ShardPlan) ---------------------------------------
    def take_attempt(self, now: float) -> float:
        """Takes a connection attempt from the budget every shard shares: 0.0 when taken,
        else the seconds until one is there (warned about once each time it runs out)."""
        wait = self.attempts.delay(now)
        if wait > 0:
            if not self._throttled:
                self._throttled = True
                log.warning("connection attempt budget used up (a burst of %d, then %g per "
                            "second: --connect-burst, --connect-rate); the next attempt in "
                            "%.2f s", self.attempts.burst, self.attempts.rate, wait)
            return wait
        self.attempts.take(now)
        if self.attempts.delay(now) == 0:
            self._throttled = False  # a token to spare: warn again when it runs out
        return 0.0

    def new_machine(self, in_url: Sequence[StreamId], to_subscribe: Sequence[StreamId], *,
                    live: bool) -> ConnectionMachine:
        """The machine of a connection attempt: the next connection number, a sink of its
        own, the recorder's settings and its tally of frames kept out of the queue."""
        machine = ConnectionMachine(self._new_conn_id(), in_url, to_subscribe, self.new_sink(),
                                    settings=self.settings, live=live, tally=self.stats.filtered)
        self.stats.connection_attempts += 1
        return machine

    def audit(self, event: ConnectionEvent, conn_id: int, code: int, detail: str) -> None:
        """A CONNECTION record to append."""
        self._records.append(Audit(event, conn_id, code, detail))

    def mark_lost(self, machine: ConnectionMachine, reason: GapReason) -> None:
        """The streams of ``machine`` may have missed frames."""
        for stream in machine.carried.streams:
            self._records.append(
                StreamLost(stream.symbol, int(stream.kind), int(reason)))
            self.stats.streams_lost += 1

    def recovered(self, seconds: float) -> None:
        """A drop's downtime ended (its shard's next connection subscribed)."""
        st = self.stats
        st.recovered += 1
        st.downtime_last = seconds
        st.downtime_max = max(st.downtime_max, seconds)
        st.downtime_total += seconds

    def confirmed(self, streams: Sequence[StreamId]) -> None:
        """The server confirmed ``streams`` (the machine wrote its SUBSCRIBED record,
        before the streams' first data)."""
        self.stats.confirmed.update(s.name for s in streams)

    def refused(self, machine: ConnectionMachine, event: control.Refused) -> None:
        """The server refused a stream (the machine wrote its SUBSCRIBE_REFUSED record).

        Raises:
            SubscriptionError: it has refused every stream.
        """
        name = event.stream.name
        log.error("connection %d: the server refused %s (code %s: %s); it is not recorded",
                  machine.conn_id, name, event.code, event.msg)
        if name not in self.stats.refused:
            self.stats.refused.append(name)
        if len(self.stats.refused) >= len(self.streams):
            raise SubscriptionError(
                f"the server refused every stream ({', '.join(self.stats.refused)}): check "
                "the symbols and stream types")

    def _new_conn_id(self) -> int:
        self._next_conn_id += 1
        return self._next_conn_id
