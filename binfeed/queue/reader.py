"""Reading a queue in order: :class:`QueueReader` follows the queue with the header's own
reader (verification, rolls, holes) and hands out the records it vouches for as zero-copy
numpy views of the segment files; damage is reported (:class:`Damage`), never returned."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import overload

import anyio
import numpy as np

from binfeed import errors
from binfeed._ffi import ffi, lib, raise_status, string
from binfeed.queue.decode import decode_slots
from binfeed.queue.layout import segment_name
from binfeed.queue.live import DEFAULT_POLL_INTERVAL, AsyncTail, Feed, Tail
from binfeed.queue.opening import DEFAULT_OPEN_POLL, WAIT_SLICE, Opener, open_reader, reader_flags
from binfeed.queue.segment import Segment, symbols_in, upgrade_v1
from binfeed.records import KNOWN_TYPES, SLOT_DTYPE, Record, RecordType
from binfeed.selection import Selection

log = logging.getLogger("binfeed.queue")


@dataclass(frozen=True, slots=True)
class Damage:
    """What a reader met instead of good data; it was skipped, never returned.

    Attributes:
        kind: ``checksum`` (a record failing its checksum), ``hole`` (segment files
            missing), ``header`` (a segment that cannot be read or has an invalid header),
            ``index`` (records vanished between two segments), ``write_index`` (a sealed
            segment's count disagrees with its file), ``record`` (an invalid SYMBOL record),
            or ``unknown_type`` (a record type this binfeed does not know, written by a
            newer one: a warning, not damage).
        segment: path of the segment file concerned (the first missing one for a hole).
        slot: the slot, for ``checksum``, ``record`` and ``unknown_type``; else None.
        count: records or segments concerned.
        message: one line naming the file and saying what to do.
        severity: ``damage`` or ``warning``.
    """

    kind: str
    segment: Path
    slot: int | None
    count: int
    message: str
    severity: str = "damage"


#: Called with each :class:`Damage` a reader meets (then reading goes on).
DamageHook = Callable[[Damage], None]


class QueueReader:
    """Reads a queue's records in order, across segments, while a writer may append.

    Every record is verified (checksum, type) before it is returned; damage is skipped and
    reported: raised as :class:`~binfeed.errors.DamagedRecordError` from :meth:`poll` (the
    reader has moved past it, so calling again goes on), or, with ``on_damage``, given to
    that callable and reading goes on. A hole (missing segment files) is read past and
    reported the same way. Records of a type this binfeed does not know (a newer writer)
    are returned in :meth:`poll` batches, skipped by :meth:`decode`, and reported once per
    type as a warning (to ``on_damage``, else to the log).

    Args:
        path: the queue directory.
        from_end: start after the records published at open time (tail) instead of at the
            oldest record.
        on_damage: called with each :class:`Damage` instead of raising.
        verify: False skips the checks (damage may then pass as data).

    Raises:
        QueueNotFoundError: no queue directory, or no segment in it yet (C's message says
            which; :meth:`wait_for` waits for one).
        QueueIOError: the path is not a directory, or cannot be read.
        QueueVersionError: a segment was written by a newer binfeed.

    A reader is used by one thread at a time; any number may run in any processes.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        from_end: bool = False,
        on_damage: DamageHook | None = None,
        verify: bool = True,
    ) -> None:
        self.path = Path(path)
        handle = open_reader(self.path, reader_flags(from_end, verify), None)
        assert handle is not None  # without a wait, C raises or opens
        self._setup(handle, on_damage)

    def _setup(self, handle: object, on_damage: DamageHook | None) -> None:
        self.on_damage = on_damage
        self.symbols: dict[int, str] = {}
        self._seg: Segment | None = None
        self._warned_types: set[int] = set()
        self._r: object | None = handle
        self._seq = ffi.new("uint64_t *")
        self._first = ffi.new("uint64_t *")
        self._count = ffi.new("uint64_t *")
        self._empty = np.empty(0, SLOT_DTYPE)
        self._symbols_seen = 0
        self._unknown_seen = 0
        # The last batch C handed out and how far into it the reader has moved: slots from
        # _held_at on are not consumed yet (an iterator that stopped between two records).
        self._held = self._empty
        self._held_at = 0
        self._held_seq = 0
        self._held_first = 0
        self._learn_symbols()  # those defined before the start point (BFR_FROM_END)

    def _learn_symbols(self) -> None:
        """Takes the names C's reader has learnt (from every SYMBOL record it passed)."""
        handle = self._r
        for sid in range(1, int(lib.bf_py_reader_symbol_capacity(handle)) + 1):
            name = lib.bf_py_reader_symbol(handle, sid)
            if name != ffi.NULL:
                self.symbols[sid] = ffi.string(name).decode("utf-8", "replace")

    @classmethod
    def wait_for(
        cls,
        path: str | os.PathLike[str],
        *,
        from_end: bool = False,
        timeout: float | None = None,
        on_damage: DamageHook | None = None,
        verify: bool = True,
    ) -> QueueReader:
        """Opens the queue once its first segment exists: the directory may not exist yet,
        or hold no segment yet (a consumer started before its writer). Waits in C
        (``bfr_open_wait``: a directory listing every 1 to 10 ms, the GIL released), in
        slices of 0.1 s so that Ctrl-C is seen; logs once (info) that it waits. With
        ``from_end``, a queue that was not there when the call began is read from its first
        record (all of it was published after the call).

        Args:
            path: the queue directory.
            from_end, on_damage, verify: as for the constructor.
            timeout: seconds to wait at most (None: forever).

        Raises:
            ReadTimeout: still no queue after ``timeout`` seconds.
            QueueIOError: ``path`` exists and is not a directory, or cannot be read.
            QueueVersionError: a segment was written by a newer binfeed.
        """
        opener = Opener(Path(path), reader_flags(from_end, verify))
        deadline = None if timeout is None else time.monotonic() + timeout
        waiting = False
        while True:
            left = WAIT_SLICE if deadline is None else deadline - time.monotonic()
            handle = opener.attempt(max(0.0, min(WAIT_SLICE, left)))
            if handle is not None:
                return cls._opened(path, handle, on_damage)
            if not waiting:
                log.info("waiting for a queue to appear at %s", path)
                waiting = True
            if deadline is not None and time.monotonic() >= deadline:
                raise errors.ReadTimeout(opener.timed_out(timeout), lib.BF_ETIMEOUT)

    @classmethod
    async def wait_for_async(
        cls,
        path: str | os.PathLike[str],
        *,
        from_end: bool = False,
        poll_interval: float = DEFAULT_OPEN_POLL,
        on_damage: DamageHook | None = None,
        verify: bool = True,
    ) -> QueueReader:
        """:meth:`wait_for` for async code (anyio: asyncio or trio): looks for the queue
        every ``poll_interval`` seconds without blocking the event loop (each look is one
        ``bfr_open`` attempt: a failed ``open`` of the directory or one listing of it, a
        few microseconds). Bound the wait with the event loop's own timeouts
        (``with anyio.fail_after(5):``, ``asyncio.timeout``, ``trio.fail_after``);
        cancelling it leaves nothing open.

        Raises:
            QueueIOError, QueueVersionError: as :meth:`wait_for`.
        """
        opener = Opener(Path(path), reader_flags(from_end, verify))
        while True:
            handle = opener.attempt(0.0)
            if handle is not None:
                return cls._opened(path, handle, on_damage)
            await anyio.sleep(poll_interval)

    @classmethod
    def _opened(cls, path: str | os.PathLike[str], handle: object,
                on_damage: DamageHook | None) -> QueueReader:
        self = cls.__new__(cls)
        self.path = Path(path)
        self._setup(handle, on_damage)
        return self

    @property
    def segment(self) -> Segment:
        """The segment the reader is in (mapped on first use).

        Raises:
            QueueError: it cannot be read (the reader skips such a segment).
        """
        seq, _ = self.position
        if self._seg is None or self._seg.seq != seq:
            new = Segment(self.path / segment_name(seq))
            if self._seg is not None:
                self._seg.close()
            self._seg = new
        return self._seg

    @property
    def position(self) -> tuple[int, int]:
        """(segment seq, slot index) of the next record to read."""
        if self._held_at < len(self._held):
            return self._held_seq, self._held_first + self._held_at
        pos = ffi.new("bfr_position *")
        lib.bf_py_reader_tell(self._reader(), pos)
        return int(pos.segment_seq), int(pos.index)

    def _reader(self) -> object:
        if self._r is None:
            raise errors.QueueClosedError(f"reader of {self.path} is closed", lib.BF_ECLOSED)
        return self._r

    def close(self) -> None:
        """Releases the reader's mappings and locks. Idempotent."""
        self._held = self._empty
        self._held_at = 0
        if self._seg is not None:
            self._seg.close()
            self._seg = None
        if self._r is not None:
            r, self._r = self._r, None
            ffi.release(r)

    def __enter__(self) -> QueueReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def symbol(self, symbol_id: int) -> str:
        """Name of a symbol id seen so far ("?<id>" if not defined yet)."""
        return self.symbols.get(symbol_id, f"?{symbol_id}")

    # -- the core: batches of checked slots -------------------------------------------
    def poll(self, max_records: int = 65536) -> np.ndarray:
        """The next published records, verified (at most ``max_records``, maybe none), as a
        zero-copy :data:`SLOT_DTYPE` view into one segment (a converted copy for a
        version-1 segment). Moves to the next segment when this one is finished. Never
        blocks. An empty batch means nothing more is published now; a batch never spans
        two segments, so a short one does not mean the end: poll until it is empty (or use
        :meth:`records`). Records that an iterator (:meth:`tail`, :meth:`atail`,
        :meth:`records`) fetched but did not hand out come first.

        Raises:
            DamagedRecordError: damage was met (without ``on_damage``); the reader has
                moved past it, so polling again goes on.
        """
        batch = self._peek(max_records)
        self._held_at += len(batch)
        return batch

    def _peek(self, max_records: int) -> np.ndarray:
        """The next records as :meth:`poll` returns them, without moving past them:
        ``_held_at`` says how far the caller consumed (slots before it are done)."""
        at = self._held_at
        if at < len(self._held):
            return self._held[at:at + max_records]
        r = self._reader()
        while True:
            rc = lib.bf_py_reader_next_batch(r, max_records, self._seq, self._first,
                                             self._count)
            if rc == 1:
                seq, first = int(self._seq[0]), int(self._first[0])
                batch = self._batch(seq, first, int(self._count[0]))
                self._held, self._held_at = batch, 0
                self._held_seq, self._held_first = seq, first
                return batch
            if rc == 0:
                return self._empty
            if rc == lib.BF_EDAMAGED:
                self._report(self._damage())
                continue
            raise_status(rc, string(lib.bf_py_reader_error(r)))

    def _batch(self, seq: int, first: int, count: int) -> np.ndarray:
        seg = self._seg
        if seg is None or seg.seq != seq:
            new = Segment(self.path / segment_name(seq))
            if seg is not None:
                seg.close()
            self._seg = seg = new
        batch = seg.slots(first, first + count)
        if seg.version < 2:
            batch = upgrade_v1(batch)
        # C counts what needs a look, so that a small batch costs no numpy scan
        symbols_seen = int(lib.bf_py_reader_symbols_seen(self._r))
        if symbols_seen != self._symbols_seen:
            self._symbols_seen = symbols_seen
            self.symbols.update(symbols_in(batch))
        unknown_seen = int(lib.bf_py_reader_unknown_seen(self._r))
        if unknown_seen != self._unknown_seen:
            self._unknown_seen = unknown_seen
            self._warn_unknown(batch, seg, first)
        return batch

    def _warn_unknown(self, batch: np.ndarray, seg: Segment, first: int) -> None:
        types = batch["type"]
        for i in np.flatnonzero(~np.isin(types, KNOWN_TYPES)).tolist():
            t = int(types[i])
            if t in self._warned_types:
                continue
            self._warned_types.add(t)
            self._report(Damage(
                "unknown_type", seg.path, first + i, 1,
                f"{seg.path} slot {first + i}: record type {t} is unknown to this binfeed "
                "(written by a newer one?): such records are skipped; upgrade binfeed to "
                "read them", "warning"))

    def _damage(self) -> Damage:
        d = ffi.new("bfr_damage *")
        lib.bf_py_reader_damage(self._r, d)
        kind = ffi.string(lib.bf_py_damage_kind_name(d.kind)).decode()
        slot = int(d.slot) if d.kind in (lib.BFR_DAMAGE_CHECKSUM, lib.BFR_DAMAGE_RECORD) \
            else None
        return Damage(kind, self.path / segment_name(int(d.segment_seq)), slot, int(d.count),
                      string(lib.bf_py_reader_error(self._r)))

    def _report(self, damage: Damage) -> None:
        if self.on_damage is not None:
            self.on_damage(damage)
        elif damage.severity == "warning":
            log.warning("%s", damage.message)
        else:
            raise errors.DamagedRecordError(damage.message, lib.BF_EDAMAGED, damage)

    # -- records ----------------------------------------------------------------------
    def records(
        self,
        *,
        include_symbols: bool = False,
        types: Iterable[RecordType | str] | None = None,
        symbols: Iterable[str] | None = None,
    ) -> Iterator[Record]:
        """Every record available now, in order (does not wait); filters as :meth:`tail`.

        Raises:
            ValueError: an unknown record type in ``types``.
            DamagedRecordError: as :meth:`poll` (the iterator ends; the reader has moved
                past the damage, so a new one goes on).
        """
        feed = Feed(self, Selection.of(symbols, types=types), include_symbols)
        return iter(feed.next_now, None)

    @overload
    def tail(
        self,
        *,
        timeout: None = None,
        idle_timeout: float | None = None,
        types: Iterable[RecordType | str] | None = None,
        symbols: Iterable[str] | None = None,
        include_symbols: bool = False,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
    ) -> Iterator[Record]: ...
    @overload
    def tail(
        self,
        *,
        timeout: float,
        idle_timeout: float | None = None,
        types: Iterable[RecordType | str] | None = None,
        symbols: Iterable[str] | None = None,
        include_symbols: bool = False,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
    ) -> Iterator[Record | None]: ...
    def tail(
        self,
        *,
        timeout: float | None = None,
        idle_timeout: float | None = None,
        types: Iterable[RecordType | str] | None = None,
        symbols: Iterable[str] | None = None,
        include_symbols: bool = False,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
    ) -> Iterator[Record] | Iterator[Record | None]:
        """Records as they are published, for ever (or see ``idle_timeout``).

        Waiting spins briefly, then sleeps ``poll_interval`` between looks, so a record is
        handed out within about ``poll_interval`` of its publication. A record is consumed
        when it is handed out (or passed over by the filters): breaking out of the loop
        loses nothing, and the next :meth:`tail`, :meth:`records` or :meth:`poll` goes on
        from the first record not handed out.

        Args:
            timeout: hand out ``None`` whenever no record came for this many seconds, so
                the loop keeps control (to check a flag, flush, send a heartbeat); the
                iterator goes on after it. None: wait as long as it takes.
            idle_timeout: end the iterator once no record came for this many seconds
                (counted from the last record handed out, or from the start). None: never.
            types: record types to hand out (``"bookTicker"``, ``"trade"``, ``"gap"``,
                ``"connection"``, ``"recovery"``, ``"symbol"``, or :class:`RecordType`);
                None: all but SYMBOL records.
            symbols: symbol names (any case) to hand out; records that name no symbol
                (connection, recovery) concern every symbol and are kept. A symbol not in
                the queue yet is matched once its SYMBOL record arrives.
            include_symbols: also hand out SYMBOL records (as with ``types`` naming them).
            poll_interval: the sleep between two looks while idle (seconds).

        Raises:
            ValueError: an unknown record type, or a single string for ``types`` or
                ``symbols`` (pass a list).
            DamagedRecordError: from the iteration, as :meth:`poll`; the reader has moved
                past the damage: ``next()`` on the same iterator goes on.
        """
        feed = Feed(self, Selection.of(symbols, types=types), include_symbols)
        return Tail(feed, timeout=timeout, idle_timeout=idle_timeout,
                    poll_interval=poll_interval)

    def atail(
        self,
        *,
        timeout: float | None = None,
        idle_timeout: float | None = None,
        types: Iterable[RecordType | str] | None = None,
        symbols: Iterable[str] | None = None,
        include_symbols: bool = False,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
    ) -> AsyncTail:
        """:meth:`tail` as an async iterator, for anyio, asyncio or trio code::

            async for rec in reader.atail(timeout=1.0, symbols=["BTCUSDT"]):
                if rec is None:  # nothing for a second
                    continue

        It never blocks the event loop: while idle it awaits ``anyio.sleep(poll_interval)``
        between looks (no busy loop), and it lets other tasks run before each new batch
        of records (at most 1024 are decoded at once). Cancellation is safe: a cancelled
        ``__anext__`` has consumed nothing, and the iterator (or a new one) goes on from
        the first record not handed out. Arguments as :meth:`tail`; with ``timeout`` it
        hands out ``None`` likewise, and ``idle_timeout`` ends it.
        """
        feed = Feed(self, Selection.of(symbols, types=types), include_symbols)
        return AsyncTail(feed, timeout=timeout, idle_timeout=idle_timeout,
                         poll_interval=poll_interval)

    def decode(self, batch: np.ndarray, *, include_symbols: bool = False) -> list[Record]:
        """Turns a batch of slots (from :meth:`poll`) into record objects."""
        return decode_slots(batch, self.symbols, include_symbols=include_symbols)

