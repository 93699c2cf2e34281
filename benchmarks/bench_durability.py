"""What each ``--sync`` level costs a writer: 4 M bookTicker records appended in batches
of 4096 (``QueueWriter.append_slots``, the import's path) into 65,536-slot segments (61
seals), with each level, into a queue on a real disk and on tmpfs. ``interval:S`` is what
``import`` and ``record`` do: ``QueueWriter.sync()`` of the open segment every S seconds
between batches. The baseline is ``none`` in the same run; also the time one
``fdatasync`` of a freshly written 8 MiB segment takes.

Usage: python benchmarks/bench_durability.py [--disk DIR] [--records N] [--repeat N]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from binfeed.durability import SyncPolicy, parse_sync
from binfeed.queue import QueueWriter
from binfeed.records import BOOK_TICKER_DTYPE, RecordType

ROOT = Path(__file__).resolve().parents[1]
LEVELS = ["none", "seal", "interval:1", "interval:0.1"]
SEGMENT_SLOTS = 65536
BATCH = 4096


def batch_of(sid: int, start: int) -> np.ndarray:
    arr = np.zeros(BATCH, BOOK_TICKER_DTYPE)
    arr["type"] = RecordType.BOOK_TICKER
    arr["seq"] = np.arange(start, start + BATCH)
    arr["bid_price"] = 61000.0 + (arr["seq"] % 1000) * 0.01
    arr["ask_price"] = arr["bid_price"] + 0.01
    arr["bid_qty"] = arr["ask_qty"] = 1.5
    arr["symbol_id"] = sid
    return arr


def write_seconds(base: Path, policy: SyncPolicy, n: int) -> float:
    q = Path(tempfile.mkdtemp(dir=base)) / "q"
    t0 = time.perf_counter()
    with QueueWriter(q, segment_slots=SEGMENT_SLOTS, sync_on_seal=policy.on_seal) as w:
        sid = w.symbol("BTCUSDT")
        last = time.monotonic()
        for start in range(0, n, BATCH):
            w.append_slots(batch_of(sid, start))
            if policy.every_s and time.monotonic() - last >= policy.every_s:
                w.sync()
                last = time.monotonic()
    secs = time.perf_counter() - t0
    shutil.rmtree(q.parent)
    return secs


def one_fdatasync(base: Path) -> float:
    q = Path(tempfile.mkdtemp(dir=base)) / "q"
    with QueueWriter(q, segment_slots=SEGMENT_SLOTS) as w:
        sid = w.symbol("BTCUSDT")
        for start in range(0, SEGMENT_SLOTS - BATCH, BATCH):
            w.append_slots(batch_of(sid, start))
        t0 = time.perf_counter()
        w.sync()
        secs = time.perf_counter() - t0
    shutil.rmtree(q.parent)
    return secs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--disk", type=Path, default=ROOT / ".bench-tmp",
                    help="a directory on a real disk (default: .bench-tmp in the checkout)")
    ap.add_argument("--records", type=int, default=4_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    args.disk.mkdir(parents=True, exist_ok=True)
    n = args.records
    print(f"# --sync cost: {n} records in batches of {BATCH}, {SEGMENT_SLOTS}-slot segments "
          f"({n // SEGMENT_SLOTS} seals), best of {args.repeat}")
    for label, base in (("disk", args.disk), ("tmpfs", Path("/dev/shm"))):
        times = {level: min(write_seconds(base, parse_sync(level), n)
                            for _ in range(args.repeat)) for level in LEVELS}
        for level, s in times.items():
            print(f"{label:<5} --sync {level:<13} {s:7.3f} s  {n / s / 1e6:6.2f} M rec/s  "
                  f"x{s / times['none']:5.2f} of none")
        print(f"{label:<5} one fdatasync of an 8 MiB segment just written: "
              f"{min(one_fdatasync(base) for _ in range(args.repeat)) * 1e3:.1f} ms")
    shutil.rmtree(args.disk, ignore_errors=True)


if __name__ == "__main__":
    main()
