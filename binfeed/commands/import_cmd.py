"""``binfeed import``: capture files of Binance frames into a queue."""

from __future__ import annotations

from pathlib import Path
from typing import NoReturn

import click

from binfeed import errors
from binfeed._ffi import lib
from binfeed.commands.common import (
    config_option,
    queue_location,
    segment_slots_option,
    sync_option,
)
from binfeed.durability import SyncPolicy
from binfeed.importer import ImportReport, import_captures
from binfeed.ingest_results import FrameKind

#: --strict and at least one line was malformed.
EXIT_MALFORMED = 3


@click.command("import")
@queue_location(writer=True)
@click.argument("files", nargs=-1, required=True, metavar="FILE...",
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--strict", is_flag=True,
              help=f"Exit with status {EXIT_MALFORMED} if any line was malformed (the other "
              "lines are imported all the same).")
@click.option("--show-malformed", type=click.IntRange(min=0), default=20, show_default=True,
              metavar="N", help="List at most N malformed lines with their reason.")
@click.option("--max-frame", type=click.IntRange(min=0), default=0, metavar="BYTES",
              help=f"Refuse frames longer than this (default: "
              f"{lib.BF_DEFAULT_MAX_FRAME // 1024**2} MiB).")
@click.option("--dedup", is_flag=True,
              help="Skip bookTicker/trade frames whose update or trade id is not above the "
              "last one stored for their stream (importing a file twice then adds nothing). "
              "Default: every frame is appended, in the order given.")
@segment_slots_option()
@sync_option()
@config_option()
def import_(queue: Path, files: tuple[Path, ...], strict: bool, show_malformed: int,
            max_frame: int, dedup: bool, segment_slots: int, sync: SyncPolicy) -> None:
    """Append the frames of capture FILEs to the queue, files in the order given.

    A capture has one frame per line: "<receive time, ns since the epoch> <frame>" (the
    format of hftbacktest's collector and of binfeed's sample data) or a bare frame, whose
    receive time is then 0. Files may be gzip-compressed (recognised by content, not by
    name). Frames are raw payloads or combined-stream envelopes {"stream":..,"data":..};
    symbols may be UTF-8, raw or \\u-escaped; times may be milliseconds (Binance's default)
    or microseconds (timeUnit=MICROSECOND): each is stored in microseconds, exactly.

    Every bookTicker and trade frame becomes a record, in the order given; a trade id that
    jumps forward writes a gap record first. With --dedup, frames whose id is not above
    the last one stored for their stream are skipped as duplicates instead. Frames binfeed
    does not store (depthUpdate, aggTrade, REST snapshots, control replies...) are counted
    and skipped. A malformed line (bad
    JSON, a missing or mistyped field, a price that is not a decimal, an unknown event)
    writes nothing; it is counted and listed with its line number and the reason. A
    gzip file that is cut short or corrupt counts as one malformed line, after the lines
    before the damage were imported.

    The summary on standard output gives the records written per type and symbol, the
    lines skipped and malformed, and the throughput. It is printed when the import fails
    too, then the error (on standard error): it says what was imported before the failure,
    which stays in the queue.

    \b
    Exit status:
      0  imported (malformed lines are reported, not fatal)
      1  the queue cannot be written (held by another writer, disk full, not a queue)
      2  bad arguments (a FILE that does not exist, ...)
      3  with --strict: at least one line was malformed (the rest was imported)

    Example:

    \b
        binfeed import --queue data/q spot_btcusdt_20240808.gz spot_ethusdt_20240808.gz
        binfeed import --queue data/q --strict capture.jsonl
        binfeed import --queue data/q --segment-slots 65536 spot_btcusdt_20240808.gz
        binfeed replay data/q | head
    """
    # filled as the import goes, so that a failed import still reports what it imported
    report = ImportReport()
    try:
        import_captures(queue, files, keep_malformed=show_malformed, max_frame=max_frame,
                        segment_slots=segment_slots, dedup=dedup, report=report, sync=sync)
    except errors.QueueLockedError as exc:
        _fail(queue, report, show_malformed, exc,
              "Stop that writer (e.g. the recorder) first, or import into another queue "
              "directory.")
    except errors.DiskFullError as exc:
        _fail(queue, report, show_malformed, exc,
              "Free some space, import into a queue on another disk, or use smaller segments "
              "(--segment-slots N, e.g. 65536: each new segment reserves its whole size when "
              "it is created); what was imported before stays in the queue (import again "
              "with --dedup to skip it).")
    except errors.BinfeedError as exc:
        _fail(queue, report, show_malformed, exc,
              "Check that --queue names a binfeed queue directory you can write; what was "
              "imported before stays (import again with --dedup to skip it).")
    _print_summary(queue, report, show_malformed)
    if strict and report.malformed_count:
        click.get_current_context().exit(EXIT_MALFORMED)


def _fail(queue: Path, report: ImportReport, show: int, exc: errors.BinfeedError,
          what_next: str) -> NoReturn:
    """The summary of what was imported before the failure (stdout), then the error
    (stderr, exit 1)."""
    _print_summary(queue, report, show)
    raise click.ClickException(f"{exc}\n{what_next}") from exc


def _print_summary(queue: Path, report: ImportReport, show: int) -> None:
    echo = click.echo
    k = report.kinds
    echo(f"imported {report.frames} frames from {len(report.files)} file(s) into {queue} in "
         f"{report.seconds:.2f} s ({report.frames_per_second:,.0f} frames/s)")
    by_type = report.records_by_type
    echo(f"records: {sum(by_type.values())} (bookTicker {by_type['bookTicker']}, "
         f"trade {by_type['trade']}, gap {by_type['gap']})")
    for symbol in sorted(report.records_by_symbol):
        counts = report.records_by_symbol[symbol]
        parts = ", ".join(f"{name} {counts[name]}" for name in ("bookTicker", "trade", "gap")
                          if counts[name])
        echo(f"  {symbol}: {parts}")
    echo(f"skipped: {report.skipped} (not stored {k[FrameKind.UNSTORED]}, duplicates "
         f"{k[FrameKind.DUPLICATE]}, control replies "
         f"{k[FrameKind.CONTROL] + k[FrameKind.SERVER_SHUTDOWN]})")
    echo(f"malformed: {report.malformed_count}")
    for bad in report.malformed[:show]:
        echo(f"  {bad.path}:{bad.line_no}: {bad.reason}")
    hidden = report.malformed_count - min(show, len(report.malformed))
    if hidden > 0:
        echo(f"  ... and {hidden} more (--show-malformed N lists more)")
