"""``binfeed export``: a queue's records as Parquet, CSV or JSON-lines files, one per type."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from binfeed.commands.common import (
    check_symbols,
    config_option,
    queue_location,
    symbols_option,
    window_options,
)
from binfeed.commands.console import translate_errors
from binfeed.commands.damage import DamageLog
from binfeed.exporter import DEFAULT_TYPES, FORMATS, PARTITIONS, export_queue
from binfeed.queue import QueueReader
from binfeed.records import RecordType
from binfeed.selection import Selection
from binfeed.tables import TYPE_NAMES


def _types(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[str, ...]:
    if not value:
        return DEFAULT_TYPES
    out = []
    for part in value.split(","):
        try:
            name = RecordType.parse(part.strip()).json_name
        except ValueError as exc:
            raise click.BadParameter(str(exc), ctx, param) from None
        if name not in out:
            out.append(name)
    return tuple(out)


class _Status:
    """A live status line on a terminal's stderr: rows so far and their rate, at most five
    times a second."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.started = self.shown = time.monotonic()

    def __call__(self, rows: int) -> None:
        now = time.monotonic()
        if now - self.shown < 0.2:
            return
        self.shown = now
        rate = rows / max(now - self.started, 1e-9)
        sys.stderr.write(f"\r\x1b[K{self.what}: {rows:,} rows ({rate / 1e6:.1f} M rows/s)")
        sys.stderr.flush()

    def clear(self) -> None:
        sys.stderr.write("\r\x1b[K")
        sys.stderr.flush()


@click.command("export")
@queue_location(param="queue_dir")
@click.option("--format", "-f", "fmt", type=click.Choice(FORMATS), default="parquet",
              show_default=True, help="parquet: zstd-compressed Parquet; csv: one header "
              "line, then rows; jsonl: the lines of `binfeed replay --format jsonl`.")
@click.option("--output", "-o", "out", required=True, metavar="OUT",
              type=click.Path(path_type=Path),
              help="Output directory: new, or empty (see --overwrite).")
@click.option("--types", "-t", "types", callback=_types, default=None,
              metavar="TYPE[,TYPE...]",
              help=f"Record types to write (any case): {', '.join(TYPE_NAMES)}. Default: "
              f"{','.join(DEFAULT_TYPES)}.")
@symbols_option("Only these symbols (comma-separated, any case). Default: all.")
@window_options()
@click.option("--partition", type=click.Choice(PARTITIONS), default="none",
              show_default=True,
              help="day: Hive-style directories OUT/type=TYPE/date=YYYY-MM-DD/part-0.EXT, "
              "one per UTC day of the receive time.")
@click.option("--overwrite", is_flag=True,
              help="Replace an earlier export in OUT (refused if OUT holds other files).")
@config_option()
@translate_errors
def export(queue_dir: Path, fmt: str, out: Path, types: tuple[str, ...], symbols: list[str],
           time_from: int | None, time_to: int | None, partition: str,
           overwrite: bool) -> None:
    """Write the records of the queue at DIR into the directory OUT, one file per record
    type present: OUT/bookTicker.parquet, OUT/trade.parquet, OUT/gap.parquet,
    OUT/connection.parquet (and OUT/recovery.parquet after a writer's recovery); .csv or
    .jsonl with --format.

    Parquet and CSV columns are the keys of each type's JSON lines, with the same values
    (integers int64, prices float64, symbols dictionary-encoded, best_match a nullable
    bool), then recv_time (and for trades trade_time, event_time) as timestamp[ns, UTC].
    Rows are in queue order. --symbols, --from and --to select as `binfeed replay` does.

    OUT is written next to its final place and renamed there when complete: a failed
    export leaves nothing behind. An existing OUT must be empty, or hold an earlier
    export and --overwrite be given.

    Every record is checked before it is written; damage is reported on stderr and the
    exit status is 1 (every good record is still written). On a terminal a status line
    shows the rows written so far; stdout gets one line per file: its path and rows.

    Exit status: 0 on success; 1 when the queue cannot be read, holds damage, OUT cannot
    be used, or --symbols matches no symbol of the queue (the messages say why); 2 for
    bad arguments.

    Example:

    \b
        binfeed export data/q -o day/
        binfeed export data/q -o day/ --types trade --symbols btcusdt
        binfeed export data/q -o lake/ --partition day --from 2024-08-09
        binfeed export data/q -o csv/ --format csv --overwrite
        python -c "import polars as pl; print(pl.read_parquet('day/trade.parquet'))"
    """
    selection = Selection.of(symbols, start_ns=time_from, end_ns=time_to)
    if selection.symbols:
        with QueueReader(queue_dir, from_end=True) as probe:
            check_symbols(selection, queue_dir, probe.symbols.values())
    damage = DamageLog(queue_dir)
    status = _Status(f"exporting {queue_dir} to {out}") if sys.stderr.isatty() else None
    try:
        report = export_queue(queue_dir, out, fmt, types, selection, partition=partition,
                              overwrite=overwrite, on_damage=damage, progress=status)
    finally:
        if status is not None:
            status.clear()
    for rel, rows in report.files.items():
        click.echo(f"{out / rel}\t{rows}")
    if not report.files:
        click.echo(f"binfeed: warning: no records of {', '.join(types)} to export from "
                   f"{queue_dir}; {out} is empty", err=True)
    damage.finish()
