"""``binfeed replay --follow``: a follower in one process, a writer in another."""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.ops.helpers import run_binfeed, spawn_binfeed, spawn_live_writer, stop, wait_line
from tests.queue.helpers import book_values


class LineReader:
    """Lines from a process's stdout as they come (raw reads: no hidden buffering)."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        self.proc = proc
        self.fd = proc.stdout.fileno()
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.fd, selectors.EVENT_READ)
        self.pending = b""
        self.eof = False

    def lines(self, n: int, timeout: float = 20) -> list[str]:
        """Exactly n lines (fails on timeout or end of output)."""
        out: list[str] = []
        deadline = time.monotonic() + timeout
        while len(out) < n:
            while b"\n" in self.pending and len(out) < n:
                line, self.pending = self.pending.split(b"\n", 1)
                out.append(line.decode() + "\n")
            if len(out) == n:
                break
            left = deadline - time.monotonic()
            assert left > 0, f"only {len(out)} of {n} lines after {timeout} s"
            assert not self.eof, f"output ended after {len(out)} of {n} lines"
            if self.sel.select(left):
                chunk = os.read(self.fd, 1 << 16)
                self.eof = not chunk
                self.pending += chunk
        return out

    def rest(self, timeout: float = 10) -> str:
        """Everything until the process closes its output."""
        deadline = time.monotonic() + timeout
        while not self.eof:
            left = deadline - time.monotonic()
            assert left > 0, "output did not end"
            if self.sel.select(left):
                chunk = os.read(self.fd, 1 << 16)
                self.eof = not chunk
                self.pending += chunk
        text, self.pending = self.pending.decode(), b""
        return text


def read_lines(proc: subprocess.Popen[str], n: int, timeout: float = 20) -> list[str]:
    reader = getattr(proc, "_line_reader", None)
    if reader is None:
        reader = LineReader(proc)
        proc._line_reader = reader  # type: ignore[attr-defined]
    return reader.lines(n, timeout)


def interrupt(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    """SIGINT, then (exit code, the rest of stdout, stderr)."""
    reader = getattr(proc, "_line_reader", None) or LineReader(proc)
    proc.send_signal(signal.SIGINT)
    out = reader.rest()
    proc.wait(timeout=10)
    err = proc.stderr.read() if proc.stderr else ""
    return proc.returncode, out, err


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
@pytest.mark.slow
def test_follower_started_before_the_queue_prints_exactly_its_records(
    tmp_path: Path, fmt: str
) -> None:
    queue = tmp_path / "not-yet" / "q"
    follower = spawn_binfeed("replay", str(queue), "--follow", "--format", fmt)
    time.sleep(0.3)  # the follower is waiting for a queue that does not exist
    assert follower.poll() is None
    count = 1500
    # 64-slot segments: ~25 rolls while the follower reads; trades and a gap in between.
    writer = spawn_live_writer(queue, count, "--segment-slots", "64", "--rate", "6000",
                               "--trade-every", "7", "--gap-at", "700", "--hold")
    try:
        wait_line(writer, "DONE")
        expected = run_binfeed("replay", str(queue), "--format", fmt).stdout.splitlines(True)
        trades = (count + 6) // 7
        header = 1 if fmt == "csv" else 0
        assert len(expected) == header + count + trades + 1  # + the gap
        got = read_lines(follower, len(expected))
        assert got == expected
        if fmt == "jsonl":
            first = json.loads(got[0])
            assert first["update_id"] == 1
            assert (first["bid_price"], first["bid_qty"], first["ask_price"],
                    first["ask_qty"]) == book_values(0)
        rc, rest, err = interrupt(follower)
        assert rc == 0, err
        assert rest == ""  # nothing more, nothing repeated
        assert "Traceback" not in err
    finally:
        stop(writer)
        if follower.poll() is None:
            follower.kill()


@pytest.mark.slow
def test_follower_keeps_up_with_a_live_writer_then_flushes_on_sigint(tmp_path: Path) -> None:
    queue = tmp_path / "q"
    writer = spawn_live_writer(queue, 3000, "--segment-slots", "128", "--rate", "3000",
                               "--wait-go", "--hold")
    follower = None
    try:
        wait_line(writer, "READY")
        follower = spawn_binfeed("replay", str(queue), "--follow")
        time.sleep(0.3)
        assert writer.stdin is not None
        writer.stdin.write("go\n")
        writer.stdin.flush()
        # Lines arrive while the writer is still writing (not only at the end).
        early = read_lines(follower, 500, timeout=10)
        assert writer.poll() is None
        assert [json.loads(x)["update_id"] for x in early] == list(range(1, 501))
        wait_line(writer, "DONE")
        rest = read_lines(follower, 2500, timeout=20)
        ids = [json.loads(x)["update_id"] for x in rest]
        assert ids == list(range(501, 3001))
        rc, tail, err = interrupt(follower)
        assert rc == 0, err
        assert tail == ""
    finally:
        stop(writer)
        if follower is not None and follower.poll() is None:
            follower.kill()


def test_follow_on_the_bus_waits_for_the_named_queue(tmp_path: Path) -> None:
    root = tmp_path / "bus"
    follower = spawn_binfeed("replay", "--bus-root", str(root), "--name", "feed-a", "--follow")
    writer = None
    try:
        time.sleep(0.3)
        assert follower.poll() is None
        writer = spawn_live_writer(root / "feed-a", 200, "--segment-slots", "64", "--hold")
        wait_line(writer, "DONE")
        lines = read_lines(follower, 200)
        assert [json.loads(x)["update_id"] for x in lines] == list(range(1, 201))
        rc, _, err = interrupt(follower)
        assert rc == 0, err
    finally:
        if writer is not None:
            stop(writer)
        if follower.poll() is None:
            follower.kill()


def test_follower_interrupted_while_waiting_exits_0(tmp_path: Path) -> None:
    follower = spawn_binfeed("-v", "replay", str(tmp_path / "never"), "--follow")
    assert follower.stderr is not None
    assert "waiting for a queue to appear at" in follower.stderr.readline()
    rc, out, err = interrupt(follower)
    assert (rc, out) == (0, ""), err
    assert "Traceback" not in err
