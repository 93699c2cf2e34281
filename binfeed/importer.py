"""Importing capture files into a queue (the engine of ``binfeed import``).

Each file is decompressed in blocks by a helper thread (zlib releases the GIL) while the main
thread splits the previous block into frames (numpy, :func:`binfeed.capture.pack_blocks`) and
ingests them with one C call (:meth:`binfeed.ingest.Ingestor.ingest_packed`, which releases
the GIL too): decompression and parsing overlap on two cores. Files go in the
order given. A malformed line writes nothing and is remembered with its line number and the
parser's reason; a damaged or unreadable file is reported and the next one is read. Only a
failure of the queue itself stops the import (it raises); a report passed in then holds
what was imported before the failure.

Example::

    report = import_captures("data/q", ["day1.gz", "day2.gz"])
    print(report.frames, report.records_by_type, report.malformed_count)
"""

from __future__ import annotations

import contextlib
import os
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np

from binfeed._ffi import lib, string
from binfeed.capture import CaptureBatch, CaptureError, pack_blocks, read_blocks
from binfeed.durability import SyncPolicy
from binfeed.errors import BinfeedError, QueueError
from binfeed.ingest import Ingestor
from binfeed.ingest_results import FrameKind
from binfeed.queue import QueueWriter
from binfeed.records import Stream

__all__ = ["DEFAULT_KEEP_MALFORMED", "ImportReport", "Malformed", "import_captures"]

#: Malformed lines remembered with their reason (all are counted).
DEFAULT_KEEP_MALFORMED = 100

_TYPE_NAMES = {stream: stream.wire_name for stream in Stream}

T = TypeVar("T")


@dataclass(frozen=True)
class Malformed:
    """A line that wrote nothing, and why.

    Attributes:
        path: the capture file.
        line_no: its line number (1-based); for a damaged file, the line after the last
            one read.
        status: the parser's ``BF_E*`` status (0 for a damaged or unreadable file).
        reason: what was wrong.
    """

    path: str
    line_no: int
    status: int
    reason: str


