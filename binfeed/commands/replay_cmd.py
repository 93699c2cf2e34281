"""``binfeed replay``: a queue's records as JSON lines, CSV or numpy tables, or served
again (``--serve``, :mod:`binfeed.commands.replay_serve`)."""

from __future__ import annotations

import contextlib
import inspect
import logging
import sys
import textwrap
from pathlib import Path
from typing import IO

import click
import numpy as np

from binfeed import errors
from binfeed.binance.faults import FaultOption
from binfeed.binance.server_config import ServerConfig
from binfeed.commands.common import (
    check_symbols,
    config_option,
    queue_location,
    queue_symbols,
    symbols_option,
    window_options,
)
from binfeed.commands.console import translate_errors, utf8_stdout
from binfeed.commands.damage import DamageLog
from binfeed.commands.params import FAULT, FAULT_KINDS, SPEED
from binfeed.commands.signals import Stop, stop_on_signals
from binfeed.export import (
    CSV_HEADER,
    NPZ_BOOK_TICKER,
    NPZ_GAP,
    NPZ_TRADE,
    csv_lines,
    jsonl_lines,
    npz_symbols,
    npz_tables,
)
from binfeed.queue import QueueReader
from binfeed.selection import Selection

FORMATS = ("jsonl", "csv", "npz")
#: --serve's port when none is given (Binance's own: wss://stream.binance.com:9443).
SERVE_PORT = 9443
#: --clock: the option's words and the server's names for them.
CLOCKS = {"connection": "per_connection", "shared": "shared"}
log = logging.getLogger("binfeed.replay")


@click.command("replay")
@queue_location(param="queue_dir")
@click.option("--format", "-f", "fmt", type=click.Choice(FORMATS), default="jsonl",
              show_default=True, help="jsonl: one JSON object per record; csv: one row per "
              "record with a header, every type in one table; npz: compressed numpy tables "
              "per record type (needs --output; layout below). For Parquet, or one CSV per "
              "type with the JSON lines' names, see `binfeed export`.")
@symbols_option("Only these symbols (comma-separated, any case). Default: all.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write here instead of standard output.")
@click.option("--all", "include_all", is_flag=True,
              help="jsonl: also print symbol definitions and connection events.")
@click.option("--follow", "-F", is_flag=True,
              help="After the existing records, keep printing new ones as they are committed "
              "(across segment rolls) until interrupted; waits for the queue to appear.")
@window_options()
@click.option("--serve", is_flag=True,
              help="Serve the recorded bookTicker and trade frames as a Binance-compatible "
              "WebSocket endpoint instead of printing them (see below).")
@click.option("--host", default=ServerConfig.host, show_default=True,
              help="--serve: the address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=SERVE_PORT, show_default=True,
              help="--serve: the port (0: any free port, printed at start).")
@click.option("--speed", type=SPEED, default="1", show_default=True, metavar="1|N|max",
              help="--serve: 1 = the recorded pace, N = N times faster, max = as fast as "
              "the client reads.")
@click.option("--clock", type=click.Choice(list(CLOCKS)), default="connection",
              show_default=True, help="--serve: connection = each connection replays from "
              "the start on its own clock; shared = one replay for all, like the exchange: "
              "a client that reconnects continues where the feed is and misses what played "
              "meanwhile (use it with --fault).")
@click.option("--fault", "faults", type=FAULT, multiple=True, metavar="[C:]KIND=VALUE",
              help="--serve: misbehave on purpose (repeatable; the kinds are below). "
              "C: only on the C-th connection accepted.")
@click.option("--stats", "stats_file", type=click.Path(dir_okay=False, path_type=Path),
              default=None, metavar="FILE",
              help="--serve: write what the server did per connection to FILE as JSON "
              "(frames sent, client messages and their times, faults), kept up to date "
              "while serving and complete at exit.")
