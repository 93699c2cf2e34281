"""SIGINT and SIGTERM for every long-running command: real processes, real signals.

The first signal stops cleanly and the command exits 0 (the recorder with its summary
line and a sealed queue); further ones during the stop are ignored, which is what a
process gets from GNU ``timeout`` (the child, then its process group) or from a shell's
Ctrl-C; a third within 5 s exits at once with 130. Every process runs in its own session,
so that signalling its process group reaches nothing else.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import anyio
import pytest

from binfeed.binance.server import open_server
from binfeed.binance.sources import bundled_sample, list_source, load_capture
from binfeed.commands.signals import EXIT_FORCED
from binfeed.queue import Segment, list_segments
from tests.binance.recorder_support import capture_frames, count_records

from .helpers import BINFEED, HERE, env, spawn_binfeed, wait_line
from .test_serve import write_frames

pytestmark = pytest.mark.slow


@pytest.fixture
def anyio_backend() -> str:
    # The processes signalled are binfeed's own; the test's event loop only serves them
    # frames, so one backend is enough (trio would repeat the same 17 s run).
    return "asyncio"


def group(proc: subprocess.Popen[str] | anyio.abc.Process) -> int:
    return os.getpgid(proc.pid)


def signal_twice(proc: subprocess.Popen[str] | anyio.abc.Process, gap: float = 0.02) -> None:
    """SIGTERM to the process, then ``gap`` s later to its process group (GNU timeout)."""
    pgid = group(proc)
    proc.send_signal(signal.SIGTERM)
    time.sleep(gap)
    os.killpg(pgid, signal.SIGTERM)


def spawn(*args: str) -> subprocess.Popen[str]:
    return spawn_binfeed(*args, start_new_session=True)


def finish(proc: subprocess.Popen[str], timeout: float = 20) -> tuple[int, str, str]:
    """(exit status, the rest of stdout, stderr) once the process ended."""
    assert proc.stdout is not None and proc.stderr is not None
    out = proc.stdout.read()  # also what the text wrapper already buffered
    err = proc.stderr.read()
    return proc.wait(timeout=timeout), out, err


def assert_sealed(queue: Path) -> None:
    *_, (_, newest) = list_segments(queue)
    assert Segment(newest).sealed()


# -- record -----------------------------------------------------------------------------


@pytest.mark.anyio
async def test_two_sigterms_20ms_apart_end_record_with_0_and_its_summary(tmp_path: Path) -> None:
    frames = [f for f in capture_frames() if f.symbol == "btcusdt"][:20000]
    timeout = shutil.which("timeout")
    assert timeout, "GNU coreutils' timeout is needed (apt-get install coreutils)"
    async with open_server(list_source(frames), speed=20.0, ping_interval=0.4,
                           clock="per_connection") as server:  # each run from the start
        record = [*BINFEED, "record", "-s", "btcusdt", "--url", server.url]
        for run in range(10):
            queue = tmp_path / f"q{run}"
            if run % 2:  # GNU timeout: SIGTERM to the child, then to its process group
                done = await anyio.run_process(
                    [timeout, "--preserve-status", "-s", "TERM", "3", *record, "-q",
                     str(queue)], check=False, env=env(), start_new_session=True)
                code, out, err = done.returncode, done.stdout.decode(), done.stderr.decode()
            else:
                async with await anyio.open_process([*record, "-q", str(queue)], env=env(),
                                                    start_new_session=True) as proc:
                    for _ in range(400):  # up to 20 s
                        if count_records(queue) >= 100:
                            break
                        await anyio.sleep(0.05)
                    signal_twice(proc)
                    with anyio.fail_after(20):
                        code = await proc.wait()
                    assert proc.stdout is not None and proc.stderr is not None
                    out = (await proc.stdout.receive()).decode()
                    err = ""
            assert code == 0, f"run {run}: exit {code}\n{err}"
            assert out.startswith("record "), f"run {run}: no summary line: {out!r} {err}"
            assert count_records(queue) > 0, f"run {run}: stopped before recording: {err}"
            assert_sealed(queue)


# -- the policy, on a clean stop that takes long -------------------------------------


def slow_stop(seconds: float) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, str(HERE / "slow_stop.py"), str(seconds)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env(), start_new_session=True)
    wait_line(proc, "READY")
    return proc


def test_a_third_signal_within_5_s_exits_at_once_with_130() -> None:
    proc = slow_stop(30.0)
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    wait_line(proc, "STOPPING")
    os.killpg(group(proc), signal.SIGINT)
    time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    code, out, err = finish(proc)
    assert code == EXIT_FORCED
    assert time.monotonic() - t0 < 5
    assert "CLEAN" not in out
    assert err.count("ignored: already stopping") == 1
    assert "exiting at once (status 130)" in err


def test_signals_during_a_slow_stop_are_ignored_and_it_ends_with_0() -> None:
    proc = slow_stop(1.0)
    proc.send_signal(signal.SIGINT)
    wait_line(proc, "STOPPING")
    os.killpg(group(proc), signal.SIGTERM)
    code, out, err = finish(proc)
    assert (code, out) == (0, "CLEAN\n"), err
    assert "SIGTERM ignored: already stopping (a slow clean-up)" in err


def test_three_signals_further_apart_than_5_s_do_not_force_an_exit() -> None:
    proc = slow_stop(6.5)
    proc.send_signal(signal.SIGTERM)
    wait_line(proc, "STOPPING")
    for _ in range(2):
        time.sleep(2.7)  # the third comes 5.4 s after the first
        proc.send_signal(signal.SIGTERM)
    code, out, err = finish(proc)
    assert (code, out) == (0, "CLEAN\n"), err


# -- the other long-running commands ---------------------------------------------------


@pytest.fixture(scope="module")
def queue(tmp_path_factory: pytest.TempPathFactory) -> Path:
    frames = [f for f in load_capture([bundled_sample()])
              if f.stream in ("bookTicker", "trade")][:3000]
    q = tmp_path_factory.mktemp("signals") / "q"
    write_frames(q, frames)
    return q


def test_replay_serve_stops_cleanly_on_two_signals(queue: Path) -> None:
    proc = spawn("replay", str(queue), "--serve", "--port", "0")
    assert proc.stdout is not None
    assert re.search(r"on ws://127\.0\.0\.1:\d+ ", proc.stdout.readline())
    signal_twice(proc)
    code, _, err = finish(proc)
    assert code == 0, err


def test_replay_follow_stops_cleanly_on_two_signals(queue: Path) -> None:
    proc = spawn("replay", str(queue), "--follow")
    assert proc.stdout is not None
    first = [proc.stdout.readline() for _ in range(10)]
    assert all('"type":"' in line for line in first)
    time.sleep(0.3)  # everything printed; following
    signal_twice(proc)
    code, rest, err = finish(proc)
    assert code == 0, err
    assert len(first) + len(rest.splitlines()) == 3000  # every record, none cut off
    assert "Traceback" not in err


def test_monitor_stops_cleanly_on_two_signals(queue: Path) -> None:
    proc = spawn("monitor", str(queue), "--lines", "--interval", "0.1")
    assert proc.stdout is not None
    assert proc.stdout.readline().startswith("{")
    signal_twice(proc)
    code, _, err = finish(proc)
    assert code == 0, err


def test_demo_stops_cleanly_on_two_signals_with_its_summary(tmp_path: Path) -> None:
    proc = spawn("demo", "--queue", str(tmp_path / "demo"), "--speed", "5", "--no-status")
    wait_line(proc, "recording ")
    for _ in range(200):
        if count_records(tmp_path / "demo") > 100:
            break
        time.sleep(0.05)
    signal_twice(proc)
    code, out, err = finish(proc)
    assert code == 0, err
    assert re.search(r"recorded in [\d.]+ s; record ", out), out
    assert "stopped before the end of the capture" in out
    assert_sealed(tmp_path / "demo")
