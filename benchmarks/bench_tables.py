"""Tables from a queue: ``binfeed.open(...).to_table`` against a raw numpy poll of the same
queue, pandas and polars, a time window (first and later reads), ``binfeed export``.

Usage: python benchmarks/bench_tables.py [--records N] [--dir DIR] [--repeat R]

Two queues of N records (default 10 M) are made from the bundled captures' records, in
receive-time order, repeated with shifted times (default segments of 1 Mi slots): one of
bookTicker records only, one of the captures' own mix (77 % bookTicker, 23 % trade).
Figures are records of the queue per second, best of R; each baseline is measured in the
same run on the same queue.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

import binfeed
from binfeed.exporter import export_queue
from binfeed.importer import import_captures
from binfeed.queue import QueueReader, QueueWriter
from binfeed.queue.runs import RunReader
from binfeed.records import BOOK_TICKER_DTYPE, RecordType
from binfeed.scan import RUN_SLOTS
from binfeed.selection import Selection

ROOT = Path(__file__).resolve().parents[1]
CAPTURES = [ROOT / "tests" / "data" / "binance" / f"spot_{s}usdt_20240808.gz"
            for s in ("btc", "eth")]


def capture_slots(tmp: Path) -> np.ndarray:
    """The captures' market records as slots, in receive-time order."""
    src = tmp / "src"
    import_captures(src, CAPTURES)
    parts = []
    with QueueReader(src) as r:
        while len(b := r.poll(1 << 20)):
            parts.append(np.array(b))
    slots = np.concatenate(parts)
    slots = slots[np.isin(slots["type"], [RecordType.BOOK_TICKER, RecordType.TRADE])]
    return slots[np.argsort(slots["recv_ts_ns"], kind="stable")]


def make_queue(path: Path, slots: np.ndarray, n: int) -> int:
    span = int(slots["recv_ts_ns"][-1] - slots["recv_ts_ns"][0]) + 1
    written = 0
    with QueueWriter(path) as w:
        w.symbol("BTCUSDT")
        w.symbol("ETHUSDT")
        k = 0
        while written < n:
            part = slots[: n - written].copy()
            part["recv_ts_ns"] += k * span
            w.append_slots(part)
            written += len(part)
            k += 1
    return written


#: CPU seconds of the fastest run of the last :func:`best` (the machine may be shared: wall
#: time then includes waiting for a core, CPU time does not), and the first run's wall time
#: (the allocator still has to get its memory from the kernel).
LAST_CPU = [0.0]
LAST_FIRST = [0.0]


def best(repeat: int, fn) -> float:  # type: ignore[no-untyped-def]
    """The wall time of the fastest of ``repeat`` runs (its CPU time in LAST_CPU)."""
    out = []
    for _ in range(repeat):
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0, time.process_time() - c0))
    wall, LAST_CPU[0] = min(out)
    LAST_FIRST[0] = out[0][0]
    return wall


def poll_only(queue: Path) -> None:
    """The raw baseline: every verified batch as a numpy view, one column touched."""
    with QueueReader(queue) as r:
        while len(b := r.poll(1 << 20)):
            b["recv_ts_ns"][-1:].sum()


def runs_only(queue: Path) -> None:
    """The floor of a table read: the header's reader verifying every slot, in runs, with
    nothing copied out."""
    with RunReader(queue) as r:
        while r.next_run(RUN_SLOTS) is not None:
            pass


def poll_numpy_columns(queue: Path) -> None:
    """What a user writes by hand: poll, select bookTicker, copy its columns out."""
    cols: dict[str, list[np.ndarray]] = {f: [] for f in
                                         ("seq", "bid_price", "bid_qty", "ask_price",
                                          "ask_qty", "recv_ts_ns", "symbol_id")}
    with QueueReader(queue) as r:
        while len(b := r.poll(1 << 20)):
            v = b[b["type"] == RecordType.BOOK_TICKER].view(BOOK_TICKER_DTYPE)
            for f, parts in cols.items():
                parts.append(v[f].copy())
    {f: np.concatenate(p) for f, p in cols.items()}  # the table the user wanted


