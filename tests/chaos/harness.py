"""The chaos suite's processes: a source queue made from the real captures, ``binfeed
replay --serve`` with faults and ``--stats``, a ``binfeed record`` process (paused with
SIGSTOP/SIGCONT when asked), and the scenario that runs them end to end.

Length: every scenario serves ``BINFEED_CHAOS_SECONDS`` seconds of the captures (default
:data:`DEFAULT_SECONDS`), at about :data:`TARGET_RATE` subscribed frames per second while
the captures last that long (a longer run plays them slower: BTCUSDT's 37,797 bookTicker and
trade frames cover 346 s of the market).
"""

from __future__ import annotations

import json
import os
import re
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from binfeed.binance.queue_source import queue_frames
from binfeed.binance.sources import SourceFrame
from binfeed.records import BookTicker, Gap, Trade
from binfeed.selection import Selection
from tests import captures
from tests.chaos.invariants import read_market_and_gaps
from tests.ops.helpers import run_binfeed, spawn_binfeed

#: Seconds of data each scenario serves when BINFEED_CHAOS_SECONDS is not set.
DEFAULT_SECONDS = 3.0
SECONDS = float(os.environ.get("BINFEED_CHAOS_SECONDS", DEFAULT_SECONDS))
#: Subscribed frames per second the server aims at (the issue's 3,000 frames/s).
TARGET_RATE = 3000.0
#: What every scenario records.
SYMBOLS = ("btcusdt",)
STREAMS = ("bookTicker", "trade")
SUBSCRIBED = tuple(f"{s}@{k}" for s in SYMBOLS for k in STREAMS)
#: Seconds the recorder keeps running after the server played its last frame.
SETTLE = 0.6


def import_captures(queue: Path) -> None:
    """Both real captures into ``queue`` with ``binfeed import`` (BTCUSDT, then ETHUSDT)."""
    done = run_binfeed("import", "--queue", str(queue), str(captures.BTC), str(captures.ETH),
                       timeout=120)
    assert done.returncode == 0, done.stderr


@dataclass(frozen=True)
class Pace:
    """How a scenario serves the source queue: ``--speed`` and ``--to``, what that gives."""

    speed: float
    to_ns: int
    rate: float  # subscribed frames per second
    seconds: float

    def frames(self, seconds: float) -> int:
        """Subscribed frames served in ``seconds`` (for faults counted in frames)."""
        return max(1, round(self.rate * seconds))


def pace_for(frames: Sequence[SourceFrame], seconds: float = SECONDS,
             rate: float = TARGET_RATE) -> Pace:
    mine = [f for f in frames if f.name in SUBSCRIBED]
    span = (mine[-1].recv_ns - mine[0].recv_ns) / 1e9
    per_second = len(mine) / span  # at the recorded pace
    speed = min(rate / per_second, span / seconds)
    start = frames[0].recv_ns
    return Pace(speed, start + int(seconds * speed * 1e9), per_second * speed, seconds)


def served_frames(source: Path, pace: Pace) -> list[SourceFrame]:
    """What ``replay SOURCE --serve --to`` serves, in order: a frame's index is its position."""
    return list(queue_frames(source, Selection.of(None, end_ns=pace.to_ns)))


