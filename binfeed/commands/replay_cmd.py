"""``binfeed replay``: a queue's records as JSON lines, CSV or numpy tables."""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path
from typing import IO

import click
import numpy as np

from binfeed import errors
from binfeed.commands.common import split_symbols, symbols_option, translate_errors
from binfeed.export import CSV_HEADER, csv_lines, jsonl_lines, npz_tables
from binfeed.queue import QueueReader

FORMATS = ("jsonl", "csv", "npz")


@click.command("replay")
@click.argument("queue_dir", metavar="DIR",
                type=click.Path(file_okay=False, dir_okay=True, path_type=Path))
@click.option("--format", "-f", "fmt", type=click.Choice(FORMATS), default="jsonl",
              show_default=True, help="jsonl: one JSON object per record; csv: one row per "
              "record with a header; npz: numpy tables per record type (needs --output).")
@symbols_option("Only these symbols (comma-separated, any case). Default: all.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write here instead of standard output.")
@click.option("--all", "include_all", is_flag=True,
              help="jsonl: also print symbol definitions and connection events.")
@click.option("--follow", "-F", is_flag=True,
              help="After the existing records, keep printing new ones as they are committed "
              "(across segment rolls) until interrupted; waits for the queue to appear.")
@translate_errors
def replay(queue_dir: Path, fmt: str, symbols: str | None, output: Path | None,
           include_all: bool, follow: bool) -> None:
    """Print every record of the queue at DIR, in queue order.

    JSON lines (the default) are a stable contract: numbers print so that float() gives the
    stored value back exactly, symbols are upper-case, times are integers:

    \b
      {"type":"bookTicker","symbol":"BTCUSDT","update_id":..,"bid_price":..,"bid_qty":..,
       "ask_price":..,"ask_qty":..,"recv_ts_ns":..}
      {"type":"trade","symbol":"BTCUSDT","trade_id":..,"price":..,"qty":..,"trade_ts_ms":..,
       "event_ts_ms":..,"buyer_is_maker":true,"recv_ts_ns":..,"best_match":true}
      {"type":"gap","symbol":"BTCUSDT","stream":"btcusdt@trade","last_seq":..,
       "next_seq":..,"reason":"sequence_jump","recv_ts_ns":..}

    Exit status: 0 on success (also when interrupted with --follow), 1 when the queue
    cannot be read (the message says why), 2 for bad arguments.

    Example:

    \b
        binfeed replay data/q --symbols btcusdt | head
        binfeed replay data/q --format csv -o quotes.csv
        binfeed replay data/q --format npz -o day.npz
        binfeed replay data/q --follow
    """
    wanted_names = split_symbols(symbols)
    if fmt == "npz":
        if output is None:
            raise click.UsageError("--format npz writes a file: add --output FILE.npz")
        if follow:
            raise click.UsageError("--follow prints text: use --format jsonl or csv")
    if follow:
        reader = _wait_for_queue(queue_dir)
    else:
        reader = QueueReader(queue_dir)
    with reader:
        if fmt == "npz":
            assert output is not None
            _write_npz(reader, wanted_names, output)
            return
        stream: IO[str] = (output.open("w", encoding="utf-8", newline="\n") if output
                           else sys.stdout)
        try:
            _write_text(reader, fmt, wanted_names, include_all, follow, stream)
        except BrokenPipeError:  # `| head`: the reader went away, which is fine
            _silence_stdout()
        finally:
            if output:
                stream.close()


def _wait_for_queue(queue_dir: Path) -> QueueReader:
    try:
        return QueueReader.wait_for(queue_dir)
    except KeyboardInterrupt:
        sys.exit(0)


def _wanted(reader: QueueReader, names: list[str]) -> set[int] | None:
    if not names:
        return None
    return {sid for sid, name in reader.symbols.items() if name in names}


def _write_text(reader: QueueReader, fmt: str, names: list[str], include_all: bool,
                follow: bool, out: IO[str]) -> None:
    fmt_lines = jsonl_lines if fmt == "jsonl" else csv_lines
    if fmt == "csv":
        out.write(CSV_HEADER + "\n")
    interrupted = False

    def on_sigint(signum: int, frame: object) -> None:
        nonlocal interrupted
        interrupted = True

    previous = signal.signal(signal.SIGINT, on_sigint) if follow else None
    try:
        idle = 0
        while not interrupted:
            batch = reader.poll(1 << 16)
            if len(batch) == 0:
                if not follow:
                    break
                out.flush()
                idle += 1
                time.sleep(0.0005 if idle < 200 else 0.01)
                continue
            idle = 0
            lines = fmt_lines(batch, reader.symbols, _wanted(reader, names), include_all)
            if lines:
                out.write("\n".join(lines))
                out.write("\n")
        out.flush()
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


def _write_npz(reader: QueueReader, names: list[str], output: Path) -> None:
    parts: dict[str, list[np.ndarray]] = {"book_ticker": [], "trade": [], "gap": []}
    while True:
        batch = reader.poll(1 << 20)
        if len(batch) == 0:
            break
        for key, table in npz_tables(batch, reader.symbols, _wanted(reader, names)).items():
            parts[key].append(table)
    tables = {k: np.concatenate(v) if v else np.empty(0) for k, v in parts.items()}
    try:
        np.savez(output, **tables)
    except OSError as exc:
        raise errors.BinfeedError(f"cannot write {output}: {exc.strerror}") from exc


def _silence_stdout() -> None:
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
