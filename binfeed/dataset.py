"""``binfeed.open(DIR)``: a queue's records as Arrow tables, pandas and polars DataFrames.

One table per record type (``bookTicker``, ``trade``, ``gap``, ``connection``,
``recovery``, ``symbol``), across every segment, in queue order; its columns are the keys of
the type's JSON lines with the same values, plus the times as ``timestamp[ns, UTC]``
(:mod:`binfeed.tables`). A read keeps some symbols and a window of receive times, the
same selection as ``binfeed replay --symbols/--from/--to`` with the same result; the window
is found by binary search where records are in receive-time order (:mod:`binfeed.seek`).
Each read takes what is published when it runs; records are verified as every reader
does, and damage is raised (:class:`~binfeed.errors.DamagedRecordError`) or given to
``on_damage``.

Example::

    import binfeed

    ds = binfeed.open("data/q")
    quotes = ds.to_pandas("bookTicker", symbols="btcusdt",
                          start="2024-08-09T00:00:00Z", end="2024-08-09T01:00:00Z")
    trades = ds.to_polars("trade")
    for batch in ds.to_batches("bookTicker", batch_records=1_000_000):  # pyarrow batches
        ...
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from binfeed import arrow, errors
from binfeed.queue import DamageHook
from binfeed.scan import DEFAULT_BATCH_RECORDS, scan
from binfeed.seek import SeekCache
from binfeed.selection import Selection, TimeLike, no_match_message, time_ns
from binfeed.tables import TYPE_NAMES

if TYPE_CHECKING:
    import pandas as pd
    import polars as pl
    import pyarrow as pa

__all__ = ["Dataset", "open"]

Symbols = str | Iterable[str] | None


def open(path: str | os.PathLike[str], *, on_damage: DamageHook | None = None) -> Dataset:
    """The records of the queue at ``path`` as tables (see :class:`Dataset`).

    Args:
        path: the queue directory.
        on_damage: called with each :class:`~binfeed.queue.Damage` a read meets (then the
            read goes on); without it, damage raises.

    Raises:
        QueueNotFoundError: no queue (or no segment yet) at ``path``.
    """
    return Dataset(path, on_damage=on_damage)


class Dataset:
    """The records of a queue, read on demand as tables of one record type.

    Every read method takes the same selection:

    - ``symbols``: names in any case, a list or one comma-separated string (None: all);
      a read of names none of which is in the queue raises
      :class:`~binfeed.errors.SelectionError`, names partly missing warn;
    - ``start``, ``end``: records received in [start, end): ns since the epoch, ISO 8601
      text (UTC unless it says otherwise), ``datetime``, ``numpy.datetime64`` or
      ``pandas.Timestamp``.

    Reads are independent (a writer may append meanwhile); a dataset remembers what it
    learnt of sealed segments, so the next windowed read of it only searches.
    """

    def __init__(self, path: str | os.PathLike[str], *,
                 on_damage: DamageHook | None = None) -> None:
        self.path = Path(path)
        self.on_damage = on_damage
        self._cache = SeekCache()
        self.symbols  # noqa: B018 - says now when there is no queue

    def __repr__(self) -> str:
        return f"binfeed.open({str(self.path)!r})"

    @property
    def symbols(self) -> list[str]:
        """The symbols the queue defines, sorted (from its newest segment, which lists
        every symbol known when it was created, and those defined since)."""
        return sorted(set(self._cache.names(self.path).values()))

    def selection(self, symbols: Symbols = None, start: TimeLike | None = None,
                  end: TimeLike | None = None) -> Selection:
        """The :class:`~binfeed.selection.Selection` of these arguments, checked against
        the queue's symbols.

        Raises:
            SelectionError: none of ``symbols`` is in the queue.
            ConfigError: a time cannot be understood.
        """
        names = symbols.split(",") if isinstance(symbols, str) else symbols
        sel = Selection.of([n.strip() for n in names or () if n.strip()],
                           start_ns=None if start is None else time_ns(start),
                           end_ns=None if end is None else time_ns(end))
        if sel.symbols:
            have = self.symbols
            message = no_match_message(sel, self.path, have)
            if message is not None:
                if not sel.symbols & set(have):
                    raise errors.SelectionError(message)
                warnings.warn(message, stacklevel=3)
        return sel

    def to_batches(self, record_type: str, *, symbols: Symbols = None,
                   start: TimeLike | None = None, end: TimeLike | None = None,
                   batch_records: int = DEFAULT_BATCH_RECORDS) -> Iterator[pa.RecordBatch]:
        """The records of one type as pyarrow record batches of at most ``batch_records``
        rows (:func:`binfeed.arrow.schema`), for queues larger than memory.

        Raises:
            SelectionError: an unknown record type, or symbols none of which is there.
            MissingExtraError: pyarrow is not installed.
        """
        _check_type(record_type)
        arrow.require("pyarrow")
        sel = self.selection(symbols, start, end)  # checked now, not at the first batch
        tables = scan(self.path, [record_type], sel, batch_records=batch_records,
                      on_damage=self.on_damage, cache=self._cache)
        return (arrow.record_batch(record_type, t[record_type]) for t in tables)

    def to_table(self, record_type: str, *, symbols: Symbols = None,
                 start: TimeLike | None = None, end: TimeLike | None = None) -> pa.Table:
        """The records of one type as one pyarrow Table (see :meth:`to_batches`)."""
        return arrow.concat(record_type, self.to_batches(record_type, symbols=symbols,
                                                         start=start, end=end))

    def to_pandas(self, record_type: str, *, symbols: Symbols = None,
                  start: TimeLike | None = None, end: TimeLike | None = None
                  ) -> pd.DataFrame:
        """The records of one type as a pandas DataFrame (:func:`binfeed.arrow.to_pandas`)."""
        arrow.require("pandas")
        return arrow.to_pandas(record_type, self.to_table(record_type, symbols=symbols,
                                                          start=start, end=end))

    def to_polars(self, record_type: str, *, symbols: Symbols = None,
                  start: TimeLike | None = None, end: TimeLike | None = None
                  ) -> pl.DataFrame:
        """The records of one type as a polars DataFrame."""
        arrow.require("polars")
        return arrow.to_polars(self.to_table(record_type, symbols=symbols, start=start,
                                             end=end))


def _check_type(record_type: str) -> None:
    if record_type not in TYPE_NAMES:
        raise errors.SelectionError(
            f"unknown record type {record_type!r}: choose among {', '.join(TYPE_NAMES)}")