class Server:
    """``binfeed replay SOURCE --serve --clock shared --fault ... --stats FILE``."""

    def __init__(self, source: Path, pace: Pace, faults: Sequence[str], stats: Path) -> None:
        args = ["replay", str(source), "--serve", "--port", "0", "--clock", "shared",
                "--speed", f"{pace.speed:.6f}", "--to", str(pace.to_ns), "--stats", str(stats)]
        for fault in faults:
            args += ["--fault", fault]
        self.stats = stats
        # stderr to a file: a pipe nobody reads would fill up and block the server.
        self.errors = stats.with_suffix(".err")
        with self.errors.open("w") as err:
            self.proc = spawn_binfeed(*args, stderr=err)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        found = re.search(r" on (ws://127\.0\.0\.1:\d+) ", line)
        if not found:
            self.proc.kill()
            raise AssertionError(f"the server did not start: {line!r} "
                                 f"{self.errors.read_text()}")
        self.url = found.group(1)

    def report(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.stats.read_text())
        except (OSError, ValueError):
            return None

    def finished(self) -> bool:
        report = self.report()
        return bool(report and report["playback"]["finished"])

    def first_opened(self, timeout: float = 30) -> float:
        """When the first connection opened (seconds since the epoch), once the report says."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            report = self.report()
            if report and report["connections"]:
                return float(report["connections"][0]["opened_at"])
            time.sleep(0.02)
        raise AssertionError(f"no connection within {timeout} s")

    def stop(self) -> dict[str, Any]:
        """SIGINT; the exit status must be 0 and the final report complete."""
        self.proc.send_signal(signal.SIGINT)
        self.proc.communicate(timeout=20)
        assert self.proc.returncode == 0, (f"replay --serve exited {self.proc.returncode}: "
                                           f"{self.errors.read_text()[-3000:]}")
        report = self.report()
        assert report is not None
        return report

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


class Recorder:
    """``binfeed record`` of :data:`SYMBOLS` and :data:`STREAMS` from a server."""

    def __init__(self, url: str, queue: Path, args: Sequence[str]) -> None:
        # Output to files: the log of a long run would fill a pipe and block the recorder.
        self.out, self.err = queue.with_suffix(".out"), queue.with_suffix(".err")
        with self.out.open("w") as out, self.err.open("w") as err:
            self.proc = spawn_binfeed("record", "--queue", str(queue), "--url", url,
                                      "--symbols", ",".join(SYMBOLS), "--streams",
                                      ",".join(STREAMS), "--no-status", *args,
                                      stdout=out, stderr=err)

    def pause(self, seconds: float) -> None:
        """SIGSTOP, ``seconds``, SIGCONT: a VM pause or a swap storm."""
        self.proc.send_signal(signal.SIGSTOP)
        try:
            time.sleep(seconds)
        finally:
            self.proc.send_signal(signal.SIGCONT)

    def stop(self) -> tuple[str, str]:
        """SIGTERM; it must exit 0 with its summary line."""
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)
        out, err = self.out.read_text(), self.err.read_text()
        assert self.proc.returncode == 0, f"record exited {self.proc.returncode}: {err[-3000:]}"
        assert any(line.startswith("record ") for line in out.splitlines()), out
        return out, err

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
            self.proc.wait()


@dataclass
class Outcome:
    """A scenario's results: what was served, what the server did, what was stored."""

    frames: list[SourceFrame]
    report: dict[str, Any]
    records: list[BookTicker | Trade | Gap]
    pace: Pace
    summary: str
    log: str


def run_scenario(tmp: Path, source: Path, frames: list[SourceFrame], pace: Pace, *,
                 faults: Sequence[str] = (), record_args: Sequence[str] = (),
                 pauses: Sequence[tuple[float, float]] = ()) -> Outcome:
    """Serves the source with ``faults``, records it, pauses the recorder at the given
    (seconds after its first connection opened, seconds) moments, and stops both once the
    server played its last frame and :data:`SETTLE` seconds passed.

    Raises:
        AssertionError: a process failed, or the playback did not end in time.
    """
    queue = tmp / "recorded"
    server = Server(source, pace, faults, tmp / "served.json")
    recorder: Recorder | None = None
    try:
        recorder = Recorder(server.url, queue, record_args)
        started = time.monotonic()
        if pauses:
            opened = server.first_opened()
            for at, seconds in sorted(pauses):
                time.sleep(max(0.0, opened + at - time.time()))
                recorder.pause(seconds)
        deadline = started + 3 * pace.seconds + sum(s for _, s in pauses) + 30
        while not server.finished():
            assert recorder.proc.poll() is None, (
                f"record exited {recorder.proc.returncode}: {recorder.err.read_text()[-3000:]}")
            assert time.monotonic() < deadline, "the server's playback did not finish in time"
            time.sleep(0.1)
        time.sleep(SETTLE)
        summary, log = recorder.stop()
        report = server.stop()
    finally:
        if recorder is not None:
            recorder.kill()
        server.kill()
    return Outcome(frames, report, read_market_and_gaps(queue), pace, summary, log)
