"""Where the recorder's decisions land: one connection's frames and records, into the queue.

:class:`ConnectionSink` is what a :class:`~binfeed.binance.machine.ConnectionMachine`
writes through (its :class:`~binfeed.binance.machine_types.Sink`): the connection's frames go to
the C parser with the connection's own subscribed set (:mod:`binfeed.subscriptions`), and
the connection's CONNECTION records and lost streams go to the queue the moment the machine
decides them, so that they sit before or after that connection's market data exactly as
they happened. :func:`write_record` writes a plan's record (the supervisor's records and
the machine's take the same way).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from binfeed.binance.events import Audit, Record
from binfeed.binance.streams import StreamId
from binfeed.ingest import Ingestor
from binfeed.queue import QueueWriter
from binfeed.records import GapReason
from binfeed.subscriptions import Subscriptions, SubscriptionState

__all__ = ["ConnectionSink", "write_record"]


def write_record(writer: QueueWriter, ingestor: Ingestor, record: Record) -> None:
    """Writes a CONNECTION record now, or marks a stream lost in the parser.

    Raises:
        binfeed.errors.QueueError: the queue cannot be written.
    """
    if isinstance(record, Audit):
        writer.append_connection(record.event, record.conn_id, code=record.code,
                                 detail=record.detail, recv_ts_ns=time.time_ns())
    else:
        ingestor.stream_lost(record.symbol, record.stream, record.reason)


class ConnectionSink:
    """One connection's way into the queue (see the module doc).

    Args:
        ingestor: the recorder's parser (shared by its connections).
        writer: the queue the parser appends to.
    """

    def __init__(self, ingestor: Ingestor, writer: QueueWriter) -> None:
        self._ingestor = ingestor
        self._writer = writer
        self._subs = Subscriptions(ingestor)
        self.ingest = self._subs.ingest

    def set_state(self, streams: Sequence[StreamId], state: SubscriptionState) -> list[int]:
        """Sets the streams' state in the connection's set; returns their indexes."""
        return [self._subs.set(s.symbol, s.kind, state) for s in streams]

    @property
    def subscription(self) -> int | None:
        """The set's index of the last frame's stream (None: not in the set)."""
        return self._subs.subscription

    def unsubscribed_stream(self) -> str:
        """The name of the stream of the last UNSUBSCRIBED frame."""
        return self._ingestor.unsubscribed_stream

    def audit(self, record: Audit) -> None:
        """Writes the CONNECTION record now (before the connection's next market data)."""
        write_record(self._writer, self._ingestor, record)

    def stream_lost(self, stream: StreamId, reason: GapReason) -> None:
        """The stream may have missed frames: its next record comes after a GAP."""
        self._ingestor.stream_lost(stream.symbol, int(stream.kind), int(reason))
