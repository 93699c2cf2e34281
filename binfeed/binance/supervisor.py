"""The recorder's supervisor: owns the task group, keeps every stream connected.

Layout of tasks (anyio structured concurrency; nothing outlives :meth:`Recorder.run`)::

    Recorder.run                      task group
     +-- shard 1 .. n                 one per group of <= streams_per_connection streams
     |    +-- Connection.run          started with `await tg.start(conn.run)`
     |    +-- (replacement).run       during a rotation
     +-- queue maintenance            prefault the next segment, periodic msync (threads)

Each shard loops: connect (within the process's attempt budget), supervise, and after a
loss reconnect with exponential backoff and full jitter (reset after a healthy period),
resubscribing everything. While a connection lives, the shard wakes on any change and on
deadlines computed from the protocol core (:mod:`binfeed.binance.health`):

- no frame for ``stall_timeout`` seconds: the connection is dropped (gap reason STALLED);
- a control reply overdue: the connection is dropped;
- ``serverShutdown`` or ``max_age`` reached: rotation: a replacement connection buffers its
  frames while the old one keeps recording, for ``overlap`` seconds after its first frame;
  then the old one stops and the buffer goes to the parser, which drops by sequence number
  what was already stored. Nothing lost, nothing doubled;
- the connection ended: every stream it carried is marked lost in the parser
  (``stream_lost``), so the next record of each stream is preceded by a GAP record (unless
  a trade id proves continuity).

Every connection event is also written to the queue as a CONNECTION record (connected,
subscribed, refused, stalled, server shutdown, rotated, disconnected).
Fatal conditions end :meth:`Recorder.run` with an exception: :class:`EndpointError` (the
endpoint refuses us in a way retrying cannot fix), :class:`~binfeed.errors.SubscriptionError`
(every stream refused), and any queue error (disk full, I/O).
"""

from __future__ import annotations

import logging
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import anyio
import anyio.abc
from anyio.abc import TaskStatus

from binfeed.binance import control, health
from binfeed.binance.connection import (
    ConnectFailed,
    Connection,
    ConnectionOptions,
    FrameSink,
)
from binfeed.binance.endpoint import (
    DEFAULT_MAX_URL_LENGTH,
    DEFAULT_PARAMS_PER_MESSAGE,
    DEFAULT_STREAMS_PER_CONNECTION,
    Endpoint,
    shard,
    split_for_url,
)
from binfeed.binance.pacing import attempt_budget
from binfeed.binance.retry import Backoff, Failure, FailureKind, Verdict, classify
from binfeed.binance.streams import StreamId, StreamKind
from binfeed.errors import BinfeedError, SubscriptionError
from binfeed.records import ConnectionEvent, GapReason, Stream

log = logging.getLogger("binfeed.record")

STREAM_CODES = {StreamKind.BOOK_TICKER: Stream.BOOK_TICKER, StreamKind.TRADE: Stream.TRADE}


class EndpointError(BinfeedError):
    """The endpoint refused the recorder in a way retrying cannot fix (a person must act:
    the message says what to check)."""


class QueueSink(Protocol):
    """The queue writer as the recorder uses it (binfeed.queue.QueueWriter)."""

    def append_connection(self, event: ConnectionEvent, conn_id: int, *, code: int = 0,
                          detail: str = "", recv_ts_ns: int = 0) -> None: ...

    def prepare_next(self) -> None: ...

    def sync(self) -> None: ...

    def stats(self) -> object: ...


class Ingest(FrameSink, Protocol):
    """The parser as the recorder uses it (binfeed.ingest.Ingestor)."""

    def stream_lost(self, symbol: str, stream: int, reason: int) -> None: ...


