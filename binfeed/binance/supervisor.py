"""The recorder's tasks: one per shard running its plan, one for the queue's upkeep.

Layout of tasks (anyio structured concurrency; nothing outlives :meth:`Recorder.run`)::

    Recorder.run                      task group
     +-- shard 1 .. n                 runs ShardPlan's actions (binfeed.binance.shard_plan);
     |                                more start when change_streams() makes new shards
     |    +-- Connection.run          started with `await tg.start(conn.run)`
     |    +-- (replacement).run       during a rotation
     +-- queue maintenance            prefault the next segment, periodic fdatasync (threads)

Every decision is the protocol core's (:mod:`~binfeed.binance.shard_plan` for connecting,
reconnecting and rotating, :mod:`~binfeed.binance.plan` for what the shards share and the
streams changing, :mod:`~binfeed.binance.machine` per connection); this module
connects, sleeps, writes the records the plan decided, and wakes a shard when one of its
connections has news. :func:`open_recorder` assembles a recorder on a queue: the one way
``binfeed record``, ``binfeed demo``, the tests and the benchmarks make one.

Fatal conditions end :meth:`Recorder.run` with an exception: :class:`EndpointError` (the
endpoint refuses us in a way retrying cannot fix), :class:`~binfeed.errors.SubscriptionError`
(every stream refused), and any queue error (disk full, I/O).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TypeVar

import anyio
import anyio.abc
from anyio.abc import TaskStatus

from binfeed.binance.connection import Connection, TransportOptions
from binfeed.binance.events import Close, Done, Open, Wait
from binfeed.binance.machine import ConnectionMachine
from binfeed.binance.plan import RecorderPlan, RecorderStats
from binfeed.binance.settings import RecorderConfig
from binfeed.binance.shard_plan import ShardPlan
from binfeed.binance.sink import ConnectionSink, write_record
from binfeed.binance.streams import StreamId
from binfeed.binance.tls import client_context
from binfeed.binance.transport import ConnectFailed
from binfeed.errors import EndpointError, SubscriptionError
from binfeed.ingest import Ingestor
from binfeed.queue import QueueWriter

__all__ = ["EndpointError", "Recorder", "RecorderConfig", "RecorderStats", "open_recorder"]

log = logging.getLogger("binfeed.record")

T = TypeVar("T")


class Recorder:
    """Records ``config.streams`` from ``config.endpoint`` through ``ingestor`` into the
    queue of ``writer`` until cancelled (made by :func:`open_recorder`).

    Args:
        config: what and how to record.
        writer: the queue writer (CONNECTION records, prefault, sync).
        ingestor: the parser bound to the same writer.

    Raises:
        ConfigError: ``config.ca_file`` cannot be used.
    """

    def __init__(self, config: RecorderConfig, writer: QueueWriter, ingestor: Ingestor) -> None:
        self.config = config
        self.writer = writer
        self.ingestor = ingestor
        self.plan = RecorderPlan(config, lambda: ConnectionSink(ingestor, writer))
        self.stats: RecorderStats = self.plan.stats
        self._tg: anyio.abc.TaskGroup | None = None
        #: per running shard: wake its loop and kick its connections (the plan changed it)
        self._pokes: dict[int, Callable[[], None]] = {}
        # One context for every connection (made once: loading CAs takes milliseconds).
        context = client_context(config.ca_file) if config.endpoint.secure else None
        self._options = TransportOptions(open_timeout=config.open_timeout,
                                         max_frame=config.max_frame, ssl_context=context,
                                         time_unit=config.time_unit)

    @property
    def connections(self) -> list[ConnectionMachine]:
        """The open connections (and replacements), for the status line."""
        return self.plan.connections

    async def run(self, *, task_status: TaskStatus[Recorder] = anyio.TASK_STATUS_IGNORED,
                  ) -> None:
        """Records until cancelled (or a fatal error, raised).

        Raises:
            EndpointError: the endpoint refused us for good (bad URL, TLS, location).
            SubscriptionError: every stream was refused.
            binfeed.errors.QueueError: the queue cannot be written.
        """
        plan = self.plan
        if not plan.streams:
            raise SubscriptionError("nothing to record: no stream given")
        log.info("recording %d streams on %d connection(s) from %s", len(plan.streams),
                 len(plan.shards), self.config.endpoint.base)
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._maintain_queue)
            for shard in plan.shards:
                tg.start_soon(self._run_shard, shard)
            self._tg = tg
            try:
                task_status.started(self)
                await anyio.sleep_forever()
            finally:
                self._tg = None

    def change_streams(self, added: Sequence[StreamId], removed: Sequence[StreamId]) -> None:
        """Records ``added`` streams too and ``removed`` ones no more, from now on
        (:meth:`RecorderPlan.change_streams`): connections subscribe and unsubscribe within
        their budget, emptied shards close, new shards start here.

        Raises:
            RuntimeError: the recorder is not running.
        """
        tg = self._tg
        if tg is None:
            raise RuntimeError("the recorder is not running: change its streams while "
                               "Recorder.run is")
        new = self._ask(lambda: self.plan.change_streams(added, removed, time.monotonic()))
        for poke in list(self._pokes.values()):
            poke()
        for shard in new:
            tg.start_soon(self._run_shard, shard)

    # -- shards -------------------------------------------------------------------------
    def _ask(self, call: Callable[[], T]) -> T:
        """Calls the plan, then writes the records it decided (also when it raised)."""
        try:
            return call()
        finally:
            for record in self.plan.records_to_append():
                write_record(self.writer, self.ingestor, record)

    async def _run_shard(self, shard: ShardPlan) -> None:
        wake = anyio.Event()
        connections: dict[int, Connection] = {}

        def notify() -> None:
            wake.set()

        def poke() -> None:
            for conn in connections.values():
                conn.kick()
            wake.set()

        self._pokes[shard.index] = poke
        try:
            async with anyio.create_task_group() as tg:
                while True:
                    wake = anyio.Event()
                    action = self._ask(lambda: shard.next_action(time.monotonic()))
                    if isinstance(action, Open):
                        machine = action.machine
                        conn = Connection(machine, self.config.endpoint, self._options, notify)
                        try:
                            await tg.start(conn.run)
                        except ConnectFailed as exc:
                            self._ask(lambda m=machine, f=exc.failure: shard.open_failed(
                                m, f, time.monotonic()))
                            continue
                        connections[machine.conn_id] = conn
                        self._ask(lambda m=machine: shard.opened(m, time.monotonic()))
                    elif isinstance(action, Close):
                        conn = connections[action.machine.conn_id]
                        conn.kick()
                        if action.wait:
                            await conn.closed.wait()
                    elif isinstance(action, Wait):
                        with anyio.move_on_after(max(0.0, action.until - time.monotonic())):
                            await wake.wait()
                    elif isinstance(action, Done):
                        break
                    for conn_id in [i for i, c in connections.items() if c.closed.is_set()]:
                        del connections[conn_id]
                tg.cancel_scope.cancel()
        finally:
            del self._pokes[shard.index]
        log.info("shard %d: no stream left to record", shard.index)

    # -- queue maintenance --------------------------------------------------------------
    async def _maintain_queue(self) -> None:
        """Prefaults the next segment when the current one is mostly full, and syncs
        periodically; both in a worker thread, never on the event loop."""
        cfg = self.config
        prepared_for = -1
        last_sync = time.monotonic()
        while True:
            await anyio.sleep(cfg.maintenance_interval)
            st = self.writer.stats()
            if st.segment_seq != prepared_for and st.write_index >= st.capacity * cfg.prefault_at:
                prepared_for = st.segment_seq
                await anyio.to_thread.run_sync(self.writer.prepare_next)
                self.stats.segments_prepared += 1
            if cfg.sync_interval and time.monotonic() - last_sync >= cfg.sync_interval:
                await anyio.to_thread.run_sync(self.writer.sync)
                self.stats.syncs += 1
                last_sync = time.monotonic()


@contextlib.contextmanager
def open_recorder(queue: Path, config: RecorderConfig, *, segment_slots: int = 0,
                  sync_on_seal: bool = False) -> Iterator[Recorder]:
    """A recorder on the queue at ``queue``: opens the writer and the parser, and on exit
    closes both (the queue is sealed). Run it with ``await tg.start(recorder.run)``.

    Args:
        queue: the queue's directory (created if needed).
        config: what and how to record.
        segment_slots, sync_on_seal: passed to :class:`~binfeed.queue.QueueWriter`.

    Raises:
        binfeed.errors.QueueError: the queue cannot be opened or sealed.
    """
    with (QueueWriter(queue, segment_slots=segment_slots, sync_on_seal=sync_on_seal) as writer,
          Ingestor(writer) as ingestor):
        yield Recorder(config, writer, ingestor)
