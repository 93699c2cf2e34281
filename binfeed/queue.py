"""The Python face of a binfeed queue: a writer over the C appender, a reader over the C one.

A queue is a directory of segment files (format: ``csrc/include/binfeed_reader.h``,
``docs/format.md``). :class:`QueueWriter` appends through the C writer (one per queue, held
with a lock). :class:`QueueReader` follows the queue with the header's own reader (the same
code a C consumer runs: verification, rolls, holes), and exposes the records it vouches for
as zero-copy numpy views of the segment files, or as :mod:`binfeed.records` objects. Damage
is never returned as data: it is raised as :class:`~binfeed.errors.DamagedRecordError`, or
given to an ``on_damage`` hook. :class:`Segment` maps one file, judged by the same C code.

Example::

    with QueueWriter("/data/q") as w:
        w.append_book_ticker("BTCUSDT", 1, 61837.63, 3.78, 61837.64, 1.54, recv_ts_ns=now)
    reader = QueueReader("/data/q")
    for rec in reader.records():
        print(rec)
"""

from __future__ import annotations

import contextlib
import logging
import mmap
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import numpy as np

from binfeed import errors
from binfeed._ffi import check, ffi, lib, raise_status, string
from binfeed.records import (
    BOOK_TICKER_DTYPE,
    CONNECTION_DTYPE,
    GAP_DTYPE,
    HEADER_SIZE,
    RECOVERY_DTYPE,
    SLOT_DTYPE,
    SLOT_SIZE,
    SYMBOL_DTYPE,
    TRADE_BEST_MATCH,
    TRADE_BEST_MATCH_KNOWN,
    TRADE_BUYER_IS_MAKER,
    TRADE_DTYPE,
    BookTicker,
    Connection,
    ConnectionEvent,
    Gap,
    GapReason,
    Record,
    RecordType,
    Recovery,
    RecoveryEvent,
    Stream,
    SymbolDefinition,
    Trade,
)

log = logging.getLogger(__name__)

SEGMENT_RE = re.compile(r"^(\d{20})\.bfq$")
LOCK_FILE = "writer.lock"
DEFAULT_SEGMENT_SLOTS: int = lib.BF_DEFAULT_SEGMENT_SLOTS
_KNOWN_TYPES = frozenset(int(t) for t in RecordType)
_MESSAGE_MAX = 2048


def segment_name(seq: int) -> str:
    """File name of segment ``seq`` inside a queue directory."""
    return f"{seq:020d}.bfq"


def list_segments(path: str | os.PathLike[str]) -> list[tuple[int, Path]]:
    """The queue's segments as (seq, path), oldest first; [] when there are none.

    Raises:
        QueueNotFoundError: ``path`` is not a directory.
    """
    root = Path(path)
    try:
        names = os.listdir(root)
    except FileNotFoundError:
        raise errors.QueueNotFoundError(
            f"no queue at {root}: the directory does not exist (record or import into it first)",
            lib.BF_ENOTFOUND,
        ) from None
    except NotADirectoryError:
        raise errors.QueueNotFoundError(
            f"{root} is a file, not a queue directory", lib.BF_ENOTFOUND
        ) from None
    found = []
    for name in names:
        m = SEGMENT_RE.match(name)
        if m:
            found.append((int(m.group(1)), root / name))
    found.sort()
    return found


# --------------------------------------------------------------------------------------
# Writer
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WriterStats:
    """A snapshot of a writer's counters."""

    segment_seq: int
    write_index: int
    capacity: int
    records_written: int
    segments_created: int
    symbols: int
    recovered_cut: int


@dataclass(frozen=True, slots=True)
class RecoveryReport:
    """What a writer's recovery found when it opened the queue (also stored in the queue
    as a RECOVERY record)."""

    event: RecoveryEvent
    segment_seq: int
    slot: int
    count: int
    message: str


