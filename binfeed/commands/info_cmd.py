"""``binfeed info``: what a queue holds and who is writing it."""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path

import click

from binfeed.bus import BusQueue, list_queues
from binfeed.commands.common import config_option, queue_location
from binfeed.commands.console import translate_errors
from binfeed.display import duration, ljust, size, utc_time
from binfeed.summary import QueueSummary, summarize


@click.command("info")
@queue_location(param="queue_dir", listing=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
@click.option("--gaps", "max_gaps", type=click.IntRange(min=0), default=20, show_default=True,
              metavar="N",
              help="List at most N gaps (the count is always complete; 0: none listed).")
@config_option()
@translate_errors
def info(queue_dir: Path | None, bus_root: Path | None, as_json: bool, max_gaps: int) -> None:
    """Summarize the queue at DIR: segments, records per type and symbol, time range,
    gaps and whether a writer is live (safe while a writer appends).

    With --bus-root ROOT and no --name, list the queues on the bus instead: segments,
    records, disk use, newest record and writer of each (read from segment headers only,
    so it is quick on any size).

    Every record is checked as it is counted: damage (records failing their checksum,
    missing segment files, unreadable segments) is listed under "damage", never counted,
    and makes the exit status 1 (run `binfeed verify DIR` for the full report).

    Exit status: 0, or 1 when the queue cannot be read or holds damage (the message says
    why).

    Example:

    \b
        binfeed info data/q
        binfeed info data/q --json | jq .records_by_type
        binfeed info --bus-root /srv/binfeed
        binfeed info --bus-root /srv/binfeed --name binance-spot
    """
    if queue_dir is None:
        assert bus_root is not None
        _print_bus(bus_root, list_queues(bus_root), as_json)
        return
    s = summarize(queue_dir)
    if as_json:
        doc = asdict(s)
        # asdict() rebuilds a Counter from its (key, count) pairs, counting the pairs:
        # give the plain mappings instead.
        doc["records_by_type"] = dict(s.records_by_type)
        doc["records_by_symbol"] = {k: dict(v) for k, v in s.records_by_symbol.items()}
        doc["total_records"] = s.total_records
        doc["ok"] = not _damage(s)
        click.echo(json.dumps(doc, indent=2, default=str))
    else:
        print_summary(s, max_gaps)
    if _damage(s):
        raise click.ClickException(
            f"{queue_dir} holds damage ({len(_damage(s))} finding(s) listed above): run "
            f"`binfeed verify {queue_dir}` for the full report")


def _damage(s: QueueSummary) -> list[dict[str, object]]:
    return [d for d in s.damage if d["severity"] == "damage"]


def print_summary(s: QueueSummary, max_gaps: int) -> None:
    """Prints the human-readable summary of a queue (what `binfeed info` shows)."""
    w = s.writer
    if w is not None and w.live:
        writer = f"live: pid {w.pid} on {w.host} ({w.command}), since {utc_time(w.started_ns)}"
    elif w is not None and w.pid:
        writer = f"none live (last: pid {w.pid} on {w.host}, {w.command})"
    else:
        writer = "none"
    click.echo(f"queue     {s.path}")
    click.echo(f"writer    {writer}")
    disk = sum(seg.bytes_on_disk for seg in s.segments)
    click.echo(f"segments  {len(s.segments)} ({size(disk)} on disk)")
    for seg in s.segments:
        if seg.error is not None:
            click.echo(f"  {seg.seq:>6}  unreadable: {seg.error}")
            continue
        state = "sealed" if seg.sealed else "open"
        click.echo(f"  {seg.seq:>6}  {seg.records:>10} / {seg.capacity:<10} {state:<6} "
                   f"created {utc_time(seg.created_ns)}")
    click.echo(f"records   {s.total_records}")
    for name, count in sorted(s.records_by_type.items()):
        click.echo(f"  {name:<12} {count:>12}")
    click.echo(f"time      {utc_time(s.first_recv_ns)} .. {utc_time(s.last_recv_ns)} "
               "(receive time)")
    click.echo(f"symbols   {len(s.records_by_symbol)}")
    for name, counts in sorted(s.records_by_symbol.items()):
        parts = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
        click.echo(f"  {ljust(name, 14)} {parts}")
    click.echo(f"gaps      {len(s.gaps)}")
    for g in s.gaps[:max_gaps]:
        click.echo(f"  {utc_time(g.recv_ts_ns)} {ljust(g.stream, 24)} {g.reason:<16} "
                   f"last {g.last_seq if g.last_seq is not None else '-'} "
                   f"next {g.next_seq if g.next_seq is not None else '-'}")
    if len(s.gaps) > max_gaps:
        click.echo(f"  ... {len(s.gaps) - max_gaps} more (use --gaps N or --json)")
    damage = _damage(s)
    click.echo(f"damage    {len(damage) or 'none'}"
               + (" (damaged records and segments are not counted above)" if damage else ""))
    for d in s.damage:
        click.echo(f"  {d['severity']}: {d['message']}")


def _print_bus(root: Path, queues: list[BusQueue], as_json: bool) -> None:
    now = time.time_ns()
    if as_json:
        doc = {"bus_root": str(root), "queues": [
            {**asdict(q), "path": str(q.path), "writer": asdict(q.writer)} for q in queues]}
        click.echo(json.dumps(doc, indent=2, default=str))
        return
    click.echo(f"bus       {root} ({len(queues)} queue{'s' if len(queues) != 1 else ''})")
    if not queues:
        click.echo("  (no queue yet: binfeed record --bus-root ROOT [--name NAME] creates one)")
        return
    click.echo(f"  {'NAME':<32} {'SEGMENTS':>8} {'RECORDS':>14} {'DISK':>11}  "
               f"{'NEWEST RECORD':<38} WRITER")
    for q in queues:
        newest = "-"
        if q.last_recv_ns:
            newest = f"{utc_time(q.last_recv_ns)} ({duration((now - q.last_recv_ns) / 1e9)} ago)"
        w = q.writer
        writer = f"live pid {w.pid}" if w.live else ("none" if not w.pid else
                                                      f"none (last pid {w.pid})")
        click.echo(f"  {q.name:<32} {q.segments:>8} {q.records:>14,} {size(q.bytes_on_disk):>11}"
                   f"  {newest:<38} {writer}")
        if q.error:
            click.echo(f"    problem: {q.error}")