@config_option()
@translate_errors
def replay(queue_dir: Path, fmt: str, symbols: list[str], output: Path | None,
           include_all: bool, follow: bool, time_from: int | None, time_to: int | None,
           serve: bool, host: str, port: int, speed: float | None, clock: str,
           faults: tuple[FaultOption, ...], stats_file: Path | None) -> None:
    """Print every record of the queue at DIR, in queue order.

    JSON lines (the default) are a stable contract: numbers print so that float() gives the
    stored value back exactly, symbols as stored (ASCII letters upper-case, UTF-8 as it is:
    "币安人生USDT"), times are integers, the output is UTF-8 whatever the locale:

    \b
      {"type":"bookTicker","symbol":"BTCUSDT","update_id":..,"bid_price":..,"bid_qty":..,
       "ask_price":..,"ask_qty":..,"recv_ts_ns":..}
      {"type":"trade","symbol":"BTCUSDT","trade_id":..,"price":..,"qty":..,"trade_ts_ms":..,
       "event_ts_ms":..,"buyer_is_maker":true,"recv_ts_ns":..,"best_match":true}
      {"type":"gap","symbol":"BTCUSDT","stream":"btcusdt@trade","last_seq":..,
       "next_seq":..,"reason":"sequence_jump","recv_ts_ns":..}

    npz (numpy.load) holds the structured arrays book_ticker (symbol, update_id,
    bid_price, bid_qty, ask_price, ask_qty, timestamp_ms, recv_ts_ns), trade (symbol,
    trade_id, price, qty, trade_ts_ms, event_ts_ms, buyer_is_maker, best_match: 1, 0 or -1
    when unknown, recv_ts_ns, trade_ts_us, event_ts_us) and gap (symbol, stream, reason,
    last_seq, next_seq, recv_ts_ns), and symbols, the names: a row's symbol is an int32
    code, its name symbols[code].

    --symbols naming no symbol of the queue is an error (exit 1); with --follow, a
    warning (the symbols may come later).

    With --serve, DIR becomes a local Binance: a WebSocket endpoint on --host:--port with
    Binance's paths (raw /ws/<stream>, combined /stream?streams=a/b, names percent-encoded
    or not), SUBSCRIBE, UNSUBSCRIBE and LIST_SUBSCRIPTIONS with Binance's replies and
    errors, and pings; times in milliseconds, or exact microseconds for a client whose URL
    asks with timeUnit=MICROSECOND (as Binance does). It
    re-emits the recorded bookTicker and trade records as Binance's JSON frames (values
    exact: recording a replay stores the same records again, with new receive times),
    paced by their receive times (--speed). Each connection replays from the start
    (--from) on its own clock, or with --clock shared all follow one replay, as on the
    exchange; at the end of the data a connection stays open and idle, answering pings.
    It runs until Ctrl-C or SIGTERM. Frames are numbered by their position in the
    served data (0 = the first, in receive-time order); --stats FILE lists, per connection,
    the frames it sent as runs {"stream","first","last","frames"} of those numbers, the
    client's messages as [seconds since it connected, "text"|"ping"|"pong"|...], and the
    faults injected (docs/operations.md, "A bad day on purpose").

    --fault makes the server misbehave the way networks and exchanges do, on purpose and
    repeatably (by frame counts and times since a connection opened, never by chance), to
    test a client against a bad day. Frame counts are market-data frames sent on that
    connection; each fault applies to every connection (the prefix C: to the C-th only):

    \b
    {fault_table}

    Every record is checked (checksum, type) before it is printed. Damage is never
    printed as data: each damaged record, missing segment file (a hole, read past) or
    unreadable segment is reported on stderr with its file and slot, every good record is
    still printed, and the exit status is 1 (run `binfeed verify DIR` for a full report).
    With --follow, a hole is reported and following goes on.

    Exit status: 0 on success (also when interrupted with --follow or --serve: SIGINT or
    SIGTERM stops cleanly; further signals while it stops are ignored, but a third within
    5 s exits at once with 130), 1 when the queue cannot be read or served, or held damage
    (the messages say why), 2 for bad arguments.

    Example:

    \b
        binfeed replay data/q --symbols btcusdt | head
        binfeed replay data/q --format csv -o quotes.csv
        binfeed replay data/q --format npz -o day.npz
        binfeed replay data/q --follow
        binfeed replay --bus-root /srv/binfeed --name binance-spot --follow
        binfeed replay data/q --from 2024-08-09T00:00:00Z --to 2024-08-09T01:00:00Z
        binfeed replay data/q --serve --port 9443 --speed 10
        binfeed record --queue copy --symbols btcusdt --url ws://127.0.0.1:9443
        binfeed replay data/q --serve --clock shared --speed 20 --fault drop-every=1500
        binfeed replay data/q --serve --clock shared --fault stall-after=5000 \\
            --fault 2:close=1011@800 --fault shutdown-after=30+5 --stats served.json
        binfeed replay data/q --serve --fault malformed-every=100 --fault ping-every=0.02
    """
    selection = Selection.of(symbols, start_ns=time_from, end_ns=time_to)
    if serve:
        if follow or output is not None or fmt != "jsonl" or include_all:
            raise click.UsageError("--serve serves frames: drop --follow, --output, --format "
                                   "and --all")
        config = ServerConfig(host=host, port=port, speed=speed,
                              clock=CLOCKS[clock]).with_faults(faults)  # type: ignore[arg-type]
        # Imported here: the server's own modules load only when a queue is served.
        from binfeed.commands.replay_serve import serve_queue

        serve_queue(queue_dir, config, selection, [f.label for f in faults], stats_file)
        return
    if faults or stats_file is not None or clock != "connection":
        raise click.UsageError("--fault, --stats and --clock are options of --serve")
    if fmt == "npz":
        if output is None:
            raise click.UsageError("--format npz writes a file: add --output FILE.npz")
        if follow:
            raise click.UsageError("--follow prints text: use --format jsonl or csv")
    damage = DamageLog(queue_dir)
    if not follow:
        if selection.symbols:
            check_symbols(selection, queue_dir, queue_symbols(queue_dir))
        with QueueReader(queue_dir, on_damage=damage) as reader:
            if fmt == "npz":
                assert output is not None
                _write_npz(reader, selection, output)
            else:
                _write_to(output, reader, fmt, selection, include_all, None)
        damage.finish()
        return
    # --follow ends with SIGINT or SIGTERM, which exits 0 whenever it comes: while
    # waiting for the queue or while printing (what was printed is flushed).
    with stop_on_signals("replay --follow", "flushing the output") as stop:
        while not stop.requested:
            try:
                reader = QueueReader.wait_for(queue_dir, timeout=0.1, on_damage=damage)
            except errors.ReadTimeout:
                continue
            with reader:
                if selection.symbols:
                    check_symbols(selection, queue_dir, queue_symbols(queue_dir),
                                  follow=True)
                _write_to(output, reader, fmt, selection, include_all, stop)
            break
        with contextlib.suppress(OSError):
            sys.stdout.flush()
        damage.finish()