class QueueWriter:
    """The single writer of a queue directory (created if missing).

    Args:
        path: the queue directory.
        segment_slots: records per segment file (0: the default, 1 Mi slots = 128 MiB).
        utc_day_roll: also start a new segment when a record's receive time crosses UTC midnight.
        prefault: touch every page of a new segment when creating it (no page faults later).
        sync_on_seal: make each segment durable when it is sealed (fdatasync, directory
            fsync: see :mod:`binfeed.durability`).

    Raises:
        QueueLockedError: another live writer holds the queue; the message names it.
        DiskFullError: no space for the first segment.
        QueueCorruptError, QueueVersionError, QueueIOError: the queue cannot be used.

    Thread-safety: use from one thread; :meth:`prepare_next` and :meth:`sync` may run in a
    worker thread at the same time (the C calls release the GIL).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        segment_slots: int = 0,
        utc_day_roll: bool = False,
        prefault: bool = False,
        sync_on_seal: bool = False,
    ) -> None:
        self.path = Path(path)
        if segment_slots and segment_slots < lib.BF_MIN_SEGMENT_SLOTS:
            raise errors.InvalidRecordError(
                f"segment_slots={segment_slots} is too small: use at least "
                f"{lib.BF_MIN_SEGMENT_SLOTS}, or 0 for the default ({DEFAULT_SEGMENT_SLOTS})",
                lib.BF_EINVAL,
            )
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise errors.QueueIOError(
                f"cannot create queue directory {self.path}: {exc.strerror}; "
                "choose a writable location",
                lib.BF_EIO,
            ) from exc
        opts = ffi.new("bf_writer_opts *")
        opts.segment_slots = segment_slots
        opts.flags = ((lib.BF_WRITER_UTC_DAY_ROLL if utc_day_roll else 0)
                      | (lib.BF_WRITER_PREFAULT if prefault else 0)
                      | (lib.BF_WRITER_SYNC_SEAL if sync_on_seal else 0))
        out = ffi.new("bf_writer **")
        errbuf = ffi.new("char[]", 1024)
        rc = lib.bf_writer_open(os.fsencode(self.path), opts, out, errbuf, len(errbuf))
        if rc < 0:
            raise_status(rc, string(errbuf))
        self._w = out[0]
        self._symbols: dict[str, int] = {}
        self._id_buf = ffi.new("uint64_t *")
        #: What recovery found at open (torn tails cut, damaged segments kept, holes).
        self.recovery: list[RecoveryReport] = self._recovery_reports()
        for report in self.recovery:
            log.warning("%s", report.message)

    def _recovery_reports(self) -> list[RecoveryReport]:
        stats = ffi.new("bf_writer_stats *")
        self._check(lib.bf_writer_get_stats(self._w, stats))
        out = []
        rep = ffi.new("bf_recovery_report *")
        for i in range(stats.recovery_events):
            self._check(lib.bf_writer_recovery(self._w, i, rep))
            out.append(RecoveryReport(RecoveryEvent(rep.event), rep.segment_seq, rep.slot,
                                      rep.count, string(rep.message)))
        return out

    @property
    def queue_id(self) -> bytes:
        """The queue's random 16-byte identity, the same in every segment."""
        buf = ffi.new("uint8_t[]", lib.BF_QUEUE_ID_SIZE)
        self._check(lib.bf_writer_queue_id(self._handle(), buf))
        return bytes(ffi.buffer(buf))

    # -- lifecycle --------------------------------------------------------------------
    @property
    def handle(self) -> object:
        """The ``bf_writer *`` for other C calls (the parser). Valid until :meth:`close`."""
        return self._handle()

    def _handle(self) -> object:
        if self._w is None:
            raise errors.QueueClosedError(f"writer of {self.path} is closed", lib.BF_ECLOSED)
        return self._w

    @property
    def closed(self) -> bool:
        return self._w is None

    def close(self) -> None:
        """Seals the current segment and releases the queue. Idempotent."""
        if self._w is None:
            return
        w, self._w = self._w, None
        check(lib.bf_writer_close(w), "closing the writer failed; the segment stays unsealed "
              "and the next writer will recover it")

    def __enter__(self) -> QueueWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __del__(self) -> None:  # a forgotten writer still seals its segment
        if getattr(self, "_w", None) is not None:
            with contextlib.suppress(errors.BinfeedError):
                self.close()

    def _error(self) -> str:
        return string(lib.bf_writer_error(self._w)) if self._w is not None else ""

    def _check(self, rc: int) -> int:
        if rc < 0:
            raise_status(rc, self._error())
        return rc

    # -- symbols ----------------------------------------------------------------------
    def symbol(self, name: str) -> int:
        """The id of ``name`` (UTF-8; ASCII letters case-insensitive), defining it if new."""
        sid = self._symbols.get(name)
        if sid is not None:
            return sid
        raw = name.encode("utf-8")
        self._check(lib.bf_writer_symbol(self._handle(), raw, len(raw), self._id_buf))
        sid = int(self._id_buf[0])
        self._symbols[name] = sid
        return sid

    def symbol_name(self, symbol_id: int) -> str | None:
        """Name of a defined id, or None."""
        ptr = lib.bf_writer_symbol_name(self._handle(), symbol_id)
        return None if ptr == ffi.NULL else string(ptr)

    def _sid(self, symbol: str | int) -> int:
        return symbol if isinstance(symbol, int) else self.symbol(symbol)

    # -- appends ----------------------------------------------------------------------
    def append_book_ticker(
        self,
        symbol: str | int,
        update_id: int,
        bid_price: float,
        bid_qty: float,
        ask_price: float,
        ask_qty: float,
        *,
        recv_ts_ns: int = 0,
        timestamp_us: int = 0,
    ) -> None:
        """Appends a BOOK_TICKER record (published before this returns); timestamp_us is
        the exchange event time in microseconds (0 when the stream carries none)."""
        self._check(lib.bf_append_book_ticker(
            self._handle(), recv_ts_ns, update_id, timestamp_us, bid_price, bid_qty,
            ask_price, ask_qty, self._sid(symbol)))

    def append_trade(
        self,
        symbol: str | int,
        trade_id: int,
        price: float,
        qty: float,
        *,
        trade_ts_us: int,
        event_ts_us: int,
        buyer_is_maker: bool,
        best_match: bool | None = None,
        recv_ts_ns: int = 0,
    ) -> None:
        """Appends a TRADE record (trade and event times in microseconds)."""
        flags = (TRADE_BUYER_IS_MAKER if buyer_is_maker else 0)
        if best_match is not None:
            flags |= TRADE_BEST_MATCH_KNOWN | (TRADE_BEST_MATCH if best_match else 0)
        self._check(lib.bf_append_trade(
            self._handle(), recv_ts_ns, trade_id, price, qty, trade_ts_us, event_ts_us, flags,
            self._sid(symbol)))

    def append_gap(
        self,
        symbol: str | int,
        stream: Stream,
        reason: GapReason,
        *,
        last_seq: int = 0,
        next_seq: int = 0,
        recv_ts_ns: int = 0,
    ) -> None:
        """Appends a GAP record for one stream (0 = sequence not known)."""
        self._check(lib.bf_append_gap(self._handle(), recv_ts_ns, self._sid(symbol),
                                      int(stream), int(reason), last_seq, next_seq))

    def append_connection(
        self,
        event: ConnectionEvent,
        conn_id: int,
        *,
        code: int = 0,
        detail: str = "",
        recv_ts_ns: int = 0,
    ) -> None:
        """Appends a CONNECTION audit record (detail truncated to 87 bytes)."""
        raw = detail.encode("utf-8")[:87]
        self._check(lib.bf_append_connection(self._handle(), recv_ts_ns, int(event), conn_id,
                                             code, raw))

    def append_slots(self, slots: np.ndarray) -> None:
        """Appends many records with one publish (all validated first, all or nothing).

        Args:
            slots: a C-contiguous array of 128-byte records (any of the dtypes of
                :mod:`binfeed.records`); crc32c is filled in by the writer.
        """
        arr = np.ascontiguousarray(slots)
        if arr.dtype.itemsize != SLOT_SIZE:
            raise errors.InvalidRecordError(
                f"slots must be {SLOT_SIZE}-byte records (binfeed.records dtypes), "
                f"got itemsize {arr.dtype.itemsize}", lib.BF_EINVAL)
        if len(arr) == 0:
            return
        ptr = ffi.cast("const bf_slot *", ffi.from_buffer(arr))
        self._check(lib.bf_writer_append_many(self._handle(), ptr, len(arr)))

    # -- maintenance ------------------------------------------------------------------
    def prepare_next(self) -> None:
        """Creates and prefaults the next segment now (blocking; run it off the event loop)."""
        self._check(lib.bf_writer_prepare_next(self._handle()))

    def sync(self) -> None:
        """Flushes the current segment to disk (msync; blocking)."""
        self._check(lib.bf_writer_sync(self._handle()))

    def roll(self) -> None:
        """Seals the current segment and starts the next."""
        self._check(lib.bf_writer_roll(self._handle()))

    def stats(self) -> WriterStats:
        """The writer's counters."""
        out = ffi.new("bf_writer_stats *")
        self._check(lib.bf_writer_get_stats(self._handle(), out))
        return WriterStats(out.segment_seq, out.write_index, out.capacity, out.records_written,
                           out.segments_created, out.symbols, out.recovered_cut)


