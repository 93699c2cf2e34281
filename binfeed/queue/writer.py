"""Appending to a queue: :class:`QueueWriter`, the Python face of the C writer (one per
queue, held with a lock), with its counters and what its recovery found at open."""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import numpy as np

from binfeed import errors
from binfeed._ffi import check, ffi, lib, raise_status, string
from binfeed.records import (
    SLOT_SIZE,
    TRADE_BEST_MATCH,
    TRADE_BEST_MATCH_KNOWN,
    TRADE_BUYER_IS_MAKER,
    ConnectionEvent,
    GapReason,
    RecoveryEvent,
    Stream,
)

log = logging.getLogger("binfeed.queue")

DEFAULT_SEGMENT_SLOTS: int = lib.BF_DEFAULT_SEGMENT_SLOTS


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
