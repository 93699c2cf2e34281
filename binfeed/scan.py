"""Reading tables out of a queue: runs of verified slots from C's reader, gathered into the
columns of each record type batch by batch (:func:`binfeed.open`'s tables, ``binfeed
export``).

Readers are :class:`~binfeed.queue.runs.RunReader`. Without a time window one goes
through the whole queue with every check (holes, lost records between segments, damaged
records). With one, :func:`binfeed.seek.extents` says which slots of which segments to
read, and a reader starts at each; damage is reported for what is read. Either way C
applies the window and the symbols while it copies the fields (``bf_py_gather_slots``), so
no record outside them reaches Python.

Example::

    for tables in scan("data/q", ["bookTicker"], Selection.of(["btcusdt"])):
        mids = tables["bookTicker"]  # a binfeed.tables.Batch of up to 1 Mi records
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from binfeed import errors
from binfeed._ffi import lib
from binfeed.queue import Damage, DamageHook, Segment, list_segments, segment_name
from binfeed.queue.runs import RunReader
from binfeed.seek import Extent, SeekCache, extents
from binfeed.selection import Selection
from binfeed.tables import TYPE_NAMES, Batch, Gatherer, SymbolCodes, type_mask

__all__ = ["DEFAULT_BATCH_RECORDS", "scan"]

#: Records per batch of one table unless asked otherwise.
DEFAULT_BATCH_RECORDS = 1 << 20
#: Slots C verifies, then copies from, at a time: small enough that the copy finds them
#: still in the CPU's cache (512 KiB), large enough that Python's part is noise.
RUN_SLOTS = 1 << 12


class _Tables:
    """The gatherers of one read, the symbol codes and the symbol filter they share."""

    def __init__(self, names: Sequence[str], selection: Selection, batch_records: int) -> None:
        self.selection = selection
        self.codes = SymbolCodes(selection.symbols)
        # indexed by symbol id; filled in as a reader learns names
        self.keep = (np.zeros(lib.BF_SYMBOL_ID_MAX + 1, np.uint8) if selection.symbols
                     else None)
        self._known = 0
        self.gatherers = [Gatherer(n, batch_records, self.keep, selection.start_ns,
                                   selection.end_ns) for n in names]
        #: records the fullest gatherer can still take (every one sees the same runs)
        self.room = batch_records

    @property
    def known(self) -> int:
        """Names learnt so far."""
        return self._known

    def learn(self, symbols: dict[int, str]) -> None:
        if len(symbols) == self._known:
            return
        self._known = len(symbols)
        self.codes.update(symbols)
        for g in self.gatherers:
            g.set_codes(self.codes.lut)
        if self.keep is not None:
            for sid, name in symbols.items():
                if sid < len(self.keep):
                    self.keep[sid] = name in self.selection.symbols

    def gather(self, reader: RunReader, first: int, count: int) -> None:
        for g in self.gatherers:
            g.gather(reader, first, count)
            self.room = min(self.room, g.room)

    def take(self) -> dict[str, Batch]:
        out = {g.name: g.take(self.codes) for g in self.gatherers if g.count}
        self.room = min(g.room for g in self.gatherers)
        return out


def scan(
    path: str | os.PathLike[str],
    names: Sequence[str],
    selection: Selection,
    *,
    batch_records: int = DEFAULT_BATCH_RECORDS,
    on_damage: DamageHook | None = None,
    cache: SeekCache | None = None,
) -> Iterator[dict[str, Batch]]:
    """Batches of the tables ``names`` (keys of :data:`binfeed.tables.TYPE_NAMES`) of the
    records published now: each yield maps a table to its next batch (at most
    ``batch_records`` records; tables with nothing new are left out), in queue order within
    each table. ``cache`` keeps what windowed reads measure of the queue for the next.

    Raises:
        QueueNotFoundError: no queue at ``path``.
        DamagedRecordError: damage was met and there is no ``on_damage``.
        SelectionError: a name is not a record type.
    """
    unknown = [n for n in names if n not in TYPE_NAMES]
    if unknown:
        raise errors.SelectionError(
            f"unknown record type {', '.join(unknown)}: choose among "
            f"{', '.join(TYPE_NAMES)}")
    if batch_records < 1:
        raise errors.ConfigError(f"batch_records must be at least 1, not {batch_records}")
    if not selection.has_window:
        # batches no larger than the queue now (np.empty of a batch reserves its size)
        tables = _Tables(names, selection, max(1, min(batch_records, _published(path))))
        with RunReader(path, on_damage=on_damage) as reader:
            yield from _read(reader, None, tables)
    else:
        cache = cache if cache is not None else SeekCache()
        parts = extents(path, type_mask(list(names)), selection.start_ns, selection.end_ns,
                        cache)
        # read after the extents: it knows every id defined before their first slots
        known = cache.names(path) if parts else {}
        # no more room than the extents can fill (np.empty of a batch costs its size)
        slots = sum(batch_records if e.stop is None else e.stop - e.first for e in parts)
        tables = _Tables(names, selection, max(1, min(batch_records, slots)))
        for extent in parts:
            reader = _open_at(Path(path), extent, on_damage, known)
            if reader is not None:
                with reader:
                    yield from _read(reader, extent, tables)
    last = tables.take()
    if last:
        yield last


def _published(path: str | os.PathLike[str]) -> int:
    """Slots published in the queue now (from the segments' headers)."""
    total = 0
    for _, file in list_segments(path):
        try:
            with Segment(file) as segment:
                total += segment.committed()
        except errors.QueueError:
            continue  # gone, or unreadable: the reader will say
    return total


def _open_at(path: Path, extent: Extent, on_damage: DamageHook | None,
             names: dict[int, str]) -> RunReader | None:
    """A reader at the extent's first slot; None when the segment is gone or unreadable
    (reported as damage, as a reader going through the queue would)."""
    try:
        return RunReader.at(path, extent.seq, extent.first, names=names, on_damage=on_damage)
    except errors.QueueNotFoundError:
        return None  # deleted by retention since the extents were made
    except (errors.QueueCorruptError, errors.QueueIOError) as exc:
        damage = Damage("header", path / segment_name(extent.seq), None, 1,
                        f"{exc}; the segment is skipped")
        if on_damage is None:
            raise errors.DamagedRecordError(damage.message, lib.BF_EDAMAGED, damage) from exc
        on_damage(damage)
        return None


def _read(reader: RunReader, extent: Extent | None,
          tables: _Tables) -> Iterator[dict[str, Batch]]:
    """Gathers the runs of one reader (within one extent's slots, if given)."""
    tables.learn(reader.symbols)
    while True:
        limit = tables.room if tables.room < RUN_SLOTS else RUN_SLOTS
        if extent is not None:
            seq, index = reader.position
            left = reader.lag()  # never step into the next segment: it has its own extent
            if extent.stop is not None:
                left = min(left, extent.stop - index)
            if seq != extent.seq or left <= 0:
                return
            limit = min(limit, left)
        run = reader.next_run(limit)
        if run is None:
            return
        seq, first, count = run
        if extent is not None and seq != extent.seq:
            return
        if len(reader.symbols) != tables.known:
            tables.learn(reader.symbols)
        tables.gather(reader, first, count)
        if tables.room == 0:
            yield tables.take()