# --------------------------------------------------------------------------------------
# Reader
# --------------------------------------------------------------------------------------


class Segment:
    """One segment file mapped read-only, judged by the C code, with a read lock held on it.

    ``slots()`` returns zero-copy numpy views of the published slots as they are in the file
    (not verified: :class:`QueueReader` is the checked way to read; :meth:`first_bad` checks
    a range). They stay valid while the Segment (or the views) are alive.

    Raises (from the constructor):
        QueueNotFoundError: the file does not exist.
        QueueIOError: it cannot be opened or mapped (the message says why).
        QueueCorruptError: the header or the file size is not valid.
        QueueVersionError: written by a newer binfeed.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            raise errors.QueueNotFoundError(f"segment {self.path} does not exist",
                                            lib.BF_ENOTFOUND) from None
        except OSError as exc:
            raise errors.QueueIOError(
                f"cannot open segment {self.path}: {exc.strerror}; check its permissions, "
                "then run `binfeed verify` on the queue", lib.BF_EIO) from None
        try:
            size = os.fstat(fd).st_size
            m = SEGMENT_RE.match(self.path.name)
            name_seq = int(m.group(1)) if m else 0
            if size < HEADER_SIZE:
                self._judge(ffi.NULL, size, name_seq)
            # The lock tells retention this file is in use; failure to lock is not fatal.
            lib.bf_py_lock_shared(fd)
            self._mm, size = self._map(fd, size)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        self._size = size
        self._ptr = ffi.from_buffer(self._mm)
        try:
            info = self._judge(self._ptr, size, name_seq)
        except BaseException:
            self.close()
            raise
        self.version = int(info.version)
        self.seq = int(info.segment_seq)
        self.capacity = int(info.capacity)
        self.slot_size = int(info.slot_size)
        self.header_size = int(info.header_size)
        self.created_ns = int(info.created_ns)
        self.first_index = int(info.first_index)
        self.flags = int(info.flags)
        self.queue_id = bytes(info.queue_id)  # zero in version-1 segments
        self.damaged = bool(info.seal_flags & lib.BF_SEAL_F_DAMAGED)
        self.damage_first = int(info.damage_first)
        self.damage_count = int(info.damage_count)
        self._stride_dtype = SLOT_DTYPE if self.slot_size == SLOT_SIZE else np.dtype(
            {"names": ["raw"], "formats": [f"V{SLOT_SIZE}"], "offsets": [0],
             "itemsize": self.slot_size})

    def _judge(self, ptr: object, size: int, seq: int) -> object:
        """bf_segment_check (the one judge) on the mapped header; its fields, or raises."""
        info = ffi.new("bf_py_segment_info *")
        msg = ffi.new("char[]", _MESSAGE_MAX)
        rc = lib.bf_py_segment_check(ptr, size, seq, os.fsencode(self.path), info, msg,
                                     len(msg))
        if rc < 0:
            hint = "" if rc == lib.BF_EVERSION else "; run `binfeed verify` on the queue"
            raise_status(rc, string(msg) + hint)
        return info

    def _map(self, fd: int, size: int) -> tuple[mmap.mmap, int]:
        """Maps the file read-only. The writer may truncate it (sealing shrinks a segment to
        its used length) between our fstat and mmap: then size again."""
        for _ in range(100):
            try:
                return mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ), size
            except ValueError:  # "mmap length is greater than file size": it just shrank
                size = os.fstat(fd).st_size
                if size < HEADER_SIZE:
                    break
            except OSError as exc:
                raise errors.QueueIOError(
                    f"cannot map segment {self.path}: {exc.strerror}", lib.BF_EIO) from None
        raise errors.QueueCorruptError(
            f"segment {self.path} keeps changing size ({size} bytes) while being mapped",
            lib.BF_ECORRUPT)

    def committed(self) -> int:
        """Records published so far (load-acquire of write_index)."""
        return int(lib.bf_py_segment_write_index(self._ptr))

    def sealed(self) -> bool:
        """True once the writer will append nothing more here (load-acquire)."""
        return bool(lib.bf_py_segment_sealed(self._ptr))

    def slots(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Zero-copy view of published slots [start, stop) as :data:`SLOT_DTYPE`, as they
        are in the file (version-1 segments: version-1 values; see :meth:`QueueReader.poll`
        for checked, converted records).

        Reinterpret with ``.view(binfeed.records.BOOK_TICKER_DTYPE)`` and friends after
        selecting a type (``view[view["type"] == RecordType.BOOK_TICKER]``).
        """
        n = self.committed()
        stop = n if stop is None else min(stop, n)
        start = min(start, stop)
        arr = np.frombuffer(self._mm, self._stride_dtype, count=stop - start,
                            offset=self.header_size + start * self.slot_size)
        if self._stride_dtype is not SLOT_DTYPE:
            arr = np.ndarray(arr.shape, SLOT_DTYPE, arr, 0, (self.slot_size,))
        return arr

    def first_bad(self, start: int = 0, stop: int | None = None) -> int | None:
        """Index of the first slot in [start, stop) failing its checksum, or None."""
        n = self.committed()
        stop = n if stop is None else min(stop, n)
        if stop <= start:
            return None
        first = int(lib.bf_py_slots_first_bad(
            self._ptr + self.header_size + start * self.slot_size, stop - start,
            self.slot_size))
        return None if first == stop - start else start + first

    def close(self) -> None:
        """Unmaps when no numpy view is left; the fd (and its lock) is released now."""
        if self._fd < 0:
            return
        self._ptr = None
        with contextlib.suppress(BufferError):  # numpy views still alive: the map goes with them
            self._mm.close()
        os.close(self._fd)
        self._fd = -1

    def __enter__(self) -> Segment:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def symbols_in(slots: np.ndarray) -> dict[int, str]:
    """id -> name from the SYMBOL records in ``slots`` (names are UTF-8)."""
    sym = slots[slots["type"] == RecordType.SYMBOL].view(SYMBOL_DTYPE)
    return {int(i): n.decode("utf-8", "replace") for i, n in zip(
        sym["symbol_id"].tolist(), sym["name"].tolist(), strict=True)}


