"""The Python live examples (examples/python/tail_live.py, atail_live.py) run as a user
runs them: started before the queue exists, against a writer in another process; they
print every record asked for, quiet lines while nothing comes, and (async) the other
task's ticks all along."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.ops.helpers import env, spawn_live_writer, stop, wait_line

pytestmark = pytest.mark.slow  # processes, timed waits

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "python"


def _run_example(script: str, q: Path, *args: str) -> list[str]:
    """Starts the example before the queue exists, then a writer of 600 records (a trade
    every 3rd, symbols BTCUSDT / ETHUSDT) after a pause; returns the example's lines."""
    example = subprocess.Popen([sys.executable, str(EXAMPLES / script), str(q), *args],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=env())
    time.sleep(1.0)  # quiet lines (and ticks) while the queue does not exist
    writer = spawn_live_writer(q, 600, "--rate", "3000", "--trade-every", "3")
    try:
        wait_line(writer, "DONE")
        out, err = example.communicate(timeout=60)
    finally:
        stop(writer)
        if example.poll() is None:
            example.kill()
    assert example.returncode == 0, err
    return out.splitlines()


def test_tail_example_prints_the_trades_of_one_symbol(tmp_path: Path) -> None:
    lines = _run_example("tail_live.py", tmp_path / "q", "--symbols", "btcusdt", "--types",
                         "trade", "--quiet", "0.2", "--idle", "1.0")
    trades = [ln for ln in lines if ln.startswith("Trade(")]
    # record i is BTCUSDT when i is even, with a trade when i % 3 == 0: i % 6 == 0
    assert len(trades) == 100
    assert all("symbol='BTCUSDT'" in ln for ln in trades)
    assert trades[0].startswith("Trade(symbol='BTCUSDT', trade_id=1,")
    assert "quiet for 0.2 s" in lines[lines.index(trades[-1]):]
    assert set(lines) - set(trades) == {"quiet for 0.2 s"}


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_atail_example_keeps_the_other_task_running(tmp_path: Path, backend: str) -> None:
    lines = _run_example("atail_live.py", tmp_path / "q", "--backend", backend, "--quiet",
                         "0.3", "--idle", "1.0", "--tick", "0.05")
    books = [ln for ln in lines if ln.startswith("BookTicker(")]
    assert len(books) == 600
    assert sum(ln.startswith("Trade(") for ln in lines) == 200
    first, last = lines.index(books[0]), lines.index(books[-1])
    assert lines[:first].count("tick") >= 10  # while it waited for the queue
    assert lines[last:].count("tick") >= 10  # and after (the quiet second at the end)
    assert "quiet for 0.3 s" in lines[last:]
