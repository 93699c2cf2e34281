"""The Python face of a binfeed queue: a writer over the C appender, readers in Python.

A queue is a directory of segment files (format: ``csrc/include/binfeed_reader.h``,
``docs/format.md``). :class:`QueueWriter` appends through the C writer (one per queue, held
with a lock). :class:`QueueReader` follows the publish protocol from Python: it maps each
segment read-only, loads ``write_index`` with acquire semantics (through a tiny C helper) and
exposes committed slots as zero-copy numpy arrays, or as :mod:`binfeed.records` objects.

Example::

    with QueueWriter("/data/q") as w:
        w.append_book_ticker("BTCUSDT", 1, 61837.63, 3.78, 61837.64, 1.54, recv_ts_ns=now)
    reader = QueueReader("/data/q")
    for rec in reader.records():
        print(rec)
"""

from __future__ import annotations

import contextlib
import mmap
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import numpy as np

from binfeed import errors
from binfeed._ffi import check, ffi, lib, raise_status, string
from binfeed.records import (
    BOOK_TICKER_DTYPE,
    CONNECTION_DTYPE,
    FORMAT_VERSION,
    GAP_DTYPE,
    HEADER_SIZE,
    SEALED_OFFSET,
    SEGMENT_HEADER_DTYPE,
    SLOT_DTYPE,
    SLOT_SIZE,
    SYMBOL_DTYPE,
    TRADE_BEST_MATCH,
    TRADE_BEST_MATCH_KNOWN,
    TRADE_BUYER_IS_MAKER,
    TRADE_DTYPE,
    WRITE_INDEX_OFFSET,
    BookTicker,
    Connection,
    ConnectionEvent,
    Gap,
    GapReason,
    Record,
    RecordType,
    Stream,
    SymbolDefinition,
    Trade,
)

SEGMENT_RE = re.compile(r"^(\d{20})\.bfq$")
LOCK_FILE = "writer.lock"
HEADER_CRC_OFFSET = 56  # header_crc covers bytes 0..55
DEFAULT_SEGMENT_SLOTS: int = lib.BF_DEFAULT_SEGMENT_SLOTS


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