@dataclass
class RecorderConfig:
    """Everything the recorder can be told (defaults: production values).

    Attributes:
        endpoint: where to connect.
        streams: what to record.
        streams_per_connection: shard size (binfeed default 200; Binance allows 1024).
        max_url_length: streams named in the connect URL up to this URL length, the rest by
            SUBSCRIBE; 0 = SUBSCRIBE only.
        stall_timeout: no frame at all for this long replaces a connection.
        silent_after: one stream silent this long is reported (not reconnected).
        max_age: rotate connections this old (before Binance's 24 h cut).
        overlap: seconds a replacement overlaps the old connection before the cut-over.
        quiet_cutover: a replacement that is subscribed but receives nothing is taken
            after this long.
        handover_timeout: a replacement not ready after this long is given up.
        rotation_retry: wait before trying a rotation again after a failed one.
        backoff_base, backoff_cap, healthy_after: reconnection delays (see retry.py).
        open_timeout, close_timeout, reply_timeout: per connection.
        params_per_message: streams per SUBSCRIBE message.
        sync_interval: fdatasync the open segment this often (seconds; 0 = never: the OS
            writes back; see binfeed.durability and record --sync).
        prefault_at: prepare the next segment once the current one is this full (0..1).
        maintenance_interval: how often the queue is checked for the two above.
        ssl_context: TLS settings for wss:// (default: system CAs, hostname verified).
    """

    endpoint: Endpoint
    streams: Sequence[StreamId]
    streams_per_connection: int = DEFAULT_STREAMS_PER_CONNECTION
    max_url_length: int = DEFAULT_MAX_URL_LENGTH
    stall_timeout: float = health.DEFAULT_STALL_TIMEOUT
    silent_after: float = health.DEFAULT_SILENT_AFTER
    max_age: float = health.DEFAULT_MAX_AGE
    overlap: float = health.DEFAULT_OVERLAP
    quiet_cutover: float = health.DEFAULT_QUIET_CUTOVER
    handover_timeout: float = health.DEFAULT_HANDOVER_TIMEOUT
    rotation_retry: float = health.DEFAULT_ROTATION_RETRY
    backoff_base: float = 0.5
    backoff_cap: float = 60.0
    healthy_after: float = 60.0
    open_timeout: float = 10.0
    close_timeout: float = 2.0
    reply_timeout: float = control.DEFAULT_REPLY_TIMEOUT
    params_per_message: int = DEFAULT_PARAMS_PER_MESSAGE
    sync_interval: float = 0.0
    prefault_at: float = 0.5
    maintenance_interval: float = 0.2
    ssl_context: ssl.SSLContext | None = None


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


class _Shard:
    def __init__(self, index: int, streams: list[StreamId]) -> None:
        self.index = index
        self.streams = streams
        self.live: Connection | None = None
        self.replacement: Connection | None = None
        self.handover: health.Handover | None = None
        self.next_rotation_try = 0.0
        self.subscribe_only = False
        self.wake = anyio.Event()

    def notify(self) -> None:
        self.wake.set()


