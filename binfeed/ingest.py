"""The frame parser: Binance WebSocket frames into queue records, one C call per frame.

:class:`Ingestor` binds the C parser (``bf_parser`` in ``csrc/include/binfeed.h``) to a
:class:`binfeed.queue.QueueWriter`. Each frame (a raw payload or a combined-stream envelope)
is parsed, normalized, checked for gaps and duplicates and appended inside that one call.

The per-frame path is built for a recorder's socket loop: :meth:`Ingestor.ingest` returns
what the frame was as an int and never raises for a bad frame, which writes nothing and
comes back as a negative status (``BF_EJSON``, ``BF_EFIELD``, ``BF_ENUMBER``,
``BF_EUNKNOWN``, ``BF_ETOOBIG``, ``BF_ESYMBOL``) with the reason in
:attr:`Ingestor.last_error`; count it, log it, go on. A failure of the queue itself (disk
full, I/O error, closed writer) raises, because nothing more can be recorded.

What it says of frames and streams (:class:`~binfeed.ingest_results.FrameKind`, the
counters and per-stream figures) is :mod:`binfeed.ingest_results`.

Example::

    with QueueWriter("/data/q") as writer, Ingestor(writer) as ingestor:
        kind = ingestor.ingest(frame, time.time_ns())
        if kind < 0:
            log.warning("malformed frame skipped: %s", ingestor.last_error)
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Sequence
from itertools import accumulate
from types import TracebackType
from typing import TYPE_CHECKING, Any

from binfeed import errors
from binfeed._ffi import ffi, lib, raise_status, string
from binfeed.ingest_results import (
    PARSE_ERRORS,
    FrameKind,
    IngestInfo,
    ParserCounters,
    StreamCounts,
)
from binfeed.records import Stream
from binfeed.symbols import symbol_key

if TYPE_CHECKING:
    from binfeed.queue import QueueWriter

#: A C-contiguous array with ``itemsize`` and ``len()`` (``array.array``, numpy arrays).
Buffer = Any

__all__ = ["Ingestor"]


class Ingestor:
    """The C frame parser over a queue writer.

    Args:
        writer: the queue to append to. It must stay open while the Ingestor is used, and
            no other thread may use it during a call.
        max_frame: frames longer than this many bytes are refused (``BF_ETOOBIG``) without
            being parsed; 0 means the C default (1 MiB).
        keep_older: store market data whose sequence number is not above its stream's last
            one, instead of dropping it as a duplicate. The recorder drops (that removes the
            overlap of a rotation); ``binfeed import`` keeps (captures may come in any order).

    Raises:
        InvalidRecordError: ``max_frame`` is out of range.
        QueueClosedError: the writer is closed.

    After a restart on an existing queue, the parser knows the last sequence number of
    every stream found in the queue's newest segments (it reads them when it is created:
    the newest one, and older ones while those hold no market data, at most 8 more):
    frames already stored are duplicates, and the next record
    of each such stream is preceded by a ``WRITER_RESTART`` gap unless a trade id proves
    continuity.

    Thread-safety: one thread at a time (the C call releases the GIL; do not call into the
    same Ingestor or writer from another thread meanwhile).
    """

    def __init__(self, writer: QueueWriter, *, max_frame: int = 0,
                 keep_older: bool = False) -> None:
        if max_frame < 0:
            raise errors.InvalidRecordError(
                f"max_frame={max_frame} must be >= 0 (0: the default of "
                f"{lib.BF_DEFAULT_MAX_FRAME} bytes)", lib.BF_EINVAL)
        self._writer = writer
        opts = ffi.new("bf_parser_opts *")
        opts.max_frame = max_frame
        opts.flags = lib.BF_PARSER_KEEP_OLDER if keep_older else 0
        out = ffi.new("bf_parser **")
        rc = lib.bf_parser_new(writer.handle, opts, out)
        if rc < 0:
            raise_status(rc, "cannot create the frame parser (max_frame must be at most "
                         "1 GiB)" if rc == lib.BF_EINVAL else "")
        self._p = out[0]
        self._info = ffi.new("bf_ingest_info *")
        self._counters = ffi.new("bf_parser_counters *")
        self._u64 = ffi.new("uint64_t *")
        self._ids: dict[str, int] = {}
        self._ids_loaded = 0
        self.ingest: Callable[[bytes, int], int] = self._make_ingest()

    # -- lifecycle --------------------------------------------------------------------
    def close(self) -> None:
        """Frees the parser (the writer stays open). Idempotent."""
        p, self._p = self._p, None
        if p is not None:
            lib.bf_parser_free(p)
            self.ingest = self._closed_ingest

    @property
    def closed(self) -> bool:
        return self._p is None

    def __enter__(self) -> Ingestor:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __del__(self) -> None:
        if getattr(self, "_p", None) is not None:
            lib.bf_parser_free(self._p)
            self._p = None

    def _handle(self) -> object:
        if self._p is None:
            raise errors.QueueClosedError("the frame parser is closed", lib.BF_ECLOSED)
        if self._writer.closed:
            raise errors.QueueClosedError(
                f"the writer of {self._writer.path} was closed before its parser; close the "
                "Ingestor first", lib.BF_ECLOSED)
        return self._p

    def _closed_ingest(self, frame: bytes, recv_ts_ns: int) -> int:
        self._handle()
        raise AssertionError("unreachable")

    # -- frames -----------------------------------------------------------------------
    @property
    def last_error(self) -> str:
        """Why the last failed call failed (names the field and the value), else ''."""
        return "" if self._p is None else string(lib.bf_parser_error(self._p))

    @property
    def unsubscribed_stream(self) -> str:
        """The stream of the last frame found unsubscribed (``ethusdt@bookTicker``), as
        Binance names it; '' before the first."""
        return "" if self._p is None else string(lib.bf_parser_unsubscribed_stream(self._p))

    @property
    def info(self) -> IngestInfo:
        """What the last :meth:`ingest` call did (also after a failure)."""
        i = self._info
        return IngestInfo(i.kind, i.stream, i.symbol_id, i.seq, i.gaps)

    def _make_ingest(self) -> Callable[[bytes, int], int]:
        # A closure with everything bound: no attribute lookups on the hot path.
        c_ingest = lib.bf_ingest
        p = self._p
        info = self._info
        writer = self._writer
        parse_errors = PARSE_ERRORS
        raise_failure = self._raise_failure

        def ingest(frame: bytes, recv_ts_ns: int) -> int:
            """Parses one frame and appends what it carries.

            Args:
                frame: the frame's bytes (``str`` and other buffers are accepted too).
                recv_ts_ns: when it arrived, CLOCK_REALTIME ns (0 if unknown).

            Returns:
                a :class:`~binfeed.ingest_results.FrameKind` value (>= 0), or for a bad
                frame a negative ``BF_E*`` status from
                :data:`~binfeed.ingest_results.PARSE_ERRORS` (nothing was written; see
                :attr:`last_error`).

            Raises:
                QueueError: the queue failed (disk full, I/O error) or the writer is closed.
            """
            if writer._w is None:  # a closed writer would leave the parser dangling
                raise_failure(lib.BF_ECLOSED)
            try:
                rc: int = c_ingest(p, frame, len(frame), recv_ts_ns, info)
            except TypeError:
                data = _as_bytes(frame)
                rc = c_ingest(p, data, len(data), recv_ts_ns, info)
            if rc >= 0 or rc in parse_errors:
                return rc
            raise_failure(rc)
            raise AssertionError("unreachable")

        return ingest

    def _raise_failure(self, rc: int) -> None:
        if rc == lib.BF_ECLOSED and self._writer.closed:
            raise errors.QueueClosedError(
                f"the writer of {self._writer.path} is closed; nothing more can be recorded",
                rc)
        raise_status(rc, self.last_error or "")

    def ingest_checked(self, frame: bytes | str, recv_ts_ns: int = 0) -> FrameKind:
        """Like :meth:`ingest`, but a bad frame raises :class:`~binfeed.errors.FrameError`
        (or :class:`~binfeed.errors.InvalidRecordError` for a bad symbol) naming the field."""
        rc = self.ingest(frame, recv_ts_ns)  # type: ignore[arg-type]
        if rc < 0:
            raise_status(rc, self.last_error)
        return FrameKind(rc)

    def ingest_batch(
        self, frames: Sequence[bytes], recv_ts_ns: Sequence[int] | None = None
    ) -> list[int]:
        """Ingests many frames with one C call.

        Args:
            frames: the frames (bytes).
            recv_ts_ns: their receive times (same length), or None for 0.

        Returns:
            one result per frame, as :meth:`ingest` returns them.

        Raises:
            QueueError: the queue failed; the frames before the failing one were
                ingested, those after it were not.
        """
        n = len(frames)
        if recv_ts_ns is not None and len(recv_ts_ns) != n:
            raise errors.InvalidRecordError(
                f"ingest_batch: {n} frames but {len(recv_ts_ns)} receive times", lib.BF_EINVAL)
        offsets = array("Q", [0])
        offsets.extend(accumulate(map(len, frames)))
        recv = array("Q", recv_ts_ns) if recv_ts_ns is not None else None
        results = array("i", bytes(4 * n))
        self.ingest_packed(b"".join(frames), offsets, recv, results)
        return results.tolist()

    def ingest_packed(
        self,
        buf: bytes | bytearray,
        offsets: Buffer,
        recv_ts_ns: Buffer | None,
        results: Buffer,
    ) -> None:
        """The zero-copy batch call: frame i is ``buf[offsets[i]:offsets[i + 1]]``.

        The arrays are ``array.array`` or numpy arrays (C-contiguous).

        Args:
            buf: the frames, back to back (trailing JSON whitespace after a frame is
                allowed, see :class:`binfeed.capture.CaptureBatch`).
            offsets: n + 1 unsigned 64-bit byte offsets, non-decreasing, within ``buf``.
            recv_ts_ns: n unsigned 64-bit receive times, or None for 0.
            results: n 32-bit ints, filled with each frame's result (as :meth:`ingest`).

        Raises:
            InvalidRecordError: the arrays do not fit together.
            QueueError: the queue failed (see :meth:`ingest_batch`).
        """
        n = len(results)  # type: ignore[arg-type]
        if (len(offsets) != n + 1 or offsets.itemsize != 8  # type: ignore[arg-type]
                or results.itemsize != 4
                or (recv_ts_ns is not None
                    and (len(recv_ts_ns) != n or recv_ts_ns.itemsize != 8))  # type: ignore[arg-type]
                or (n and offsets[n] > len(buf))):  # type: ignore[index]
            raise errors.InvalidRecordError(
                "ingest_packed: offsets must hold n + 1 uint64 offsets within buf, "
                "recv_ts_ns n uint64, results n int32", lib.BF_EINVAL)
        if n == 0:
            return
        p = self._handle()
        rc = lib.bf_ingest_batch(
            p,
            ffi.from_buffer("char[]", buf),
            ffi.from_buffer("size_t[]", offsets),
            ffi.NULL if recv_ts_ns is None else ffi.from_buffer("uint64_t[]", recv_ts_ns),
            n,
            ffi.from_buffer("int32_t[]", results, require_writable=True),
        )
        if rc < 0:
            self._raise_failure(rc)

    # -- streams ----------------------------------------------------------------------
    def stream_lost(self, symbol: str, stream: int, reason: int) -> bool:
        """Marks a stream as possibly missing frames from now on (its connection was lost).

        The stream's next stored record is preceded by a GAP with ``reason``
        (``BF_GAP_*``), unless a trade id exactly one above the last proves continuity.

        Returns:
            True if marked, False if the queue does not know the symbol (nothing of it was
            stored, so nothing can be missing in the queue).

        Raises:
            InvalidRecordError: unknown stream or reason, or an invalid symbol name.
        """
        raw = symbol.encode("utf-8", "surrogateescape")
        rc = lib.bf_parser_stream_lost(self._handle(), raw, len(raw), stream, reason)
        if rc < 0:
            raise_status(rc, self.last_error)
        return rc == 1

    def last_seq(self, symbol: str | int, stream: int) -> int:
        """The last seq stored for a stream (bookTicker ``u`` / trade ``t``), 0 if none.

        Args:
            symbol: a symbol name (any case) or id.
            stream: ``BF_STREAM_BOOK_TICKER`` or ``BF_STREAM_TRADE``.
        """
        sid = symbol if isinstance(symbol, int) else self._symbol_id(symbol)
        if sid == 0:
            return 0
        rc = lib.bf_parser_last_seq(self._handle(), sid, stream, self._u64)
        if rc < 0:
            raise_status(rc, f"last_seq: unknown stream {stream}")
        return int(self._u64[0])

    def _symbol_id(self, name: str) -> int:
        try:
            key = symbol_key(name)
        except errors.InvalidRecordError:
            return 0  # a name the queue cannot hold: not in it
        sid = self._ids.get(key)
        if sid is None:  # learn the ids defined since (by the parser or the writer)
            writer = self._writer
            for i in range(self._ids_loaded + 1, writer.stats().symbols + 1):
                known = writer.symbol_name(i)
                if known is not None:
                    self._ids[known] = i
                self._ids_loaded = i
            sid = self._ids.get(key, 0)
        return sid

    def stream_counts(self) -> list[StreamCounts]:
        """The figures of every stream this parser has a last seq or a duplicate for, in no
        particular order. One C call plus a table scan: not for the per-frame path."""
        total = ffi.new("size_t *")
        lib.bf_parser_stream_stats(self._handle(), ffi.NULL, 0, total)
        cap = int(total[0])
        if cap == 0:
            return []
        arr = ffi.new("bf_stream_stat[]", cap)
        lib.bf_parser_stream_stats(self._handle(), arr, cap, total)
        out = []
        for i in range(min(cap, int(total[0]))):
            st = arr[i]
            name = self._writer.symbol_name(int(st.symbol_id)) or f"?{st.symbol_id}"
            out.append(StreamCounts(name, Stream(int(st.stream)), int(st.stored),
                                    int(st.duplicates), int(st.gaps), int(st.last_seq),
                                    int(st.last_recv_ns)))
        return out

    def stream_stats(self) -> list[tuple[str, int, int]]:
        """Per stream this parser has seen: (stream name as Binance spells it, e.g.
        ``btcusdt@bookTicker``, records stored by this parser, receive time in ns of the
        last one or 0), from :meth:`stream_counts`: for status displays, not per frame."""
        return [(c.name, c.stored, c.last_recv_ns) for c in self.stream_counts()]

    def counters(self) -> ParserCounters:
        """The parser's totals."""
        c = self._counters
        lib.bf_parser_get_counters(self._handle(), c)
        return ParserCounters(c.frames, c.book_tickers, c.trades, c.duplicates, c.unstored,
                              c.control, c.errors, c.gaps, c.unsubscribed)


def _as_bytes(frame: object) -> bytes:
    if isinstance(frame, str):
        return frame.encode("utf-8", "surrogatepass")
    try:
        return bytes(memoryview(frame))  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"a frame must be bytes or str, not {type(frame).__name__}") from None