class QueueWriter:
    """The single writer of a queue directory (created if missing).

    Args:
        path: the queue directory.
        segment_slots: records per segment file (0: the default, 1 Mi slots = 128 MiB).
        utc_day_roll: also start a new segment when a record's receive time crosses UTC midnight.
        prefault: touch every page of a new segment when creating it (no page faults later).

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
        opts.flags = (lib.BF_WRITER_UTC_DAY_ROLL if utc_day_roll else 0) | (
            lib.BF_WRITER_PREFAULT if prefault else 0
        )
        out = ffi.new("bf_writer **")
        errbuf = ffi.new("char[]", 1024)
        rc = lib.bf_writer_open(os.fsencode(self.path), opts, out, errbuf, len(errbuf))
        if rc < 0:
            raise_status(rc, string(errbuf))
        self._w = out[0]
        self._symbols: dict[str, int] = {}
        self._id_buf = ffi.new("uint64_t *")

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
        """The id of ``name`` (case-insensitive), defining it in the queue if new."""
        sid = self._symbols.get(name)
        if sid is not None:
            return sid
        raw = name.encode("ascii", "replace")
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
        timestamp_ms: int = 0,
    ) -> None:
        """Appends a BOOK_TICKER record (published before this returns)."""
        self._check(lib.bf_append_book_ticker(
            self._handle(), recv_ts_ns, update_id, timestamp_ms, bid_price, bid_qty,
            ask_price, ask_qty, self._sid(symbol)))

    def append_trade(
        self,
        symbol: str | int,
        trade_id: int,
        price: float,
        qty: float,
        *,
        trade_ts_ms: int,
        event_ts_ms: int,
        buyer_is_maker: bool,
        best_match: bool | None = None,
        recv_ts_ns: int = 0,
    ) -> None:
        """Appends a TRADE record."""
        flags = (TRADE_BUYER_IS_MAKER if buyer_is_maker else 0)
        if best_match is not None:
            flags |= TRADE_BEST_MATCH_KNOWN | (TRADE_BEST_MATCH if best_match else 0)
        self._check(lib.bf_append_trade(
            self._handle(), recv_ts_ns, trade_id, price, qty, trade_ts_ms, event_ts_ms, flags,
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
    """One segment file mapped read-only, validated, with a read lock held on it.

    ``slots()`` returns zero-copy numpy views of the committed records; they stay valid
    while the Segment (or the views) are alive.

    Raises (from the constructor):
        QueueNotFoundError: the file does not exist.
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
        try:
            size = os.fstat(fd).st_size
            if size < HEADER_SIZE:
                raise errors.QueueCorruptError(
                    f"segment {self.path} is truncated ({size} bytes, shorter than its "
                    f"{HEADER_SIZE}-byte header); move it out of the queue directory",
                    lib.BF_ECORRUPT)
            # The lock tells retention this file is in use; failure to lock is not fatal.
            lib.bf_py_lock_shared(fd)
            self._mm, size = self._map(fd, size)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        self._size = size
        header = np.frombuffer(self._mm, SEGMENT_HEADER_DTYPE, count=1)[0]
        self._validate(header)
        self.seq = int(header["segment_seq"])
        self.capacity = int(header["capacity"])
        self.slot_size = int(header["slot_size"])
        self.header_size = int(header["header_size"])
        self.created_ns = int(header["created_ns"])
        self.first_index = int(header["first_index"])
        self.flags = int(header["flags"])
        self._ptr = ffi.from_buffer(self._mm)
        self._stride_dtype = SLOT_DTYPE if self.slot_size == SLOT_SIZE else np.dtype(
            {"names": ["raw"], "formats": [f"V{SLOT_SIZE}"], "offsets": [0],
             "itemsize": self.slot_size})

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
        raise errors.QueueCorruptError(
            f"segment {self.path} keeps changing size ({size} bytes) while being mapped",
            lib.BF_ECORRUPT)

    def _validate(self, h: np.void) -> None:
        where = f"segment {self.path}"
        if bytes(h["magic"]) != b"BINFEEDQ":
            raise errors.QueueCorruptError(
                f"{where} is not a binfeed segment (bad magic); move it out of the queue "
                "directory", lib.BF_ECORRUPT)
        version = int(h["version"])
        if version > FORMAT_VERSION:
            raise errors.QueueVersionError(
                f"{where} has format version {version}, newer than this binfeed's "
                f"{FORMAT_VERSION}: upgrade binfeed to read it", lib.BF_EVERSION)
        if version < 1:
            raise errors.QueueCorruptError(f"{where} has an invalid format version {version}",
                                           lib.BF_ECORRUPT)
        header_crc = int(lib.bf_py_crc32c(ffi.from_buffer(self._mm), HEADER_CRC_OFFSET))
        if header_crc != int(h["header_crc"]):
            raise errors.QueueCorruptError(
                f"{where} has a damaged header (header_crc mismatch); restore it or move it "
                "out of the queue directory", lib.BF_ECORRUPT)
        slot_size, header_size = int(h["slot_size"]), int(h["header_size"])
        if slot_size < SLOT_SIZE or slot_size % 8 or header_size < 256 or header_size % 8:
            raise errors.QueueCorruptError(
                f"{where} has an invalid layout (slot_size={slot_size}, "
                f"header_size={header_size})", lib.BF_ECORRUPT)
        committed = int(h["write_index"])
        capacity = int(h["capacity"])
        if committed > capacity or header_size + committed * slot_size > self._size:
            raise errors.QueueCorruptError(
                f"{where} is truncated: it claims {committed} records but the file has "
                f"{self._size} bytes; restore it or move it out of the queue directory",
                lib.BF_ECORRUPT)
        if not int(h["sealed"]) and header_size + capacity * slot_size > self._size:
            raise errors.QueueCorruptError(
                f"{where} is shorter than its capacity of {capacity} slots while not sealed",
                lib.BF_ECORRUPT)

    def committed(self) -> int:
        """Records published so far (load-acquire of write_index)."""
        return int(lib.bf_py_load_acquire_u64(self._ptr + WRITE_INDEX_OFFSET))

    def sealed(self) -> bool:
        """True once the writer will append nothing more here (load-acquire)."""
        return bool(lib.bf_py_load_acquire_u32(self._ptr + SEALED_OFFSET))

    def slots(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Zero-copy view of committed slots [start, stop) as :data:`SLOT_DTYPE`.

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
    """id -> name from the SYMBOL records in ``slots``."""
    sym = slots[slots["type"] == RecordType.SYMBOL].view(SYMBOL_DTYPE)
    return {int(i): n.decode("ascii") for i, n in zip(sym["symbol_id"].tolist(),
                                                      sym["name"].tolist(), strict=True)}


class QueueReader:
    """Reads a queue's records in order, across segments, while a writer may append.

    Args:
        path: the queue directory.
        from_end: start after the records published at open time (tail) instead of at the
            oldest record.

    Raises:
        QueueNotFoundError: no queue or no segment yet (see :meth:`wait_for`).

    A reader is used by one thread at a time; any number may run in any processes.
    """

    #: How often (seconds) an idle reader checks whether the writer moved to a new segment
    #: without sealing (it died between the two steps of a roll).
    SUCCESSOR_CHECK_S = 0.01

    def __init__(self, path: str | os.PathLike[str], *, from_end: bool = False) -> None:
        self.path = Path(path)
        segs = list_segments(self.path)
        if not segs:
            raise errors.QueueNotFoundError(
                f"queue {self.path} has no segment yet: start the writer first, or use "
                "QueueReader.wait_for()", lib.BF_ENOTFOUND)
        self.symbols: dict[int, str] = {}
        _, p = segs[-1] if from_end else segs[0]
        self._seg = Segment(p)
        self._pos = 0
        self._last_successor_check = 0.0
        if from_end:
            committed = self._seg.committed()
            self.symbols.update(symbols_in(self._seg.slots(0, committed)))
            self._pos = committed
            # A sealed newest segment: the next one may appear; stay here until it does.

    @classmethod
    def wait_for(
        cls,
        path: str | os.PathLike[str],
        *,
        from_end: bool = False,
        timeout: float | None = None,
        poll_s: float = 0.05,
    ) -> QueueReader:
        """Opens the queue once its first segment exists (it may not exist yet).

        Raises:
            ReadTimeout: still no queue after ``timeout`` seconds.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            try:
                return cls(path, from_end=from_end)
            except errors.QueueNotFoundError:
                if deadline is not None and time.monotonic() >= deadline:
                    raise errors.ReadTimeout(
                        f"no queue appeared at {path} within {timeout} s", lib.BF_ETIMEOUT
                    ) from None
                time.sleep(poll_s)

    @property
    def segment(self) -> Segment:
        """The segment the reader is in."""
        return self._seg

    @property
    def position(self) -> tuple[int, int]:
        """(segment seq, slot index) of the next record to read."""
        return self._seg.seq, self._pos

    def close(self) -> None:
        self._seg.close()

    def __enter__(self) -> QueueReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def symbol(self, symbol_id: int) -> str:
        """Name of a symbol id seen so far ("?<id>" if not defined yet)."""
        return self.symbols.get(symbol_id, f"?{symbol_id}")

    # -- the core: batches of committed slots -----------------------------------------
    def poll(self, max_records: int = 65536) -> np.ndarray:
        """The next committed records (at most ``max_records``, maybe none) as a zero-copy
        :data:`SLOT_DTYPE` view into one segment. Moves to the next segment when this one
        is finished. Never blocks."""
        for _ in range(64):  # bounded: at most this many empty segments skipped per call
            committed = self._seg.committed()
            if self._pos < committed:
                stop = min(committed, self._pos + max_records)
                batch = self._seg.slots(self._pos, stop)
                self._pos = stop
                if (batch["type"] == RecordType.SYMBOL).any():
                    self.symbols.update(symbols_in(batch))
                return batch
            if not self._advance():
                break
        return self._seg.slots(0, 0)

    def _advance(self) -> bool:
        """Moves to the next segment if the current one is finished; True if it moved."""
        seg = self._seg
        finished = seg.sealed()
        successor = self.path / segment_name(seg.seq + 1)
        if not finished:
            now = time.monotonic()
            if self._pos < seg.capacity and now - self._last_successor_check < \
                    self.SUCCESSOR_CHECK_S:
                return False
            self._last_successor_check = now
            finished = successor.exists()
        if not finished or self._pos < seg.committed():
            return False
        # Always seq + 1, as the format says (and as the C reader does): a writer creates it
        # before sealing seq, a recovering writer right after sealing; retention never
        # deletes a segment newer than one a reader holds.
        try:
            new = Segment(successor)
        except errors.QueueNotFoundError:  # not created yet (a recovering writer): wait
            return False
        seg.close()
        self._seg = new
        self._pos = 0
        return True

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


def decode_slots(
    batch: np.ndarray, symbols: dict[int, str], *, include_symbols: bool = False
) -> list[Record]:
    """Record objects for a batch of slots; ``symbols`` must already hold their ids."""
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
                             float(r["price"]), float(r["qty"]), int(r["trade_ts_ms"]),
                             int(r["event_ts_ms"]), bool(f & TRADE_BUYER_IS_MAKER),
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
        elif t == RecordType.SYMBOL and include_symbols:
            s = batch[i:i + 1].view(SYMBOL_DTYPE)[0]
            out.append(SymbolDefinition(int(s["symbol_id"]), s["name"].decode("ascii"),
                                        recvs[i]))
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
    "QueueReader",
    "QueueWriter",
    "Segment",
    "WriterStats",
    "WriterStatus",
    "decode_slots",
    "list_segments",
    "segment_name",
    "symbols_in",
    "writer_status",
]