def line(what: str, records: int, seconds: float, baseline: float | None = None) -> None:
    rate = records / seconds / 1e6
    cpu = records / LAST_CPU[0] / 1e6 if LAST_CPU[0] > 0 else float("nan")
    extra = f"  {baseline / seconds:5.2f}x the raw poll's speed" if baseline else ""
    print(f"{what:<52} {seconds:7.3f} s {rate:6.1f} M rec/s (CPU time {cpu:5.1f} M/s, first "
          f"run {records / LAST_FIRST[0] / 1e6:5.1f} M/s){extra}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--records", type=int, default=10_000_000)
    ap.add_argument("--dir", default="/dev/shm" if Path("/dev/shm").is_dir() else None)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    n, rep = args.records, args.repeat
    import pandas  # noqa: F401  the first read must not pay for importing them
    import polars  # noqa: F401
    import pyarrow  # noqa: F401
    tmp = Path(tempfile.mkdtemp(prefix="binfeed-bench-tables-", dir=args.dir))
    try:
        slots = capture_slots(tmp)
        books = slots[slots["type"] == RecordType.BOOK_TICKER]
        only_bt, mix = tmp / "bookTicker", tmp / "mix"
        make_queue(only_bt, books, n)
        make_queue(mix, slots, n)
        print(f"{n:,} records per queue, queues in {tmp.parent}; best of {rep}")

        print("\nbookTicker-only queue:")
        raw = best(rep, lambda: poll_only(only_bt))
        line("raw numpy poll (QueueReader.poll, verified)", n, raw)
        line("C reader alone: verified runs, nothing copied (floor)", n,
             best(rep, lambda: runs_only(only_bt)), raw)
        line("poll + numpy: bookTicker columns copied out by hand", n,
             best(rep, lambda: poll_numpy_columns(only_bt)), raw)
        ds = binfeed.open(only_bt)
        t = best(rep, lambda: ds.to_table("bookTicker"))
        line("binfeed.open(...).to_table('bookTicker')", n, t, raw)
        line("binfeed.open(...).to_pandas('bookTicker')", n,
             best(rep, lambda: ds.to_pandas("bookTicker")), raw)
        line("binfeed.open(...).to_polars('bookTicker')", n,
             best(rep, lambda: ds.to_polars("bookTicker")), raw)

        print("\nthe captures' mix (bookTicker and trade):")
        raw = best(rep, lambda: poll_only(mix))
        line("raw numpy poll (QueueReader.poll, verified)", n, raw)
        ds = binfeed.open(mix)
        line("to_table('bookTicker') (77 % of the records)", n,
             best(rep, lambda: ds.to_table("bookTicker")), raw)
        line("to_table('trade') (23 %)", n, best(rep, lambda: ds.to_table("trade")), raw)

        recv = slots["recv_ts_ns"]
        lo = int(recv[0]) + (n // len(slots)) // 2 * (int(recv[-1] - recv[0]) + 1)
        window = (lo, lo + 60 * 10**9)  # one minute in the middle of the queue
        rows = binfeed.open(mix).to_table("trade", start=window[0], end=window[1]).num_rows
        t0 = time.perf_counter()
        fresh = binfeed.open(mix)
        fresh.to_table("trade", start=window[0], end=window[1])
        first = time.perf_counter() - t0
        again = best(rep, lambda: fresh.to_table("trade", start=window[0], end=window[1]))
        print(f"\none minute of trades ({rows:,} rows) out of the {n:,}-record queue:")
        print(f"  first read of a dataset (measures every segment's span) {first * 1e3:8.1f} ms")
        print(f"  later reads (binary search only)                        {again * 1e3:8.1f} ms")
        print(f"  the whole table, for comparison                         "
              f"{best(1, lambda: fresh.to_table('trade')) * 1e3:8.1f} ms")

        out = tmp / "out"
        t0 = time.perf_counter()
        report = export_queue(mix, out, "parquet", ["bookTicker", "trade"], Selection())
        dt = time.perf_counter() - t0
        size = sum(p.stat().st_size for p in out.iterdir())
        queue_size = sum(p.stat().st_size for p in mix.iterdir())
        print(f"\nbinfeed export --format parquet of the mix: {dt:.2f} s "
              f"({report.rows / dt / 1e6:.1f} M rec/s), {size / 2**20:.0f} MiB "
              f"for {queue_size / 2**20:.0f} MiB of queue ({size / queue_size:.1%})")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
