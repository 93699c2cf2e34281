"""Retention: whole sealed segments, oldest first, never the newest, never one a reader
has open (a real reader process holds them)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import anyio
import pytest
from click.testing import CliRunner

from binfeed import errors
from binfeed.cli import main
from binfeed.queue import QueueReader, QueueWriter, list_segments
from binfeed.retention import (
    RetentionPolicy,
    apply_retention,
    parse_retention,
    prune,
    retention_task,
)
from tests.ops.helpers import HERE, env, spawn_live_writer, stop, wait_line

DAY = 86400.0


@pytest.mark.parametrize(("text", "age", "size"), [
    ("7d", 7 * DAY, None),
    ("36h", 36 * 3600.0, None),
    ("90m", 5400.0, None),
    ("2w", 14 * DAY, None),
    ("1.5D", 1.5 * DAY, None),
    ("50GiB", None, 50 * 1024**3),
    ("500MB", None, 500 * 1000**2),
    ("10M", None, 10 * 1024**2),
    ("7d,50GiB", 7 * DAY, 50 * 1024**3),
    (" 1TB , 12h ", 12 * 3600.0, 1000**4),
])
def test_parse_retention(text: str, age: float | None, size: int | None) -> None:
    assert parse_retention(text) == RetentionPolicy(age, size)


@pytest.mark.parametrize(("text", "why"), [
    ("7", "'7' is not a number with a unit"),
    ("", "it is empty"),
    ("7 days", "unknown unit 'days'"),
    ("0d", "the age must be more than zero"),
    ("7d,1d", "it gives two ages"),
    ("5GB,1GiB", "it gives two sizes"),
    ("-1d", "is not a number with a unit"),
])
def test_parse_retention_errors(text: str, why: str) -> None:
    with pytest.raises(errors.ConfigError) as info:
        parse_retention(text)
    assert why in str(info.value)
    assert "give an age like 36h, 7d" in str(info.value)


def make_queue(path: Path, segments: int, per_segment: int = 60) -> list[Path]:
    """A queue of ``segments`` sealed 64-slot segments, each a symbol definition and
    ``per_segment`` book tickers."""
    with QueueWriter(path, segment_slots=64) as w:
        for s in range(segments):
            if s:
                w.roll()
            for i in range(per_segment):
                w.append_book_ticker("BTCUSDT", s * 1000 + i + 1, 1.0, 1.0, 2.0, 1.0,
                                     recv_ts_ns=time.time_ns())
    return [p for _, p in list_segments(path)]


def test_age_drops_old_sealed_segments_but_never_the_newest(tmp_path: Path) -> None:
    segs = make_queue(tmp_path / "q", 4)
    assert len(segs) == 4
    # Every segment is sealed "now": at now + 2 days, a 1-day policy drops all but the newest.
    later = time.time_ns() + int(2 * DAY * 1e9)
    policy = parse_retention("1d")
    assert prune(tmp_path / "q", policy).deleted == []  # nothing is a day old yet
    result = prune(tmp_path / "q", policy, now_ns=later, dry_run=True)
    assert result.deleted == segs[:-1]
    assert all(p.exists() for p in segs)  # a dry run deletes nothing
    result = prune(tmp_path / "q", policy, now_ns=later)
    assert result.deleted == segs[:-1]
    assert [p for _, p in list_segments(tmp_path / "q")] == segs[-1:]
    assert result.kept_segments == 1
    # what is left still reads, and a new writer continues after it
    with QueueWriter(tmp_path / "q", segment_slots=64) as w:
        w.append_book_ticker("BTCUSDT", 99999, 1.0, 1.0, 2.0, 1.0, recv_ts_ns=time.time_ns())
    ids = [r.update_id for r in QueueReader(tmp_path / "q").records()]  # type: ignore[union-attr]
    assert ids[-1] == 99999
    assert len(ids) == 61


def test_size_drops_oldest_until_under_the_limit(tmp_path: Path) -> None:
    segs = make_queue(tmp_path / "q", 5)
    sizes = [p.stat().st_blocks * 512 for p in segs]
    limit = sum(sizes[-2:]) + 1  # room for the newest two
    result = prune(tmp_path / "q", RetentionPolicy(max_bytes=limit))
    assert result.deleted == segs[:-2]
    assert result.kept_bytes == sum(sizes[-2:]) <= limit
    assert result.bytes_freed == sum(sizes[:-2])
    # a limit below one segment still keeps the newest
    assert prune(tmp_path / "q", RetentionPolicy(max_bytes=1)).deleted == [segs[-2]]
    assert [p for _, p in list_segments(tmp_path / "q")] == segs[-1:]


def test_a_live_writers_unsealed_segment_is_never_dropped(tmp_path: Path) -> None:
    q = tmp_path / "q"
    writer = spawn_live_writer(q, 300, "--segment-slots", "64", "--hold")
    try:
        wait_line(writer, "DONE")
        segs = [p for _, p in list_segments(q)]
        result = prune(q, RetentionPolicy(max_bytes=1))
        assert result.deleted == segs[:-1]
        assert list_segments(q)[-1][1] == segs[-1]
    finally:
        stop(writer)


def spawn_reader(queue: Path, skip: int) -> tuple[subprocess.Popen[str], int]:
    """tests/ops/reader_hold.py: a reader process parked after ``skip`` records; returns
    it and the segment it holds."""
    proc = subprocess.Popen([sys.executable, str(HERE / "reader_hold.py"), str(queue),
                             str(skip)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env())
    line = wait_line(proc, "AT ")
    return proc, int(line.split()[1])


def test_a_segment_a_reader_process_holds_is_never_deleted(tmp_path: Path) -> None:
    q = tmp_path / "q"
    segs = make_queue(q, 6)
    # A reader in another process parked in the third segment (61 records per segment:
    # a symbol definition and 60 book tickers).
    reader, held = spawn_reader(q, 61 * 2 + 10)
    try:
        assert held == 3
        result = prune(q, RetentionPolicy(max_bytes=1))
        assert result.deleted == segs[:2]  # the two before it
        assert result.held_by_reader == segs[2]
        assert all(p.exists() for p in segs[2:])  # it and every newer one stay
        # The CLI says so too.
        r = CliRunner().invoke(main, ["prune", str(q), "--retain", "1B"])
        assert r.exit_code == 0, r.output
        assert r.output == (f"deleted 0 segment(s), 0 B; kept {len(segs) - 2} "
                            f"({sum(p.stat().st_blocks * 512 for p in segs[2:]) / 1024:.1f} "
                            f"KiB) under --retain 1B; {segs[2].name} is open in a reader, "
                            "kept with newer ones\n")
        # The reader then reads on through the segments that are left, in order.
        stop_reader = reader.communicate("", timeout=10)[0]
        assert stop_reader.strip() == f"READ {61 * 6}"
    finally:
        if reader.poll() is None:
            reader.kill()
    # The reader is gone: its segment goes now.
    assert prune(q, RetentionPolicy(max_bytes=1)).deleted == segs[2:-1]


def test_reader_at_the_start_blocks_everything(tmp_path: Path) -> None:
    q = tmp_path / "q"
    segs = make_queue(q, 3)
    reader, held = spawn_reader(q, 0)
    try:
        assert held == 1
        result = apply_retention(q, parse_retention("1B"))
        assert result == []
        assert all(p.exists() for p in segs)
    finally:
        stop(reader)


def test_foreign_and_unsealed_files_stop_retention(tmp_path: Path) -> None:
    q = tmp_path / "q"
    segs = make_queue(q, 3)
    # A file that merely looks like a segment (damaged header) stops the pass, untouched.
    segs[1].write_bytes(b"not a segment" * 400)
    result = prune(q, RetentionPolicy(max_bytes=1))
    assert result.deleted == segs[:1]
    assert segs[1].exists()


def test_prune_cli(tmp_path: Path) -> None:
    q = tmp_path / "q"
    segs = make_queue(q, 3)
    runner = CliRunner()
    r = runner.invoke(main, ["prune", str(q), "--retain", "1B", "--dry-run"])
    assert r.exit_code == 0, r.output
    assert r.output.splitlines()[:2] == [f"would delete {p}" for p in segs[:2]]
    assert all(p.exists() for p in segs)
    r = runner.invoke(main, ["prune", str(q), "--retain", "7d"])
    assert r.output.startswith("deleted 0 segment(s), 0 B; kept 3")
    r = runner.invoke(main, ["prune", str(q), "--retain", "soon"])
    assert r.exit_code == 2
    assert "invalid retention 'soon'" in r.output
    r = runner.invoke(main, ["prune", str(q)])
    assert r.exit_code == 2
    assert "Missing option '--retain'" in r.output
    r = runner.invoke(main, ["prune", str(tmp_path / "nothing"), "--retain", "1d"])
    assert r.exit_code == 1
    assert "Error: no queue at" in r.output
    root = tmp_path / "bus"
    os.rename(q, tmp_path / "q2")
    root.mkdir()
    os.rename(tmp_path / "q2", root / "feed")
    r = runner.invoke(main, ["prune", "--bus-root", str(root), "--name", "feed", "--retain",
                             "1B"], env={"BINFEED_BUS_ROOT": None})
    assert r.exit_code == 0, r.output
    assert len([x for x in r.output.splitlines() if x.startswith("deleted /")]) == 2
    doc = json.loads(runner.invoke(main, ["info", str(root / "feed"), "--json"]).output)
    assert len(doc["segments"]) == 1


def test_retention_task_runs_in_a_task_group(tmp_path: Path) -> None:
    q = tmp_path / "q"
    segs = make_queue(q, 3)

    async def run() -> None:
        async with anyio.create_task_group() as tg:
            await tg.start(retention_task, q, RetentionPolicy(max_bytes=1), 0.05)
            assert not segs[0].exists()  # the first pass ran before start() returned
            tg.cancel_scope.cancel()

    anyio.run(run)
    assert [p for _, p in list_segments(q)] == segs[-1:]


def test_retention_task_survives_a_failed_pass(tmp_path: Path,
                                               caplog: pytest.LogCaptureFixture) -> None:
    missing = tmp_path / "gone"

    async def run() -> None:
        async with anyio.create_task_group() as tg:
            await tg.start(retention_task, missing, RetentionPolicy(max_bytes=1), 0.02)
            await anyio.sleep(0.1)
            tg.cancel_scope.cancel()

    anyio.run(run)
    assert "retention pass failed (will retry in 0.02 s): no queue at" in caplog.text
