"""The live Python API: how fast QueueReader.tail / atail hand out a backlog (all records,
one symbol of three, a type that is not there), and how soon a record written by another
process is handed out (time.time_ns() at hand-out minus the writer's time.time_ns() in
recv_ts_ns), with the reader's CPU use while it waits.

Usage: python benchmarks/bench_live.py [--records N] [--rate R] [--latency-records N]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import anyio
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from binfeed.queue import QueueReader, QueueWriter  # noqa: E402
from tests.ops.helpers import spawn_live_writer, stop, wait_line  # noqa: E402
from tests.queue.helpers import write_book_tickers  # noqa: E402


def backlog(base: Path, n: int) -> Path:
    q = base / "backlog"
    with QueueWriter(q) as w:
        write_book_tickers(w, 0, n, ["BTCUSDT", "ETHUSDT", "SOLUSDT"])
    return q


def rate(q: Path, make: Callable[[QueueReader], Iterable[object]]) -> tuple[int, float]:
    reader = QueueReader(q)
    t0 = time.perf_counter()
    count = sum(1 for _ in make(reader))
    return count, time.perf_counter() - t0


async def _adrain(reader: QueueReader, kw: dict[str, object]) -> int:
    return sum([1 async for _ in reader.atail(idle_timeout=0, **kw)])  # type: ignore[arg-type]


def arate(q: Path, backend: str, **kw: object) -> tuple[int, float]:
    reader = QueueReader(q)
    t0 = time.perf_counter()
    count = anyio.run(_adrain, reader, kw, backend=backend)
    return count, time.perf_counter() - t0


def latency(base: Path, mode: str, n: int, per_s: float) -> tuple[np.ndarray, float]:
    """Hand-out latencies (us) of n records written at per_s by another process, and the
    reader's CPU share of one core."""
    q = base / f"live-{mode}"
    writer = spawn_live_writer(q, n, "--rate", str(per_s), "--hold")
    wait_line(writer, "READY")
    reader = QueueReader(q)
    lat: list[int] = []
    cpu, wall = time.process_time(), time.monotonic()
    if mode == "tail":
        for rec in reader.tail(idle_timeout=0.5):
            lat.append(time.time_ns() - rec.recv_ts_ns)
    else:
        async def follow() -> None:
            async for rec in reader.atail(idle_timeout=0.5):
                lat.append(time.time_ns() - rec.recv_ts_ns)  # type: ignore[union-attr]
        anyio.run(follow, backend=mode)
    cpu, wall = time.process_time() - cpu, time.monotonic() - wall
    stop(writer)
    return np.array(lat) / 1e3, cpu / wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--records", type=int, default=600_000)
    ap.add_argument("--rate", type=float, default=1000.0, help="records/s for the latency")
    ap.add_argument("--latency-records", type=int, default=3000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="binfeed-live-", dir="/dev/shm") as tmp:
        base = Path(tmp)
        q = backlog(base, args.records)
        print(f"backlog of {args.records:,} bookTicker records, 3 symbols:")
        rows: list[tuple[str, tuple[int, float]]] = [
            ("records()", rate(q, lambda r: r.records())),
            ("tail(idle_timeout=0)", rate(q, lambda r: r.tail(idle_timeout=0))),
            ("tail(symbols=['BTCUSDT'])",
             rate(q, lambda r: r.tail(idle_timeout=0, symbols=["BTCUSDT"]))),
            ("tail(types=['trade']) (none there)",
             rate(q, lambda r: r.tail(idle_timeout=0, types=["trade"]))),
            ("atail, asyncio", arate(q, "asyncio")),
            ("atail, trio", arate(q, "trio")),
            ("atail(symbols=['BTCUSDT']), asyncio", arate(q, "asyncio", symbols=["BTCUSDT"])),
        ]
        for name, (count, secs) in rows:
            print(f"  {name:38s} {count:>9,} handed out  {count / secs / 1e6:6.3f} M rec/s"
                  f"  {args.records / secs / 1e6:7.2f} M slots/s")
        print(f"latency, a writer process at {args.rate:,.0f} records/s, "
              f"{args.latency_records:,} records:")
        for mode in ("tail", "asyncio", "trio"):
            lat, cpu = latency(base, mode, args.latency_records, args.rate)
            print(f"  {mode:8s} p50 {np.percentile(lat, 50):7.0f} us  p90 "
                  f"{np.percentile(lat, 90):7.0f} us  p99 {np.percentile(lat, 99):7.0f} us"
                  f"  reader CPU {cpu * 100:4.1f} % of a core")


if __name__ == "__main__":
    main()
