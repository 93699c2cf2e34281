"""Writing a queue's tables as files (the engine of ``binfeed export``): Parquet (zstd), CSV or
JSON lines, one file per record type, or Hive-style partitions by receive day.

Layout in the output directory, for each record type that has records:

- ``bookTicker.parquet``, ``trade.parquet``, ``gap.parquet``, ``connection.parquet``,
  ``recovery.parquet`` (or ``.csv``, ``.jsonl``);
- with ``partition="day"``: ``type=trade/date=2024-08-09/part-0.parquet``, a day being a
  UTC day of ``recv_ts_ns``. The files then leave out the ``type`` column: it is in the
  path, where ``pyarrow.dataset(..., partitioning="hive")`` and polars'
  ``scan_parquet(..., hive_partitioning=True)`` find it, with ``date``.

Parquet files are zstd-compressed, integers and times delta-encoded. Parquet and CSV
files hold the columns of :mod:`binfeed.tables` (the JSON lines' keys and
values, plus the times as timestamps); JSON-lines files hold the lines ``binfeed replay
--format jsonl`` prints (``--all`` ones for connection and recovery records). Everything
is written into a new directory next to the output one, which then takes its place: a
failed export leaves no partial output behind.

Example::

    report = export_queue("data/q", "out", "parquet", ["bookTicker", "trade"], EVERYTHING)
    for path, rows in report.files.items():
        print(path, rows)
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import numpy as np

from binfeed import arrow, errors
from binfeed.export import jsonl_lines
from binfeed.queue import DamageHook, QueueReader
from binfeed.records import DTYPES
from binfeed.scan import scan
from binfeed.selection import Selection
from binfeed.tables import HAS_SYMBOL, TYPE_NAMES

__all__ = ["DEFAULT_TYPES", "FORMATS", "PARTITIONS", "ExportReport", "export_queue",
           "prepare_output"]

FORMATS = ("parquet", "csv", "jsonl")
PARTITIONS = ("none", "day")
#: What an export writes unless told: every record type but the symbol definitions.
DEFAULT_TYPES = ("bookTicker", "trade", "gap", "connection", "recovery")
#: zstd level of the Parquet files (pyarrow's default level is 1; 3 is zstd's own default,
#: a few % smaller for a little more time).
ZSTD_LEVEL = 3
_DAY_NS = 86_400 * 1_000_000_000


@dataclass
class ExportReport:
    """What an export wrote: rows per file (paths relative to the output directory)."""

    files: dict[str, int] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return sum(self.files.values())


def _is_export_entry(name: str) -> bool:
    stem, dot, ext = name.rpartition(".")
    return (name.startswith("type=") or
            (dot == "." and ext in FORMATS and stem in TYPE_NAMES))


def prepare_output(out: Path, overwrite: bool) -> None:
    """Checks that ``out`` may receive an export: absent, an empty directory, or (with
    ``overwrite``) a directory holding only what an export writes.

    Raises:
        ConfigError: it may not; the message says why and what to do.
    """
    if not out.exists():
        return
    if not out.is_dir():
        raise errors.ConfigError(f"{out} is a file: the output of export is a directory; "
                                 "give a new directory's name")
    entries = sorted(os.listdir(out))
    if not entries:
        return
    if not overwrite:
        raise errors.ConfigError(
            f"{out} is not empty ({len(entries)} entries): give a new directory, or "
            "--overwrite to replace an earlier export there")
    foreign = [e for e in entries if not _is_export_entry(e)]
    if foreign:
        raise errors.ConfigError(
            f"{out} holds files export did not write ({', '.join(foreign[:5])}"
            f"{' ...' if len(foreign) > 5 else ''}): --overwrite replaces only an earlier "
            "export; choose another directory")


def export_queue(
    queue: str | os.PathLike[str],
    out: str | os.PathLike[str],
    fmt: str,
    types: Sequence[str],
    selection: Selection,
    *,
    partition: str = "none",
    overwrite: bool = False,
    on_damage: DamageHook | None = None,
    progress: Callable[[int], None] | None = None,
) -> ExportReport:
    """Writes the records of ``types`` of the queue at ``queue`` that ``selection`` keeps
    into the directory ``out`` (see the module's docstring for the layout).

    ``progress`` is called with the rows written so far after each batch.

    Raises:
        ConfigError: ``out`` cannot take the export (:func:`prepare_output`), or a
            format, partitioning or type is unknown.
        MissingExtraError: Parquet or CSV without pyarrow.
        QueueError: the queue cannot be read; DamagedRecordError without ``on_damage``.
    """
    if fmt not in FORMATS:
        raise errors.ConfigError(f"unknown format {fmt!r}: choose among {', '.join(FORMATS)}")
    if partition not in PARTITIONS:
        raise errors.ConfigError(f"unknown partitioning {partition!r}: choose none or day")
    unknown = [t for t in types if t not in TYPE_NAMES]
    if unknown:
        raise errors.ConfigError(f"unknown record type {', '.join(unknown)}: choose among "
                                 f"{', '.join(TYPE_NAMES)}")
    if fmt != "jsonl":
        arrow.require("pyarrow")
    out = Path(out)
    prepare_output(out, overwrite)
    parent = out.resolve().parent
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".export", dir=parent))
    try:
        files = _Files(tmp, fmt, partition == "day", progress)
        with files:
            if fmt == "jsonl":
                _write_jsonl(queue, types, selection, files, on_damage)
            else:
                for tables in scan(queue, list(types), selection, on_damage=on_damage):
                    for name, batch in tables.items():
                        files.write_table(name, arrow.record_batch(name, batch))
        _replace(out, tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return ExportReport(dict(sorted(files.rows.items())))


def _replace(out: Path, tmp: Path) -> None:
    """Puts the finished export in place of ``out`` (whose old entries were checked)."""
    if out.exists():
        old = tmp.with_suffix(".old")
        os.rename(out, old)
        os.rename(tmp, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(tmp, out)


def _day(ns: int) -> str:
    return datetime.fromtimestamp(ns // 1_000_000_000, UTC).strftime("%Y-%m-%d")


def _days(recv_ns: np.ndarray) -> Iterator[tuple[str, np.ndarray | None]]:
    """(day, which rows) for each UTC receive day of a batch, in order; None: all rows."""
    days = recv_ns // _DAY_NS
    if len(days) == 0:
        return
    if (days == days[0]).all():
        yield _day(int(days[0]) * _DAY_NS), None
        return
    for d in np.unique(days).tolist():
        yield _day(d * _DAY_NS), days == d


def _parquet_encodings(schema: Any) -> dict[str, Any]:
    """Integers and times delta-encoded (ids and times that mostly rise: half the size of
    dictionary-or-plain encoding after zstd), names as dictionaries, floats plain."""
    pa = arrow.require("pyarrow")
    delta = [f.name for f in schema
             if pa.types.is_integer(f.type) or pa.types.is_timestamp(f.type)]
    return {"use_dictionary": [f.name for f in schema if pa.types.is_dictionary(f.type)],
            "column_encoding": dict.fromkeys(delta, "DELTA_BINARY_PACKED")}


class _Files:
    """The open output files of an export, one per record type (and day), made on first
    use; rows counted per file."""

    def __init__(self, root: Path, fmt: str, by_day: bool,
                 progress: Callable[[int], None] | None) -> None:
        self.root = root
        self.fmt = fmt
        self.by_day = by_day
        self.progress = progress
        self.rows: dict[str, int] = {}
        self._total = 0
        self._open: dict[str, Any] = {}
        self._stack = ExitStack()

    def __enter__(self) -> _Files:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def _path(self, name: str, day: str | None) -> str:
        if day is None:
            return f"{name}.{self.fmt}"
        return f"type={name}/date={day}/part-0.{self.fmt}"

    def _writer(self, rel: str, name: str) -> Any:
        w = self._open.get(rel)
        if w is not None:
            return w
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if self.fmt == "jsonl":
            w = self._stack.enter_context(path.open("w", encoding="utf-8", newline="\n"))
        else:
            schema = arrow.schema(name)
            if self.by_day:
                schema = schema.remove(schema.get_field_index("type"))
            if self.fmt == "parquet":
                pq = arrow.require("pyarrow.parquet")
                w = pq.ParquetWriter(path, schema, compression="zstd",
                                     compression_level=ZSTD_LEVEL,
                                     **_parquet_encodings(schema))
            else:
                csv = arrow.require("pyarrow.csv")
                w = csv.CSVWriter(path, schema)
            self._stack.callback(w.close)
        self._open[rel] = w
        self.rows.setdefault(rel, 0)
        return w

    def write_table(self, name: str, batch: Any) -> None:
        """Writes a record batch of table ``name`` (to its day files when partitioned)."""
        if batch.num_rows == 0:
            return
        if not self.by_day:
            parts = [(None, batch)]
        else:
            recv = batch.column("recv_ts_ns").to_numpy()
            batch = batch.drop_columns(["type"])
            parts = [(day, batch if rows is None else batch.filter(rows))
                     for day, rows in _days(recv)]
        for day, part in parts:
            rel = self._path(name, day)
            self._writer(rel, name).write_batch(part)
            self.rows[rel] += part.num_rows
        self._written(batch.num_rows)

    def _written(self, rows: int) -> None:
        self._total += rows
        if self.progress is not None:
            self.progress(self._total)

    def write_lines(self, name: str, lines: list[str], recv_ns: np.ndarray) -> None:
        """Writes JSON lines of table ``name`` (their receive times choose the day)."""
        if not lines:
            return
        parts: list[tuple[str | None, list[str]]]
        if not self.by_day:
            parts = [(None, lines)]
        else:
            parts = [(day, lines if rows is None else
                      [ln for ln, keep in zip(lines, rows.tolist(), strict=True) if keep])
                     for day, rows in _days(recv_ns)]
        for day, part in parts:
            rel = self._path(name, day)
            f: IO[str] = self._writer(rel, name)
            f.write("\n".join(part))
            f.write("\n")
            self.rows[rel] += len(part)
        self._written(len(lines))


def _write_jsonl(queue: str | os.PathLike[str], types: Sequence[str], selection: Selection,
                 files: _Files, on_damage: DamageHook | None) -> None:
    """JSON lines per type, as ``binfeed replay --format jsonl [--all]`` prints them."""
    with QueueReader(queue, on_damage=on_damage) as reader:
        while len(batch := reader.poll(1 << 20)):
            batch = selection.window(batch)
            ids = selection.symbol_ids(reader.symbols)
            for name in types:
                rtype = TYPE_NAMES[name]
                rows = batch[batch["type"] == rtype]
                if ids is not None and name in HAS_SYMBOL and len(rows):
                    sid = rows.view(DTYPES[rtype])["symbol_id"]
                    rows = rows[np.isin(sid, np.fromiter(ids, np.uint64, len(ids)))]
                if len(rows):
                    lines = jsonl_lines(rows, reader.symbols, None, include_all=True)
                    files.write_lines(name, lines, rows["recv_ts_ns"])
