"""Deterministic record generators and a writer process used by the queue tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def book_values(i: int) -> tuple[float, float, float, float]:
    """Bid/ask values of record i: not round numbers, so bit-exactness is tested."""
    bid = 61000.0 + (i % 10007) * 0.01 + 1e-9 * (i % 7)
    return bid, 0.00001 * (i % 997 + 1), bid + 0.01, 3.0 / (i % 11 + 1)


def write_book_tickers(writer: object, start: int, count: int, symbols: list[str]) -> None:
    """Appends records start .. start+count-1, cycling over symbols."""
    for i in range(start, start + count):
        b, bq, a, aq = book_values(i)
        writer.append_book_ticker(symbols[i % len(symbols)], i + 1, b, bq, a, aq,  # type: ignore[attr-defined]
                                  recv_ts_ns=1_700_000_000_000_000_000 + i)


def spawn_writer(queue: Path, count: int, *, segment_slots: int = 0, rate: float = 0.0,
                 hold: bool = False, symbols: str = "BTCUSDT,ETHUSDT",
                 start: int = 0) -> subprocess.Popen[str]:
    """A writer in another process (tests/queue/writer_proc.py); prints READY then DONE."""
    cmd = [sys.executable, str(Path(__file__).with_name("writer_proc.py")), str(queue),
           str(count), "--segment-slots", str(segment_slots), "--rate", str(rate),
           "--symbols", symbols, "--start", str(start)]
    if hold:
        cmd.append("--hold")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    # --hold waits for stdin to close: give it a pipe we keep open (not pytest's stdin)
    return subprocess.Popen(cmd, stdin=subprocess.PIPE if hold else subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def killed_writer_queue(queue: Path, count: int) -> Path:
    """The queue a writer process leaves when SIGKILLed after appending records 1..count
    (BTCUSDT, ETHUSDT): its newest segment unsealed, for the next writer to recover."""
    proc = spawn_writer(queue, count, symbols="BTCUSDT,ETHUSDT", hold=True)
    wait_line(proc, "DONE")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return queue


def wait_line(proc: subprocess.Popen[str], want: str) -> None:
    """Reads the process's stdout until a line equal to ``want``."""
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.strip() == want:
            return
    err = proc.stderr.read() if proc.stderr else ""
    raise AssertionError(f"process ended before printing {want!r}: {err}")
