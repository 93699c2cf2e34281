"""Queue benchmarks from Python: appends (per record, batched), numpy view scan, and the
latency from append to visible in a reader in another process.

Usage: python benchmarks/bench_queue.py [--records N] [--dir DIR]

Prints one line per measurement. The C-level figures (append from C, C reader scan) come from
benchmarks/c/bench_queue.c (run by benchmarks/run_all.py).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from binfeed.queue import QueueReader, QueueWriter, Segment, list_segments
from binfeed.records import BOOK_TICKER_DTYPE, RecordType


def best_of(n: int, fn) -> float:  # type: ignore[no-untyped-def]
    return min(fn() for _ in range(n))


def fresh(base: Path) -> Path:
    d = Path(tempfile.mkdtemp(dir=base, prefix="bfq-bench-"))
    return d / "q"


def bench_append_python(base: Path, n: int) -> float:
    q = fresh(base)
    with QueueWriter(q, segment_slots=n + 64, prefault=True) as w:
        sid = w.symbol("BTCUSDT")
        append = w.append_book_ticker
        t0 = time.perf_counter()
        for i in range(n):
            append(sid, i, 61837.63, 3.78826, 61837.64, 1.54698, recv_ts_ns=i)
        dt = time.perf_counter() - t0
    shutil.rmtree(q.parent)
    return dt


def bench_append_batched(base: Path, n: int, batch: int = 4096) -> float:
    q = fresh(base)
    arr = np.zeros(batch, BOOK_TICKER_DTYPE)
    arr["type"] = RecordType.BOOK_TICKER
    arr["bid_price"] = 61837.63
    arr["bid_qty"] = 3.78826
    arr["ask_price"] = 61837.64
    arr["ask_qty"] = 1.54698
    with QueueWriter(q, segment_slots=n + batch + 64, prefault=True) as w:
        arr["symbol_id"] = w.symbol("BTCUSDT")
        t0 = time.perf_counter()
        for start in range(0, n, batch):
            arr["seq"] = np.arange(start, start + batch)
            w.append_slots(arr)
        dt = time.perf_counter() - t0
    shutil.rmtree(q.parent)
    return dt


def bench_numpy_scan(base: Path, n: int) -> tuple[float, float, float, float]:
    """Open a segment and compute the mean mid price over its book tickers, zero-copy."""
    q = fresh(base)
    with QueueWriter(q, segment_slots=n + 64) as w:
        arr = np.zeros(n, BOOK_TICKER_DTYPE)
        arr["type"] = RecordType.BOOK_TICKER
        arr["bid_price"] = np.linspace(60000, 62000, n)
        arr["ask_price"] = arr["bid_price"] + 0.01
        arr["symbol_id"] = w.symbol("BTCUSDT")
        arr["seq"] = np.arange(n)
        w.append_slots(arr)
    seg_path = list_segments(q)[-1][1]

    def scan() -> float:
        t0 = time.perf_counter()
        with Segment(seg_path) as seg:
            view = seg.slots().view(BOOK_TICKER_DTYPE)
            mid = (view["bid_price"] + view["ask_price"]) * 0.5  # strided reads, no copy
            total = float(mid.sum())
            del view
        assert total > 0
        return time.perf_counter() - t0

    def view_only() -> float:
        t0 = time.perf_counter()
        with Segment(seg_path) as seg:
            view = seg.slots().view(BOOK_TICKER_DTYPE)
            assert not view.flags.owndata
            last = int(view["seq"][-1])
            del view
        assert last == n - 1
        return time.perf_counter() - t0

    def reader_scan(verify: bool) -> float:
        t0 = time.perf_counter()
        total = 0.0
        with QueueReader(q, verify=verify) as reader:
            while len(batch := reader.poll(1 << 20)):
                view = batch.view(BOOK_TICKER_DTYPE)  # as scan() below: no copy
                total += float(((view["bid_price"] + view["ask_price"]) * 0.5).sum())
                del view, batch
        assert total > 0
        return time.perf_counter() - t0

    scan_s = best_of(3, scan)
    view_s = best_of(3, view_only)
    checked_s = best_of(3, lambda: reader_scan(True))
    unchecked_s = best_of(3, lambda: reader_scan(False))
    shutil.rmtree(q.parent)
    return scan_s, view_s, checked_s, unchecked_s


def _latency_reader(q: str, n: int, ready: mp.Event, out: mp.Queue) -> None:  # type: ignore[type-arg]
    reader = QueueReader.wait_for(q)
    ready.set()
    lat: list[int] = []
    seen = 0
    while seen < n:
        batch = reader.poll(1)  # one record at a time: the latency of a tailing consumer
        if len(batch):
            now = time.time_ns()
            if batch["type"][0] == RecordType.BOOK_TICKER:
                lat.append(now - int(batch["recv_ts_ns"][0]))
                seen += 1
    out.put(lat)


def bench_cross_process_latency(base: Path, n: int, interval_us: float = 100.0) -> np.ndarray:
    q = fresh(base)
    with QueueWriter(q, segment_slots=n + 64, prefault=True) as w:
        sid = w.symbol("BTCUSDT")
        ctx = mp.get_context("spawn")
        ready, out = ctx.Event(), ctx.Queue()
        proc = ctx.Process(target=_latency_reader, args=(str(q), n, ready, out))
        proc.start()
        ready.wait(30)
        nxt = time.perf_counter()
        for i in range(n):
            while time.perf_counter() < nxt:
                pass
            nxt += interval_us / 1e6
            w.append_book_ticker(sid, i, 1.0, 1.0, 2.0, 1.0, recv_ts_ns=time.time_ns())
        lat = np.array(out.get(timeout=60), dtype=np.int64)
        proc.join()
    shutil.rmtree(q.parent)
    return lat


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--records", type=int, default=2_000_000)
    ap.add_argument("--dir", type=Path, default=Path("/dev/shm") if Path("/dev/shm").is_dir()
                    else Path(tempfile.gettempdir()))
    args = ap.parse_args()
    n = args.records
    base: Path = args.dir
    print(f"# queue benchmarks from Python, {n} records, files in {base}, pid {os.getpid()}")
    dt = best_of(3, lambda: bench_append_python(base, n // 4))
    print(f"python append_book_ticker (per record)  {n // 4 / dt / 1e6:8.2f} M rec/s  "
          f"{dt * 1e9 / (n // 4):7.1f} ns/rec")
    dt = best_of(3, lambda: bench_append_batched(base, n))
    print(f"python append_slots (batches of 4096)   {n / dt / 1e6:8.2f} M rec/s  "
          f"{dt * 1e9 / n:7.2f} ns/rec")
    scan_s, view_s, checked_s, unchecked_s = bench_numpy_scan(base, n)
    print(f"QueueReader.poll + mid, verified        {n / checked_s / 1e6:8.2f} M rec/s  "
          f"(the default: every checksum and type checked in C)")
    print(f"QueueReader.poll + mid, verify=False    {n / unchecked_s / 1e6:8.2f} M rec/s")
    print(f"numpy view + mid-price sum over segment {n / scan_s / 1e6:8.2f} M rec/s  "
          f"{scan_s * 1e9 / n:7.2f} ns/rec (zero-copy view, strided math)")
    print(f"numpy view open (map + validate + view) {view_s * 1e3:8.3f} ms for {n} records")
    lat = bench_cross_process_latency(base, 20000)
    p = np.percentile(lat, [50, 99, 99.9])
    print(f"python append -> python reader in another process, 1 record / 100 us: "
          f"p50 {p[0] / 1e3:.1f} us  p99 {p[1] / 1e3:.1f} us  p99.9 {p[2] / 1e3:.1f} us  "
          f"max {lat.max() / 1e3:.1f} us  (n={len(lat)})")


if __name__ == "__main__":
    main()
