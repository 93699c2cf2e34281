"""Following a queue as it grows: the iterators behind :meth:`QueueReader.tail` (:class:`Tail`)
and :meth:`QueueReader.atail` (:class:`AsyncTail`), which hand out the records of a
:class:`Feed` (those passing a type and symbol filter, one at a time), wait with a bounded
sleep while nothing comes, and hand out ``None`` after a quiet ``timeout``.

A record is consumed when it is handed out, never before: records fetched but not handed
out stay in the reader (its next poll, tail or records go on from them), so breaking out of
a loop or cancelling an ``async for`` loses nothing.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import anyio
import anyio.lowlevel
import numpy as np

from binfeed.queue.decode import decode_slots
from binfeed.records import KNOWN_TYPES, Record, RecordType
from binfeed.selection import Selection

if TYPE_CHECKING:
    from binfeed.queue.reader import QueueReader

__all__ = ["DEFAULT_POLL_INTERVAL", "FEED_BATCH", "SPIN_POLLS", "AsyncTail", "Feed", "Tail"]

#: The sleep between two looks at an idle queue (s): a record is handed out within about
#: this long of its publication.
DEFAULT_POLL_INTERVAL = 0.0005
#: Looks at an idle queue before :class:`Tail` starts sleeping (about 0.2 ms of spinning,
#: which catches a record that follows closely without a sleep's wake-up delay).
SPIN_POLLS = 200
#: Records fetched (and decoded) at once: bounds the time one step takes (about 1 ms),
#: which is the time an async iterator keeps the event loop.
FEED_BATCH = 1024


class Feed:
    """The records of a reader that a :class:`~binfeed.selection.Selection` keeps, one at a
    time, in order, without waiting; SYMBOL records only when asked for.

    Args:
        reader: the reader to take records from.
        selection: the record types and symbols to keep (its time window too, if any).
        include_symbols: hand out SYMBOL records too (as ``selection.types`` naming them).
    """

    def __init__(self, reader: QueueReader, selection: Selection, include_symbols: bool) -> None:
        self.reader = reader
        self.selection = selection
        wanted = set(selection.types) or {RecordType(t) for t in KNOWN_TYPES.tolist()}
        if not include_symbols and RecordType.SYMBOL not in selection.types:
            wanted.discard(RecordType.SYMBOL)
        self._wanted = np.array(sorted(wanted), dtype=np.uint16)
        self._symbol_filter = bool(selection.symbols)
        self._ids_known = -1  # len(reader.symbols) when _ids was computed
        self._ids: np.ndarray | None = None
        # what the feed has decoded of the reader's current batch
        self._batch: np.ndarray | None = None
        self._base = 0  # the batch offset the decoded view starts at
        self._end = 0  # ... and ends at
        self._idx = np.empty(0, dtype=np.intp)  # offsets in the view of the kept records
        self._records: list[Record] = []
        self._k = 0  # the next record of _records to hand out
        self._at = -1  # where the feed left the reader's position in the batch

    @property
    def needs_fetch(self) -> bool:
        """The next :meth:`next_now` asks the reader for records (not only the decoded
        ones): a point to let other tasks run before it."""
        r = self.reader
        return not (r._held is self._batch and r._held_at == self._at and
                    self._k < len(self._records))

    def next_now(self) -> Record | None:
        """The next record kept, or None when none is published now.

        Raises:
            DamagedRecordError: as :meth:`QueueReader.poll` (the reader has moved past it).
        """
        while True:
            got = self.step()
            if got is False:
                return None
            if got is not True:
                return got

    def step(self) -> Record | bool:
        """One step of :meth:`next_now`, which takes a bounded time: the next record kept;
        True when it passed over up to FEED_BATCH records that the selection leaves out
        (call again: more may be published); False when none is published now."""
        r = self.reader
        if self.needs_fetch:
            return self._fetch()
        k = self._k
        self._k = k + 1
        # consumed through this record; after the last kept one, through the view
        last = self._k == len(self._records)
        r._held_at = self._end if last else self._base + int(self._idx[k]) + 1
        self._at = r._held_at
        return self._records[k]

    def _fetch(self) -> Record | bool:
        """Decodes the kept records of the reader's next records (at most FEED_BATCH) and
        hands out the first; True: none of them kept (passed over); False: none published."""
        r = self.reader
        view = r._peek(FEED_BATCH)
        if not len(view):
            return False
        base = r._held_at
        keep = np.isin(view["type"], self._wanted)
        chosen = self.selection.keep_ids(view, self._symbol_ids())
        if chosen is not None:
            keep &= chosen
        idx = np.flatnonzero(keep)
        if not len(idx):
            r._held_at = base + len(view)
            return True
        self._batch, self._base, self._end = r._held, base, base + len(view)
        self._idx = idx
        self._records = decode_slots(view[idx], r.symbols, include_symbols=True)
        self._k = 0
        self._at = base
        return self.step()

    def _symbol_ids(self) -> np.ndarray | None:
        """The ids of the selected symbols, recomputed when the symbol table grew."""
        if not self._symbol_filter:
            return None
        names = self.reader.symbols
        if len(names) != self._ids_known:
            ids = self.selection.symbol_ids(names) or set()
            self._ids = np.array(sorted(ids), dtype=np.uint64)
            self._ids_known = len(names)
        return self._ids


class _Tailing:
    """What both tails hold: the feed, the two timeouts, the idle poll interval and when
    the last record was handed out."""

    def __init__(self, feed: Feed, *, timeout: float | None, idle_timeout: float | None,
                 poll_interval: float) -> None:
        _check_times(timeout, idle_timeout, poll_interval)
        self._feed = feed
        self._timeout = timeout
        self._idle_timeout = idle_timeout
        self._poll_interval = poll_interval
        self._last_record = time.monotonic()


class Tail(_Tailing):
    """The iterator of :meth:`QueueReader.tail`: records as they come, ``None`` after each
    quiet ``timeout``, the end after a quiet ``idle_timeout``. An exception raised by
    ``next()`` (damage) leaves it usable: the next call goes on.
    """

    def __iter__(self) -> Tail:
        return self

    def __next__(self) -> Record | None:
        feed = self._feed
        start = time.monotonic()
        spins = 0
        while True:
            got = feed.step()
            if not isinstance(got, bool):
                self._last_record = time.monotonic()
                return got
            now = time.monotonic()
            if got:  # records passed over, more may be there: only the quiet timeout counts
                if self._timeout is not None and now - start >= self._timeout:
                    return None
                continue
            wait = _wait_left(now, start, self._last_record, self._timeout, self._idle_timeout)
            if wait is None:
                raise StopIteration
            if wait <= 0:
                return None
            spins += 1
            if spins > SPIN_POLLS:
                time.sleep(min(self._poll_interval, wait))


class AsyncTail(_Tailing):
    """The async iterator of :meth:`QueueReader.atail` (same hand-outs as :class:`Tail`).

    Each ``__anext__`` lets other tasks run before it fetches new records, and awaits
    ``anyio.sleep`` while the queue is idle; a cancellation there consumes nothing.
    """

    def __aiter__(self) -> AsyncTail:
        return self

    async def __anext__(self) -> Record | None:
        feed = self._feed
        start = time.monotonic()
        while True:
            if feed.needs_fetch:
                await anyio.lowlevel.checkpoint()
            got = feed.step()
            if not isinstance(got, bool):
                self._last_record = time.monotonic()
                return got
            now = time.monotonic()
            if got:  # passed over, more may be there (the next step lets other tasks run)
                if self._timeout is not None and now - start >= self._timeout:
                    return None
                continue
            wait = _wait_left(now, start, self._last_record, self._timeout, self._idle_timeout)
            if wait is None:
                raise StopAsyncIteration
            if wait <= 0:
                return None
            await anyio.sleep(min(self._poll_interval, wait))


def _wait_left(now: float, start: float, last_record: float, timeout: float | None,
               idle_timeout: float | None) -> float | None:
    """How long a tail may still wait for a record: None when the idle timeout ended it,
    <= 0 when the quiet timeout is up (hand out None), else the seconds left (inf: no
    deadline)."""
    if idle_timeout is not None and now - last_record >= idle_timeout:
        return None
    left = float("inf")
    if timeout is not None:
        left = timeout - (now - start)
    if idle_timeout is not None:
        # sleep no further than the idle deadline, which must end the iterator on time
        left = min(left, max(idle_timeout - (now - last_record), 1e-6))
    return left


def _check_times(timeout: float | None, idle_timeout: float | None,
                 poll_interval: float) -> None:
    for name, value in (("timeout", timeout), ("idle_timeout", idle_timeout)):
        if value is not None and not value >= 0:
            raise ValueError(f"{name} must be a number of seconds >= 0 (or None), not {value!r}")
    if not poll_interval > 0:
        raise ValueError(f"poll_interval must be a number of seconds > 0, not {poll_interval!r}")