def _fault_table() -> str:
    """The --fault kinds (params.FAULT_KINDS, their one owner) as the help's table."""
    width = max(len(f"{kind}={form}") for kind, (form, _) in FAULT_KINDS.items()) + 2
    lines = []
    for kind, (form, what) in FAULT_KINDS.items():
        wrapped = textwrap.wrap(what, 84 - width)
        lines.append(f"  {kind}={form}".ljust(width + 2) + wrapped[0])
        lines.extend(" " * (width + 2) + more for more in wrapped[1:])
    return "\n".join(lines)


replay.help = inspect.cleandoc(replay.help or "").replace("{fault_table}", _fault_table())


def _write_to(output: Path | None, reader: QueueReader, fmt: str, selection: Selection,
              include_all: bool, follow: Stop | None) -> None:
    """Prints the records; with ``follow``, new ones too until it is requested."""
    stream = (output.open("w", encoding="utf-8", newline="\n") if output
              else _buffered_stdout())
    try:
        _write_text(reader, fmt, selection, include_all, follow, stream)
    except BrokenPipeError:  # `| head`: the reader went away, which is fine
        _silence_stdout()
    finally:
        if stream is not sys.stdout:
            with contextlib.suppress(BrokenPipeError):
                stream.close()


def _buffered_stdout() -> IO[str]:
    """Standard output through a buffered writer of its own. With PYTHONUNBUFFERED (usual
    in containers) ``sys.stdout`` writes straight to the file descriptor and drops the
    rest of a write that a signal interrupts (a pipe full when Ctrl-C or SIGTERM comes):
    a buffered writer completes it."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # not a file (an embedding, a test)
        return utf8_stdout()
    sys.stdout.flush()
    return open(fd, "w", encoding="utf-8", newline="\n", closefd=False)


def _write_text(reader: QueueReader, fmt: str, selection: Selection, include_all: bool,
                follow: Stop | None, out: IO[str]) -> None:
    fmt_lines = jsonl_lines if fmt == "jsonl" else csv_lines
    if fmt == "csv":
        out.write(CSV_HEADER + "\n")
    idle = 0
    while follow is None or not follow.requested:
        batch = reader.poll(1 << 16)
        if len(batch) == 0:
            if follow is None:
                break
            out.flush()
            idle += 1
            follow.sleep(0.0005 if idle < 200 else 0.01)
            continue
        idle = 0
        batch = selection.window(batch)
        lines = fmt_lines(batch, reader.symbols, selection.symbol_ids(reader.symbols),
                          include_all)
        if lines:
            out.write("\n".join(lines))
            out.write("\n")
    out.flush()


def _write_npz(reader: QueueReader, selection: Selection, output: Path) -> None:
    parts: dict[str, list[np.ndarray]] = {"book_ticker": [], "trade": [], "gap": []}
    while True:
        batch = reader.poll(1 << 20)
        if len(batch) == 0:
            break
        batch = selection.window(batch)
        ids = selection.symbol_ids(reader.symbols)
        for key, table in npz_tables(batch, reader.symbols, ids).items():
            parts[key].append(table)
    dtypes = {"book_ticker": NPZ_BOOK_TICKER, "trade": NPZ_TRADE, "gap": NPZ_GAP}
    tables = {k: np.concatenate(v) if v else np.empty(0, dtypes[k]) for k, v in parts.items()}
    try:
        np.savez_compressed(output, symbols=npz_symbols(reader.symbols), **tables)
    except OSError as exc:
        raise errors.BinfeedError(f"cannot write {output}: {exc.strerror}") from exc


def _silence_stdout() -> None:
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
