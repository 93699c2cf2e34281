"""``binfeed monitor``: a live view of a queue being written (the reader-side check)."""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import time
from pathlib import Path
from typing import IO

import click

from binfeed import errors
from binfeed.commands.common import config_option, queue_location
from binfeed.commands.console import translate_errors
from binfeed.commands.damage import DamageLog
from binfeed.commands.monitor_view import render_line, render_screen
from binfeed.commands.signals import Stop, stop_on_signals
from binfeed.monitor import MonitorState, Report
from binfeed.queue import QueueReader, Segment, list_segments, writer_status
from binfeed.records import RecordType

#: Terminal control: hide/show the cursor, home, clear to end of line / of screen.
HIDE_CURSOR = "\x1b[?25l"
SHOW_CURSOR = "\x1b[?25h"
HOME = "\x1b[H"
CLEAR_SCREEN = "\x1b[2J"
CLEAR_EOL = "\x1b[K"
CLEAR_EOS = "\x1b[J"


@click.command("monitor")
@queue_location(param="queue_dir")
@click.option("--interval", "-i", type=click.FloatRange(min=0.05), default=0.5,
              show_default=True, help="Seconds between two refreshes (and rate windows).")
@click.option("--duration", "-d", type=click.FloatRange(min=0), default=None,
              help="Stop after this many seconds (default: until Ctrl-C).")
@click.option("--once", is_flag=True,
              help="Print one report after one interval and exit (for scripts).")
@click.option("--lines", "force_lines", is_flag=True,
              help="One JSON line per interval even on a terminal (the default when "
              "standard output is not a terminal).")
@click.option("--no-color", is_flag=True, help="No ANSI colors on the terminal view.")
@config_option()
@translate_errors
def monitor(queue_dir: Path, interval: float, duration: float | None, once: bool,
            force_lines: bool, no_color: bool) -> None:
    """Watch the queue at DIR while it is written: record rates per type and symbol, the
    latest quote and trade per symbol, the write lag (wall clock minus the receive time
    of the newest record), gaps, connection events, the writer and the segment.

    On a terminal the view refreshes in place every --interval seconds; otherwise (or
    with --lines) it prints one JSON object per interval, for scripts and logs. Rates
    count records committed since the monitor started; quotes and gaps also show what
    was written just before. A queue that does not exist yet is waited for.

    Damage met while reading (a record failing its checksum, a missing segment) is
    reported on stderr as it is met and counted in the view.

    Exit status: 0 (also on Ctrl-C or SIGTERM), 1 when the queue cannot be read or damage
    was met, 2 for bad arguments; further signals while it stops are ignored, but a third
    within 5 s exits at once with 130.

    Example:

    \b
        binfeed monitor data/q
        binfeed monitor --bus-root /srv/binfeed --name binance-spot
        binfeed monitor data/q --once --lines | jq .lag_ms
        binfeed monitor data/q --interval 1 --duration 60 > monitor.log
    """
    screen = sys.stdout.isatty() and not force_lines
    out = sys.stdout
    if screen:
        out.write(HIDE_CURSOR + HOME + CLEAR_SCREEN)
        out.flush()
    try:
        with stop_on_signals("monitor", "restoring the terminal") as stop:
            damage = DamageLog(queue_dir)  # each on stderr as met; the view counts them
            _run(queue_dir, interval, duration, once, screen, not no_color, out, damage, stop)
            damage.finish()
    except BrokenPipeError:
        _silence_stdout()
    finally:
        if screen:
            try:
                out.write(SHOW_CURSOR + "\n")
                out.flush()
            except OSError:
                pass


