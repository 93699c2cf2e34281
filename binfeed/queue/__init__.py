"""The Python face of a binfeed queue: a writer over the C appender, a reader over the C one.

A queue is a directory of segment files (format: ``csrc/include/binfeed_reader.h``,
``docs/format.md``). :class:`QueueWriter` appends through the C writer (one per queue, held
with a lock). :class:`QueueReader` follows the queue with the header's own reader (the same
code a C consumer runs: verification, rolls, holes), and exposes the records it vouches for
as zero-copy numpy views of the segment files, or as :mod:`binfeed.records` objects. Damage
is never returned as data: it is raised as :class:`~binfeed.errors.DamagedRecordError`, or
given to an ``on_damage`` hook. :class:`Segment` maps one file, judged by the same C code.

Each job has its module, and everything is importable from here:
:mod:`~binfeed.queue.writer` (appending), :mod:`~binfeed.queue.reader` (reading in order),
:mod:`~binfeed.queue.live` (following a queue as it grows: ``tail``, ``atail``),
:mod:`~binfeed.queue.opening` (opening the C reader, waiting for a queue to appear),
:mod:`~binfeed.queue.segment` (one mapped file), :mod:`~binfeed.queue.layout` (the files of
a queue directory, the writer lock) and :mod:`~binfeed.queue.decode` (slots to records).

Example::

    with QueueWriter("/data/q") as w:
        w.append_book_ticker("BTCUSDT", 1, 61837.63, 3.78, 61837.64, 1.54, recv_ts_ns=now)
    reader = QueueReader("/data/q")
    for rec in reader.records():
        print(rec)
    for rec in reader.tail(timeout=1.0, symbols=["BTCUSDT"]):  # live; None: a quiet second
        print(rec)
"""

from __future__ import annotations

from binfeed.queue.decode import decode_slots
from binfeed.queue.layout import (
    LOCK_FILE,
    WriterStatus,
    list_segments,
    parse_segment_name,
    segment_name,
    writer_status,
)
from binfeed.queue.live import AsyncTail, Tail
from binfeed.queue.reader import Damage, DamageHook, QueueReader
from binfeed.queue.segment import Segment, symbols_in, upgrade_v1
from binfeed.queue.writer import DEFAULT_SEGMENT_SLOTS, QueueWriter, RecoveryReport, WriterStats

__all__ = [
    "DEFAULT_SEGMENT_SLOTS",
    "LOCK_FILE",
    "AsyncTail",
    "Damage",
    "DamageHook",
    "QueueReader",
    "QueueWriter",
    "RecoveryReport",
    "Segment",
    "Tail",
    "WriterStats",
    "WriterStatus",
    "decode_slots",
    "list_segments",
    "parse_segment_name",
    "segment_name",
    "symbols_in",
    "upgrade_v1",
    "writer_status",
]