class Recorder:
    """Records ``config.streams`` from ``config.endpoint`` through ``ingestor`` into the
    queue of ``writer`` until cancelled.

    Args:
        config: what and how to record.
        writer: the queue writer (CONNECTION records, prefault, sync).
        ingestor: the parser bound to the same writer.
    """

    def __init__(self, config: RecorderConfig, writer: QueueSink, ingestor: Ingest) -> None:
        self.config = config
        self.writer = writer
        self.ingestor = ingestor
        self.stats = RecorderStats()
        self._next_conn_id = 0
        self._shutdowns_seen: set[int] = set()
        self._attempts = attempt_budget()
        self._all = list(dict.fromkeys(config.streams))
        self.shards = [_Shard(i + 1, s)
                       for i, s in enumerate(shard(self._all, config.streams_per_connection))]
        self._options = ConnectionOptions(
            open_timeout=config.open_timeout, close_timeout=config.close_timeout,
            reply_timeout=config.reply_timeout, params_per_message=config.params_per_message,
            ssl_context=config.ssl_context)

    # -- public -------------------------------------------------------------------------
    @property
    def connections(self) -> list[Connection]:
        """The live connections (and replacements), for the status line."""
        out = []
        for s in self.shards:
            out += [c for c in (s.live, s.replacement) if c is not None and not c.ended]
        return out

    async def run(self, *, task_status: TaskStatus[Recorder] = anyio.TASK_STATUS_IGNORED,
                  ) -> None:
        """Records until cancelled (or a fatal error, raised).

        Raises:
            EndpointError: the endpoint refused us for good (bad URL, TLS, location).
            SubscriptionError: every stream was refused.
            binfeed.errors.QueueError: the queue cannot be written.
        """
        if not self._all:
            raise SubscriptionError("nothing to record: no stream given")
        log.info("recording %d streams on %d connection(s) from %s", len(self._all),
                 len(self.shards), self.config.endpoint.base)
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._maintain_queue)
            for s in self.shards:
                tg.start_soon(self._run_shard, s)
            task_status.started(self)

    # -- shards -------------------------------------------------------------------------
    async def _run_shard(self, shard_: _Shard) -> None:
        cfg = self.config
        backoff = Backoff(cfg.backoff_base, cfg.backoff_cap, cfg.healthy_after)
        verdict: Verdict | None = None
        async with anyio.create_task_group() as tg:
            while shard_.streams:
                if verdict is not None:
                    delay = backoff.next_delay(verdict)
                    if delay > 0:
                        log.info("shard %d: reconnecting in %.2f s", shard_.index, delay)
                        await anyio.sleep(delay)
                conn = await self._connect(tg, shard_, live=True)
                if isinstance(conn, Failure):
                    verdict = self._verdict(shard_, conn)
                    continue
                backoff.connected(time.monotonic())
                failure = await self._supervise(tg, shard_, conn)
                backoff.disconnected(time.monotonic())
                if failure is None:
                    break
                self.stats.reconnects += 1
                verdict = self._verdict(shard_, failure)
            tg.cancel_scope.cancel()
        log.info("shard %d: no stream left to record", shard_.index)

    def _verdict(self, shard_: _Shard, failure: Failure) -> Verdict:
        verdict = classify(failure)
        if not verdict.retry:
            raise EndpointError(f"{self.config.endpoint.base}: {failure}. {verdict.advice}")
        if verdict.subscribe_only and not shard_.subscribe_only:
            log.warning("shard %d: the endpoint refused the streams named in the URL (%s); "
                        "subscribing to them one message at a time instead", shard_.index,
                        failure)
            shard_.subscribe_only = True
        return verdict

    async def _connect(self, tg: anyio.abc.TaskGroup, shard_: _Shard,
                       live: bool) -> Connection | Failure:
        """One connection attempt within the attempt budget."""
        while (wait := self._attempts.delay(time.monotonic())) > 0:
            log.warning("connection attempt budget used up (%d per %.0f s); waiting %.1f s",
                        self._attempts.limit, self._attempts.window, wait)
            await anyio.sleep(wait)
        self._attempts.record(time.monotonic())
        self._next_conn_id += 1
        limit = 0 if shard_.subscribe_only else self.config.max_url_length
        in_url, rest = split_for_url(self.config.endpoint, shard_.streams, limit)
        conn = Connection(self._next_conn_id, self.config.endpoint, in_url, rest, self.ingestor,
                          shard_.notify, options=self._options, live=live)
        self.stats.connection_attempts += 1
        try:
            await tg.start(conn.run)
        except ConnectFailed as exc:
            self.stats.failed_attempts += 1
            log.warning("connection %d (shard %d) failed: %s", conn.conn_id, shard_.index,
                        exc.failure)
            self._audit(ConnectionEvent.DISCONNECTED, conn.conn_id, exc.failure.code or 0,
                        f"connect failed: {exc.failure}")
            return exc.failure
        self.stats.connections += 1
        log.info("connection %d (shard %d) open: %d streams in the URL, %d to subscribe",
                 conn.conn_id, shard_.index, len(in_url), len(rest))
        self._audit(ConnectionEvent.CONNECTED, conn.conn_id, len(conn.streams),
                    f"{len(in_url)} streams in URL, {len(rest)} by SUBSCRIBE")
        if in_url:
            self._confirmed(conn, in_url)
        return conn

    async def _supervise(self, tg: anyio.abc.TaskGroup, shard_: _Shard,
                         live: Connection) -> Failure | None:
        """Watches a shard's live connection until it is lost (returns why) or the shard
        has nothing left to record (returns None)."""
        cfg = self.config
        shard_.live = live
        rotate_at = live.connected_at + cfg.max_age
        while True:
            shard_.wake = anyio.Event()
            now = time.monotonic()
            for conn in (live, shard_.replacement):
                if conn is not None:
                    self._control_events(shard_, conn)
            if not shard_.streams:
                await self._close(live, "every stream of this connection was refused")
                return None

            if shard_.handover is not None:
                new = shard_.replacement
                assert new is not None
                step = self._handover_step(shard_, live, new, now)
                if step is health.HandoverStep.CUT_OVER:
                    live = self._cut_over(tg, shard_, live, new)
                    rotate_at = live.connected_at + cfg.max_age
                    continue
                if step is health.HandoverStep.ABANDON:
                    self._abandon(tg, shard_, new, now)
                    continue
            elif live.ended:
                failure = live.failure or Failure(FailureKind.DROPPED, 1006)
                self._lost(shard_, live, failure)
                shard_.live = None
                return failure
            elif (live.shutdown_announced or now >= rotate_at) and now >= shard_.next_rotation_try:
                await self._start_rotation(tg, shard_, live)
                continue

            if not live.ended and now - live.last_rx >= cfg.stall_timeout:
                self.stats.stalls += 1
                silent = now - live.last_rx
                log.warning("connection %d: no frame for %.1f s (stall timeout %.1f s); "
                            "replacing it", live.conn_id, silent, cfg.stall_timeout)
                self._audit(ConnectionEvent.STALLED, live.conn_id, int(silent * 1000),
                            f"no frame for {silent:.1f} s")
                live.abort(Failure(FailureKind.STALLED, None, f"no frame for {silent:.1f} s"))
                await live.closed.wait()
                continue
            overdue = [] if live.ended else live.overdue_requests(now)
            if overdue:
                log.warning("connection %d: no reply to %s within %.0f s; reconnecting",
                            live.conn_id, overdue[0].encode(), cfg.reply_timeout)
                live.abort(Failure(FailureKind.CONTROL, None, "control reply overdue"))
                await live.closed.wait()
                continue

            deadlines = [live.last_rx + cfg.stall_timeout]
            if shard_.handover is not None:
                deadlines.append(shard_.handover.next_check(now))
            else:
                deadlines.append(max(rotate_at, shard_.next_rotation_try))
                if live.shutdown_announced:
                    deadlines.append(shard_.next_rotation_try)
            reply_deadline = live.next_reply_deadline()
            if reply_deadline is not None:
                deadlines.append(reply_deadline)
            with anyio.move_on_after(max(0.0, min(deadlines) - time.monotonic())):
                await shard_.wake.wait()

    # -- rotation -----------------------------------------------------------------------
    async def _start_rotation(self, tg: anyio.abc.TaskGroup, shard_: _Shard,
                              live: Connection) -> None:
        cfg = self.config
        why = "serverShutdown" if live.shutdown_announced else f"age {cfg.max_age:.0f} s"
        if live.shutdown_announced and live.conn_id not in self._shutdowns_seen:
            self._shutdowns_seen.add(live.conn_id)
            self.stats.server_shutdowns += 1
            self._audit(ConnectionEvent.SERVER_SHUTDOWN, live.conn_id, 0,
                        "server announced shutdown")
        log.info("connection %d: rotating (%s): opening its replacement", live.conn_id, why)
        new = await self._connect(tg, shard_, live=False)
        if isinstance(new, Failure):
            retry = 1.0 if live.shutdown_announced else cfg.rotation_retry
            shard_.next_rotation_try = time.monotonic() + retry
            log.warning("connection %d: replacement failed (%s); keeping the old connection, "
                        "trying again in %.0f s", live.conn_id, new, retry)
            return
        shard_.replacement = new
        shard_.handover = health.Handover(time.monotonic(), cfg.overlap, cfg.quiet_cutover,
                                          cfg.handover_timeout)

    def _handover_step(self, shard_: _Shard, live: Connection, new: Connection,
                       now: float) -> health.HandoverStep:
        ho = shard_.handover
        assert ho is not None
        if new.ended:
            ho.new_lost = True
        if new.subscribed_at is not None:
            ho.subscribed(new.subscribed_at)
        if new.first_data_at is not None:
            ho.delivered(new.first_data_at)
        if live.ended_at is not None:
            ho.old_lost(live.ended_at)
        return ho.step(now)

    def _cut_over(self, tg: anyio.abc.TaskGroup, shard_: _Shard, old: Connection,
                  new: Connection) -> Connection:
        ho = shard_.handover
        assert ho is not None
        if ho.frames_may_be_missing():
            self._mark_lost(old, self._gap_reason(old))
        old.detach()
        fed = new.go_live()
        self.stats.rotations += 1
        log.info("connection %d replaced by %d (%d buffered frames fed, overlap dropped by "
                 "sequence number)", old.conn_id, new.conn_id, fed)
        self._audit(ConnectionEvent.ROTATED, old.conn_id, new.conn_id,
                    f"replaced by connection {new.conn_id}; {fed} buffered frames")
        if not old.ended:
            tg.start_soon(old.aclose, Failure(FailureKind.CLOSED, 1000, "rotated"), 1000,
                          "rotated")
        else:
            self._audit(ConnectionEvent.DISCONNECTED, old.conn_id,
                        (old.failure.code if old.failure else 0) or 0, str(old.failure))
        shard_.live = new
        shard_.replacement = None
        shard_.handover = None
        shard_.next_rotation_try = 0.0
        return new

    def _abandon(self, tg: anyio.abc.TaskGroup, shard_: _Shard, new: Connection,
                 now: float) -> None:
        log.warning("connection %d: replacement was not ready within %.0f s; keeping the old "
                    "connection", new.conn_id, self.config.handover_timeout)
        new.detach()
        if not new.ended:
            tg.start_soon(new.aclose, Failure(FailureKind.CLOSED, 1000, "replacement given up"))
        shard_.replacement = None
        shard_.handover = None
        shard_.next_rotation_try = now + self.config.rotation_retry

    async def _close(self, conn: Connection, why: str) -> None:
        await conn.aclose(Failure(FailureKind.CLOSED, 1000, why))

    # -- events -------------------------------------------------------------------------
    def _control_events(self, shard_: _Shard, conn: Connection) -> None:
        events, conn.control_events = conn.control_events, []
        for event in events:
            if isinstance(event, control.Subscribed):
                self._confirmed(conn, list(event.streams))
            elif isinstance(event, control.Refused):
                self._refused(shard_, conn, event)
            elif isinstance(event, control.Failed):
                log.warning("connection %d: %s refused: %s %s", conn.conn_id,
                            event.request.method, event.code, event.msg)

    def _confirmed(self, conn: Connection, streams: list[StreamId]) -> None:
        names = [s.name for s in streams]
        self.stats.confirmed.update(names)
        self._audit(ConnectionEvent.SUBSCRIBED, conn.conn_id, len(names), ",".join(names))

    def _refused(self, shard_: _Shard, conn: Connection, event: control.Refused) -> None:
        name = event.stream.name
        log.error("connection %d: the server refused %s (code %s: %s); it is not recorded",
                  conn.conn_id, name, event.code, event.msg)
        self._audit(ConnectionEvent.SUBSCRIBE_REFUSED, conn.conn_id, event.code or 0,
                    f"{name}: {event.msg}")
        if name not in self.stats.refused:
            self.stats.refused.append(name)
        if event.stream in shard_.streams:
            shard_.streams.remove(event.stream)
        if len(self.stats.refused) >= len(self._all):
            raise SubscriptionError(
                f"the server refused every stream ({', '.join(self.stats.refused)}): check "
                "the symbols and stream types")

    def _lost(self, shard_: _Shard, conn: Connection, failure: Failure) -> None:
        log.warning("connection %d (shard %d) lost: %s", conn.conn_id, shard_.index, failure)
        self._audit(ConnectionEvent.DISCONNECTED, conn.conn_id, failure.code or 0, str(failure))
        self._mark_lost(conn, self._gap_reason(conn))

    @staticmethod
    def _gap_reason(conn: Connection) -> GapReason:
        failure = conn.failure
        if failure is not None and failure.kind is FailureKind.STALLED:
            return GapReason.STALLED
        if conn.shutdown_announced:
            return GapReason.SERVER_SHUTDOWN
        return GapReason.DISCONNECTED

    def _mark_lost(self, conn: Connection, reason: GapReason) -> None:
        """Tells the parser that the streams of ``conn`` may have missed frames."""
        for stream in conn.streams:
            self.ingestor.stream_lost(stream.symbol, int(STREAM_CODES[stream.kind]), int(reason))
            self.stats.streams_lost += 1

    def _audit(self, event: ConnectionEvent, conn_id: int, code: int, detail: str) -> None:
        self.writer.append_connection(event, conn_id, code=code, detail=detail,
                                      recv_ts_ns=time.time_ns())

    # -- queue maintenance --------------------------------------------------------------
    async def _maintain_queue(self) -> None:
        """Prefaults the next segment when the current one is mostly full, and msyncs
        periodically; both in a worker thread, never on the event loop."""
        cfg = self.config
        prepared_for = -1
        last_sync = time.monotonic()
        while True:
            await anyio.sleep(cfg.maintenance_interval)
            st = self.writer.stats()
            seq = st.segment_seq  # type: ignore[attr-defined]
            if (seq != prepared_for
                    and st.write_index >= st.capacity * cfg.prefault_at):  # type: ignore[attr-defined]
                prepared_for = seq
                await anyio.to_thread.run_sync(self.writer.prepare_next)
                self.stats.segments_prepared += 1
            if cfg.sync_interval and time.monotonic() - last_sync >= cfg.sync_interval:
                await anyio.to_thread.run_sync(self.writer.sync)
                self.stats.syncs += 1
                last_sync = time.monotonic()
