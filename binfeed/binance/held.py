"""The frames one connection holds while a SUBSCRIBE waits for its reply, and which of its
streams are pending.

The sink's set says PENDING for a frame of a stream whose SUBSCRIBE is not answered yet;
:class:`HeldFrames` keeps such frames, at most ``hold_limit`` (the oldest is dropped beyond,
its stream marked lost), until :meth:`HeldFrames.release` after the reply: ingested again
then, in order and before any later frame; a refused or removed stream's are counted as
unsubscribed by the parser. :class:`~binfeed.binance.machine.ConnectionMachine` owns one and
sets every stream's state through it (:meth:`HeldFrames.set_state`), so that the set and the
pending indexes stay in step.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterator, Sequence

from binfeed.binance.machine_types import STORED_MAX, ConnectionCounters, FilterTally, Sink
from binfeed.binance.streams import StreamId
from binfeed.records import GapReason
from binfeed.subscriptions import SubscriptionState

log = logging.getLogger("binfeed.record")


class HeldFrames:
    """One connection's pending streams and the frames held for them (see the module doc).

    Args:
        conn_id: the connection's number (logs).
        sink: the connection's sink (its set's states, the parser, lost streams).
        counters: the connection's counters (``held``, ``held_dropped``).
        tally: the recorder-wide tally (``held_dropped``).
        hold_limit: frames held at most.
    """

    def __init__(self, conn_id: int, sink: Sink, counters: ConnectionCounters,
                 tally: FilterTally, hold_limit: int) -> None:
        self.conn_id = conn_id
        self.sink = sink
        self.counters = counters
        self.tally = tally
        self.hold_limit = hold_limit
        self._ingest = sink.ingest
        # frames of pending streams: (frame, recv_ns, index of its stream in the sink's set)
        self._held: deque[tuple[bytes, int, int]] = deque()
        self._by_index: dict[int, StreamId] = {}
        self._pending: set[int] = set()  # indexes of the streams waiting for a reply
        self._overflowed: set[int] = set()

    def __len__(self) -> int:
        return len(self._held)

    def set_state(self, streams: Sequence[StreamId], state: SubscriptionState) -> None:
        """Sets the streams' state in the sink's set, and notes which are pending."""
        for stream, index in zip(streams, self.sink.set_state(streams, state), strict=True):
            self._by_index[index] = stream
            if state is SubscriptionState.PENDING:
                self._pending.add(index)
            else:
                self._pending.discard(index)

    def hold(self, frame: bytes, recv_ns: int, lost: GapReason) -> None:
        """Keeps a frame of a pending stream until its reply (bounded: the oldest goes,
        its stream marked ``lost``)."""
        index = self.sink.subscription
        if index is None:
            return  # the sink said pending without a stream: nothing to hold it for
        self.counters.held += 1
        held = self._held
        held.append((frame, recv_ns, index))
        if len(held) > self.hold_limit:
            _, _, dropped = held.popleft()
            self.counters.held_dropped += 1
            self.tally.held_dropped += 1
            if dropped not in self._overflowed:
                # Its stored frames will start later than they could have: a stream with
                # records already gets a GAP before its next one.
                self._overflowed.add(dropped)
                stream = self._by_index[dropped]
                self.sink.stream_lost(stream, lost)
                log.warning("connection %d: more than %d frames held while SUBSCRIBE waits "
                            "for its reply; dropping the oldest of %s (marked as a gap)",
                            self.conn_id, self.hold_limit, stream.name)

    def release(self) -> Iterator[tuple[int, bytes, int]]:
        """Ingests again, in order, the held frames of streams no longer pending; yields
        each verdict but a stored record, with its frame and receive time, for the machine
        to handle before the next frame is ingested."""
        held, self._held = self._held, deque()
        pending = self._pending
        ingest = self._ingest
        for item in held:
            frame, recv_ns, index = item
            if index in pending:
                self._held.append(item)
                continue
            kind = ingest(frame, recv_ns)
            if not 0 < kind <= STORED_MAX:
                yield kind, frame, recv_ns

    def clear(self) -> None:
        """Forgets the held frames (a detached connection: its replacement stores them)."""
        self._held.clear()

    def drop(self) -> None:
        """The connection ended: the held frames are dropped, counted and logged."""
        n = len(self._held)
        if n:
            self._held.clear()
            self.counters.held_dropped += n
            self.tally.held_dropped += n
            log.warning("connection %d: ended with %d frames held for a SUBSCRIBE never "
                        "answered; they are dropped", self.conn_id, n)