def upgrade_v1(slots: np.ndarray) -> np.ndarray:
    """A version-2 copy of version-1 slots (times to microseconds), converted by C."""
    out = np.array(slots, dtype=SLOT_DTYPE, copy=True)
    if len(out):
        lib.bf_py_slots_upgrade_v1(ffi.from_buffer(out), len(out), SLOT_SIZE)
    return out


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
        QueueNotFoundError: no queue or no segment yet (see :meth:`wait_for`).
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
        self.on_damage = on_damage
        self.symbols: dict[int, str] = {}
        self._seg: Segment | None = None
        self._warned_types: set[int] = set()
        if not list_segments(self.path):  # also says when the directory does not exist
            raise errors.QueueNotFoundError(
                f"queue {self.path} has no segment yet: start the writer first, or use "
                "QueueReader.wait_for()", lib.BF_ENOTFOUND)
        flags = (lib.BFR_FROM_END if from_end else 0) | (0 if verify else lib.BFR_NO_VERIFY)
        rc = ffi.new("int *")
        msg = ffi.new("char[]", _MESSAGE_MAX)
        r = lib.bf_py_reader_open(os.fsencode(self.path), flags, rc, msg, len(msg))
        if r == ffi.NULL:
            raise_status(rc[0], string(msg))
        self._r = ffi.gc(r, lib.bf_py_reader_close)
        self._seq = ffi.new("uint64_t *")
        self._first = ffi.new("uint64_t *")
        self._count = ffi.new("uint64_t *")
        self._empty = np.empty(0, SLOT_DTYPE)
        self._symbols_seen = 0
        self._unknown_seen = 0
        if from_end:  # the symbols defined before the start point, learnt by C
            for sid in range(1, int(lib.bf_py_reader_symbol_capacity(self._r)) + 1):
                name = lib.bf_py_reader_symbol(self._r, sid)
                if name != ffi.NULL:
                    self.symbols[sid] = ffi.string(name).decode("utf-8", "replace")

    @classmethod
    def wait_for(
        cls,
        path: str | os.PathLike[str],
        *,
        from_end: bool = False,
        timeout: float | None = None,
        poll_s: float = 0.05,
        on_damage: DamageHook | None = None,
    ) -> QueueReader:
        """Opens the queue once its first segment exists (it may not exist yet).

        Raises:
            ReadTimeout: still no queue after ``timeout`` seconds.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            try:
                return cls(path, from_end=from_end, on_damage=on_damage)
            except errors.QueueNotFoundError:
                if deadline is not None and time.monotonic() >= deadline:
                    raise errors.ReadTimeout(
                        f"no queue appeared at {path} within {timeout} s", lib.BF_ETIMEOUT
                    ) from None
                time.sleep(poll_s)

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
        pos = ffi.new("bfr_position *")
        lib.bf_py_reader_tell(self._reader(), pos)
        return int(pos.segment_seq), int(pos.index)

    def _reader(self) -> object:
        if self._r is None:
            raise errors.QueueClosedError(f"reader of {self.path} is closed", lib.BF_ECLOSED)
        return self._r

    def close(self) -> None:
        """Releases the reader's mappings and locks. Idempotent."""
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
        blocks. An empty batch means nothing more is published now.

        Raises:
            DamagedRecordError: damage was met (without ``on_damage``); the reader has
                moved past it, so polling again goes on.
        """
        r = self._reader()
        while True:
            rc = lib.bf_py_reader_next_batch(r, max_records, self._seq, self._first,
                                             self._count)
            if rc == 1:
                return self._batch(int(self._seq[0]), int(self._first[0]),
                                   int(self._count[0]))
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
        for i in np.flatnonzero(~np.isin(types, _KNOWN_TYPE_ARRAY)).tolist():
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
    def records(self, *, include_symbols: bool = False) -> Iterator[Record]:
        """Every record available now, in order (does not wait)."""
        while True:
            batch = self.poll()
            if len(batch) == 0:
                return
            yield from self.decode(batch, include_symbols=include_symbols)

    def tail(
        self,
        *,
        idle_timeout: float | None = None,
        include_symbols: bool = False,
        poll_interval: float = 0.0005,
    ) -> Iterator[Record]:
        """Records as they are published; ends after ``idle_timeout`` seconds without any
        (None: never). Spins briefly, then sleeps ``poll_interval`` between empty polls."""
        last = time.monotonic()
        spins = 0
        while True:
            batch = self.poll()
            if len(batch):
                spins = 0
                last = time.monotonic()
                yield from self.decode(batch, include_symbols=include_symbols)
                continue
            if idle_timeout is not None and time.monotonic() - last >= idle_timeout:
                return
            spins += 1
            if spins > 200:
                time.sleep(poll_interval)

    def decode(self, batch: np.ndarray, *, include_symbols: bool = False) -> list[Record]:
        """Turns a batch of slots (from :meth:`poll`) into record objects."""
        return decode_slots(batch, self.symbols, include_symbols=include_symbols)


_KNOWN_TYPE_ARRAY = np.array(sorted(_KNOWN_TYPES), dtype=np.uint16)


def decode_slots(
    batch: np.ndarray, symbols: dict[int, str], *, include_symbols: bool = False
) -> list[Record]:
    """Record objects for a batch of version-2 slots; ``symbols`` must already hold their
    ids. Records of unknown types are skipped."""
    out: list[Record] = []
    types = batch["type"].tolist()
    seqs = batch["seq"].tolist()
    recvs = batch["recv_ts_ns"].tolist()
    bt = batch.view(BOOK_TICKER_DTYPE)
    tr = batch.view(TRADE_DTYPE)
    for i, t in enumerate(types):
        if t == RecordType.BOOK_TICKER:
            r = bt[i]
            out.append(BookTicker(symbols.get(int(r["symbol_id"]), "?"), seqs[i],
                                  float(r["bid_price"]), float(r["bid_qty"]),
                                  float(r["ask_price"]), float(r["ask_qty"]), recvs[i],
                                  int(r["timestamp"])))
        elif t == RecordType.TRADE:
            r = tr[i]
            f = int(r["trade_flags"])
            out.append(Trade(symbols.get(int(r["symbol_id"]), "?"), int(r["trade_id"]),
                             float(r["price"]), float(r["qty"]), int(r["trade_ts_us"]),
                             int(r["event_ts_us"]), bool(f & TRADE_BUYER_IS_MAKER),
                             bool(f & TRADE_BEST_MATCH) if f & TRADE_BEST_MATCH_KNOWN else None,
                             recvs[i]))
        elif t == RecordType.GAP:
            g = batch[i:i + 1].view(GAP_DTYPE)[0]
            out.append(Gap(symbols.get(int(g["symbol_id"]), "?"), Stream(int(g["stream"])),
                           GapReason(int(g["reason"])), int(g["last_seq"]) or None,
                           int(g["next_seq"]) or None, recvs[i]))
        elif t == RecordType.CONNECTION:
            c = batch[i:i + 1].view(CONNECTION_DTYPE)[0]
            out.append(Connection(ConnectionEvent(int(c["event"])), int(c["conn_id"]),
                                  int(c["code"]),
                                  bytes(c["detail"]).decode("utf-8", "replace"), recvs[i]))
        elif t == RecordType.RECOVERY:
            v = batch[i:i + 1].view(RECOVERY_DTYPE)[0]
            out.append(Recovery(RecoveryEvent(int(v["event"])), int(v["segment_seq"]),
                                int(v["slot"]), int(v["count"]),
                                bytes(v["detail"]).decode("utf-8", "replace"), recvs[i]))
        elif t == RecordType.SYMBOL and include_symbols:
            s = batch[i:i + 1].view(SYMBOL_DTYPE)[0]
            out.append(SymbolDefinition(int(s["symbol_id"]),
                                        s["name"].decode("utf-8", "replace"), recvs[i]))
    return out


# --------------------------------------------------------------------------------------
# Writer status
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WriterStatus:
    """Who holds (or last held) a queue's writer lock."""

    live: bool
    pid: int | None
    host: str | None
    started_ns: int | None
    command: str | None