@dataclass
class ImportReport:
    """What an import did.

    Attributes:
        files: the files read, in order.
        frames: frames given to the parser (non-empty lines).
        kinds: frames per result (``FrameKind`` values, negative ``BF_E*`` statuses).
        malformed: the first malformed lines (see ``malformed_count`` for all).
        malformed_count: malformed lines (and damaged files), all of them.
        records_by_type: records this import wrote, per type ("bookTicker", "trade", "gap").
        records_by_symbol: the same per symbol.
        seconds: wall time of the import (reading, parsing, appending).
    """

    files: list[str] = field(default_factory=list)
    frames: int = 0
    kinds: Counter[int] = field(default_factory=Counter)
    malformed: list[Malformed] = field(default_factory=list)
    malformed_count: int = 0
    records_by_type: Counter[str] = field(default_factory=Counter)
    records_by_symbol: dict[str, Counter[str]] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def stored(self) -> int:
        """Frames that became a record."""
        return self.kinds[FrameKind.BOOK_TICKER] + self.kinds[FrameKind.TRADE]

    @property
    def skipped(self) -> int:
        """Frames that were fine but not stored: unstored kinds, duplicates, replies."""
        return (self.kinds[FrameKind.UNSTORED] + self.kinds[FrameKind.DUPLICATE]
                + self.kinds[FrameKind.CONTROL] + self.kinds[FrameKind.SERVER_SHUTDOWN])

    @property
    def frames_per_second(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


def import_captures(
    queue: str | os.PathLike[str],
    files: Sequence[str | os.PathLike[str]],
    *,
    keep_malformed: int = DEFAULT_KEEP_MALFORMED,
    max_frame: int = 0,
    segment_slots: int = 0,
    dedup: bool = False,
    report: ImportReport | None = None,
    sync: SyncPolicy | None = None,
) -> ImportReport:
    """Appends the frames of ``files`` (in order) to the queue at ``queue``.

    Args:
        queue: the queue directory (created if missing; appended to if it exists).
        files: capture files (see :mod:`binfeed.capture`).
        keep_malformed: how many malformed lines to remember with their reason.
        max_frame: the parser's frame size limit (0: default).
        segment_slots: for a new writer (0: default).
        dedup: skip bookTicker/trade frames whose sequence number is not above the last one
            stored for their stream (importing the same file twice then adds nothing);
            default: append every frame, in the order given.
        report: the report to fill (default: a new one). Pass one to learn what was
            imported when the import raises: it then holds the files begun, the frames
            ingested and the records written before the failure.
        sync: durability level (:mod:`binfeed.durability`; default none).

    Returns:
        the report; records are counted by the parser as it stores them.

    Raises:
        QueueError: the queue cannot be opened or written (locked by another writer, disk
            full...); what was appended before stays, sealed, and is in ``report``.
    """
    report = ImportReport() if report is None else report
    start = time.perf_counter()
    try:
        sync = sync or SyncPolicy()
        with QueueWriter(queue, segment_slots=segment_slots,
                         sync_on_seal=sync.on_seal) as writer:
            periodic = _PeriodicSync(writer, sync.every_s)
            with Ingestor(writer, max_frame=max_frame, keep_older=not dedup) as ingestor, \
                    ThreadPoolExecutor(1, thread_name_prefix="binfeed-import-read") as pool:
                try:
                    for path in files:
                        report.files.append(os.fspath(path))
                        _import_file(ingestor, os.fspath(path), pool, report, keep_malformed,
                                     periodic)
                except BinfeedError:
                    # What was appended before the failure stays (the writer seals it on
                    # the way out): count it, so that the caller can report it along with
                    # the error, which is the one to raise.
                    with contextlib.suppress(BinfeedError):
                        _count_stored(ingestor, report)
                    raise
                _count_stored(ingestor, report)
    finally:
        report.seconds = time.perf_counter() - start
    return report


class _PeriodicSync:
    """fdatasync of the open segment every ``every_s`` seconds (0: never), between batches."""

    def __init__(self, writer: QueueWriter, every_s: float) -> None:
        self.writer = writer
        self.every_s = every_s
        self.last = time.monotonic()

    def tick(self) -> None:
        if self.every_s and time.monotonic() - self.last >= self.every_s:
            self.writer.sync()
            self.last = time.monotonic()


def _prefetched(items: Iterator[T], pool: ThreadPoolExecutor) -> Iterator[T]:
    """``items``, each produced in ``pool`` while the caller works on the previous one.
    Exceptions of the producer are raised here, in order."""
    done = object()
    future = pool.submit(next, items, done)
    while True:
        item = future.result()
        if item is done:
            return
        future = pool.submit(next, items, done)
        yield item  # type: ignore[misc]


def _import_file(ingestor: Ingestor, path: str, pool: ThreadPoolExecutor,
                 report: ImportReport, keep: int, periodic: _PeriodicSync) -> None:
    last_line = 0
    try:
        # decompression (which releases the GIL) runs ahead in the helper thread; the
        # numpy split and the C ingest (which releases the GIL too) run here
        for batch in pack_blocks(_prefetched(read_blocks(path), pool)):
            # BF_ECLOSED marks the frames the batch call did not reach (all of them if it
            # fails before the first one)
            results = np.full(len(batch), lib.BF_ECLOSED, np.int32)
            try:
                ingestor.ingest_packed(batch.buf, batch.offsets, batch.recv_ts_ns, results)
            except QueueError:
                # The queue failed at one frame, which wrote nothing; the frames before it
                # were ingested: count them, so that the report of the failed import says
                # what made it in.
                reached = np.flatnonzero(results != lib.BF_ECLOSED)
                done = int(reached[-1]) if reached.size else 0
                _tally(ingestor, path, batch, results[:done], report, keep, ask_again=False)
                raise
            _tally(ingestor, path, batch, results, report, keep)
            periodic.tick()
            last_line = int(batch.line_nos[-1])
    except CaptureError as exc:
        report.malformed_count += 1
        if len(report.malformed) < keep:
            report.malformed.append(Malformed(path, last_line + 1, 0, str(exc)))


def _tally(ingestor: Ingestor, path: str, batch: CaptureBatch, results: np.ndarray,
           report: ImportReport, keep: int, *, ask_again: bool = True) -> None:
    """Adds the results of the first ``len(results)`` frames of ``batch`` to the report."""
    if not len(results):
        return
    report.frames += len(results)
    kinds, counts = np.unique(results, return_counts=True)
    report.kinds.update(dict(zip(kinds.tolist(), counts.tolist(), strict=True)))
    if kinds[0] < 0:
        _note_malformed(ingestor, path, batch, results, report, keep, ask_again)


def _note_malformed(ingestor: Ingestor, path: str, batch: CaptureBatch, results: np.ndarray,
                    report: ImportReport, keep: int, ask_again: bool) -> None:
    bad = np.flatnonzero(results < 0)
    report.malformed_count += int(bad.size)
    for i in bad[: max(0, keep - len(report.malformed))].tolist():
        rc = int(results[i])
        reason = string(lib.bf_status_message(rc))
        if ask_again:
            # The batch call keeps only the last reason: ask again for this one. A bad
            # frame writes nothing and changes no state, so the second call gives the same
            # answer. (Not after the queue failed: the generic reason must do then.)
            again = ingestor.ingest(batch.frame(i), int(batch.recv_ts_ns[i]))
            if again == rc:
                reason = ingestor.last_error
        report.malformed.append(Malformed(path, int(batch.line_nos[i]), rc, reason))


def _count_stored(ingestor: Ingestor, report: ImportReport) -> None:
    """Records per type and symbol that this import stored, from the parser's own
    per-stream figures (records and GAPs it wrote)."""
    for c in ingestor.stream_counts():
        for name, count in ((_TYPE_NAMES[c.stream], c.stored), ("gap", c.gaps)):
            if count:
                report.records_by_type[name] += count
                report.records_by_symbol.setdefault(c.symbol, Counter())[name] += count
