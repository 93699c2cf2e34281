"""``binfeed demo``: the whole path, offline, on the bundled real capture.

A Binance-compatible server on 127.0.0.1 plays ``binfeed/data/spot_btcusdt_20240808.gz``
(real frames, about 346 s of BTCUSDT bookTicker, trade and depth) faster than recorded; the
recorder connects to it exactly as it would to Binance, records into a fresh queue with the
live status line, and the demo then shows what was recorded and checks it against the capture.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import anyio
import click

from binfeed import errors
from binfeed.binance.endpoint import Endpoint
from binfeed.binance.server import open_server
from binfeed.binance.settings import RecorderConfig
from binfeed.binance.sources import bundled_sample, capture_source
from binfeed.binance.streams import parse_kinds, parse_symbols, stream_ids
from binfeed.binance.supervisor import open_recorder
from binfeed.commands.console import translate_errors
from binfeed.commands.info_cmd import print_summary
from binfeed.commands.record_status import RecordingStatus, status_line, summary_lines
from binfeed.commands.signals import Stop, stop_on_signals
from binfeed.export import jsonl_lines
from binfeed.queue import QueueReader
from binfeed.summary import summarize


@click.command("demo")
@click.option("--queue", "-q", "queue", default=None, metavar="DIR",
              type=click.Path(file_okay=False, path_type=Path),
              help="Record into this (new or empty) directory. Default: a fresh temporary one, "
              "kept afterwards so you can explore it.")
@click.option("--speed", type=click.FloatRange(min=0, min_open=True), default=25.0,
              show_default=True, help="Play the capture this many times faster than recorded "
              "(the capture spans about 346 s).")
@click.option("--status/--no-status", "show_status", default=None,
              help="Live status line. Default: only on a terminal.")
@translate_errors
def demo(queue: Path | None, speed: float, show_status: bool | None) -> None:
    """Offline demo: serve the bundled real Binance capture on 127.0.0.1, record it, show it.

    Nothing leaves the machine: the "exchange" is binfeed's own Binance-compatible server
    on loopback, fed with real frames captured from Binance Spot on 2024-08-09 (from
    hftbacktest's example data, MIT licence). The recorder is the same code as
    `binfeed record`. At the end the demo compares what was recorded with the capture.

    Exit status: 0 when every bookTicker and trade frame of the capture was recorded once,
    1 otherwise (the message says what differs). SIGINT or SIGTERM stops the demo early:
    the queue is sealed and kept, its summary printed, no comparison made, exit 0
    (further signals are ignored, but a third within 5 s exits at once with 130).

    Example:

    \b
        binfeed demo
        binfeed demo --speed 100 --queue /tmp/demo-q && binfeed info /tmp/demo-q
    """
    if queue is None:
        queue = Path(tempfile.mkdtemp(prefix="binfeed-demo-"))
    elif queue.exists() and any(queue.iterdir()):
        raise click.UsageError(f"{queue} is not empty: give a new or empty directory")
    live = sys.stderr.isatty() if show_status is None else show_status
    sample = bundled_sample()
    frames = capture_source([sample])()
    expected = Counter(f.name.split("@", 1)[1] for f in frames)
    span = (frames[-1].recv_ns - frames[0].recv_ns) / 1e9 if frames else 0.0
    click.echo(f"binfeed demo: serving {len(frames)} real frames of {sample.name} "
               f"({span:.0f} s recorded, played {speed:g}x) on 127.0.0.1")
    click.echo(f"recording btcusdt@bookTicker and btcusdt@trade into {queue}")
    t0 = time.monotonic()
    with stop_on_signals("demo", "sealing the demo's queue") as stop:
        stats = anyio.run(_serve_and_record, frames, queue, speed, live, stop)
        click.echo(f"\nrecorded in {time.monotonic() - t0:.1f} s; " + " ".join(stats))
        if stop.requested:
            click.echo(f"stopped before the end of the capture: nothing compared; the queue "
                       f"is kept in {queue} (binfeed info {queue})")
            return
    click.echo("")
    print_summary(summarize(queue), max_gaps=5)
    click.echo("\nfirst records (binfeed replay DIR --format jsonl):")
    with QueueReader(queue) as reader:
        batch = reader.poll(6)
        for line in jsonl_lines(batch, reader.symbols):
            click.echo("  " + line)
    _check(queue, expected)
    click.echo(f"\nexplore it (in a checkout, `./dev shell` puts binfeed on PATH):\n"
               f"  binfeed info {queue}\n  binfeed replay {queue} | head\n"
               f"  binfeed replay {queue} --serve --speed 10")


async def _serve_and_record(frames: list, queue: Path, speed: float, live: bool,
                            stop: Stop) -> list[str]:
    async with open_server(lambda: frames, speed=speed) as server:
        config = RecorderConfig(Endpoint.parse(server.url),
                                stream_ids(parse_symbols("btcusdt"),
                                           parse_kinds("bookTicker,trade")))
        with open_recorder(queue, config) as recorder:
            status = RecordingStatus(recorder)
            async with anyio.create_task_group() as tg:
                await tg.start(recorder.run)
                tg.start_soon(_show_status, status, live)
                tg.start_soon(_cancel_on_stop, stop, tg.cancel_scope)
                await server.finished.wait()
                await anyio.sleep(0.5)  # the last frames in flight
                tg.cancel_scope.cancel()
            if live:
                sys.stderr.write("\n")
            return summary_lines(status.snapshot())[:1]


async def _cancel_on_stop(stop: Stop, scope: anyio.CancelScope) -> None:
    await stop.wait()
    scope.cancel()


async def _show_status(status: RecordingStatus, live: bool) -> None:
    while True:
        await anyio.sleep(0.5)
        status.tick()
        if live:
            sys.stderr.write("\r\x1b[K" + status_line(status.snapshot()))
            sys.stderr.flush()


def _check(queue: Path, expected: Counter[str]) -> None:
    got: Counter[str] = Counter()
    with QueueReader(queue) as reader:
        for rec in reader.records():
            got[type(rec).__name__] += 1
    pairs = [("bookTicker", "BookTicker"), ("trade", "Trade")]
    report = {stream: {"capture": expected[stream], "recorded": got[kind]}
              for stream, kind in pairs}
    click.echo("\ncheck against the capture: " + json.dumps(report))
    if any(v["capture"] != v["recorded"] for v in report.values()):
        raise errors.BinfeedError(
            "the recording differs from the capture (see above); run with -v for the logs")
    click.echo("every bookTicker and trade frame of the capture was recorded exactly once")