def writer_status(path: str | os.PathLike[str]) -> WriterStatus:
    """Whether a live writer holds the queue, and what its lock file says (takes no lock)."""
    root = Path(path)
    rc = lib.bf_py_writer_live(os.fsencode(root))
    if rc == lib.BF_ENOTFOUND:
        return WriterStatus(False, None, None, None, None)
    check(rc, f"cannot probe the writer lock of {root}")
    fields: dict[str, str] = {}
    try:
        for line in (root / LOCK_FILE).read_text(errors="replace").splitlines():
            key, _, value = line.partition("=")
            fields[key.strip()] = value.strip()
    except OSError:
        pass
    pid = fields.get("pid")
    started = fields.get("started_ns")
    return WriterStatus(rc == 1, int(pid) if pid and pid.isdigit() else None,
                        fields.get("host"), int(started) if started and started.isdigit()
                        else None, fields.get("command"))


__all__ = [
    "DEFAULT_SEGMENT_SLOTS",
    "Damage",
    "DamageHook",
    "QueueReader",
    "QueueWriter",
    "RecoveryReport",
    "Segment",
    "WriterStats",
    "WriterStatus",
    "decode_slots",
    "list_segments",
    "segment_name",
    "symbols_in",
    "upgrade_v1",
    "writer_status",
]