def _run(queue_dir: Path, interval: float, duration: float | None, once: bool,
         screen: bool, color: bool, out: IO[str], damage: DamageLog, stop: Stop) -> None:
    start = time.monotonic()
    end = None if duration is None else start + duration
    state = MonitorState(str(queue_dir), time.time_ns())

    reader = None
    while reader is None:
        try:
            reader = QueueReader(queue_dir, from_end=True, on_damage=damage)
        except errors.QueueNotFoundError:
            if once:
                raise
            rep = state.report(time.time_ns())
            rep.waiting = True
            _emit(rep, screen, color, out)
            if end is not None and time.monotonic() >= end:
                return
            if stop.sleep(min(interval, 0.25) if end is None else
                          max(0.0, min(interval, end - time.monotonic()))):
                return
    with reader:
        _seed(state, reader, queue_dir)
        state.interval_started_ns = time.time_ns()
        state.started_ns = state.interval_started_ns
        next_report = time.monotonic() + interval
        while True:
            _drain(state, reader, next_report, stop)
            if stop.requested:
                return
            rep = state.report(time.time_ns())
            _describe(rep, reader, queue_dir)
            if damage.damage:
                rep.notes.append(f"damage: {len(damage.damage)} skipped (last: "
                                 f"{damage.damage[-1].message})")
            _emit(rep, screen, color, out)
            now = time.monotonic()
            if once or (end is not None and now >= end - 1e-3):
                return
            next_report += interval
            if next_report < now:  # fell behind (suspended, slow terminal): skip ahead
                next_report = now + interval
            if end is not None:
                next_report = min(next_report, end)


def _seed(state: MonitorState, reader: QueueReader, queue_dir: Path) -> None:
    """Latest quotes, trades and gaps from what was written before we started: the
    newest segment, and the one before it when the newest holds no market data yet
    (it was just rolled)."""
    seq, pos = reader.position
    try:
        current = reader.segment.slots(0, pos)
    except errors.QueueError:
        return  # unreadable: the reader reports it when it gets there
    types = current["type"]
    if not ((types == RecordType.BOOK_TICKER) | (types == RecordType.TRADE)).any():
        older = [p for s, p in list_segments(queue_dir) if s < seq][-1:]
        for path in older:
            try:
                with Segment(path) as seg:
                    slots = seg.slots()
                    state.seed(slots, reader.symbols)
                    del slots
            except errors.QueueError:
                pass  # deleted by retention meanwhile, or unreadable: not needed for a view
    state.seed(current, reader.symbols)
    del current, types


def _drain(state: MonitorState, reader: QueueReader, until: float, stop: Stop) -> None:
    """Reads committed records in batches until ``until`` (monotonic seconds) or a stop."""
    while not stop.requested:
        batch = reader.poll(1 << 16)
        if len(batch):
            state.update(batch, reader.symbols)
            del batch
            if time.monotonic() < until:
                continue
            return
        remaining = until - time.monotonic()
        if remaining <= 0:
            return
        stop.sleep(min(remaining, 0.005))


def _describe(rep: Report, reader: QueueReader, queue_dir: Path) -> None:
    """Adds the writer and segment state to a report (cheap: a lock probe, a listdir)."""
    try:
        rep.writer = writer_status(queue_dir)
    except errors.BinfeedError as exc:
        rep.notes.append(f"writer status unknown: {exc}")
    seq, pos = reader.position
    rep.segment_seq, rep.segment_index = seq, pos
    try:
        seg = reader.segment
        rep.segment_capacity = seg.capacity
        rep.backlog = max(0, seg.committed() - pos)
    except errors.QueueError as exc:
        rep.notes.append(str(exc))
    try:
        segments = list_segments(queue_dir)
    except errors.QueueNotFoundError:
        segments = []
    rep.segments = len(segments)
    total = 0
    for _, path in segments:
        with contextlib.suppress(OSError):
            total += path.stat().st_blocks * 512
    rep.disk_bytes = total


def _emit(rep: Report, screen: bool, color: bool, out: IO[str]) -> None:
    if screen:
        size = shutil.get_terminal_size((100, 30))
        lines = render_screen(rep, size.columns, max(size.lines - 1, 5), color)
        out.write(HOME + "".join(line + CLEAR_EOL + "\n" for line in lines) + CLEAR_EOS)
    else:
        out.write(render_line(rep) + "\n")
    out.flush()


def _silence_stdout() -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
