"""A queue writer process for tests: `writer_proc.py DIR COUNT [--segment-slots N] [--rate R]
[--hold] [--symbols A,B] [--start I]`. Prints READY once the queue is open, DONE when all
records are appended; with --hold it then waits for stdin to close before closing the writer.
"""

from __future__ import annotations

import argparse
import sys
import time

from binfeed.queue import QueueWriter
from tests.queue.helpers import book_values


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("queue")
    ap.add_argument("count", type=int)
    ap.add_argument("--segment-slots", type=int, default=0)
    ap.add_argument("--rate", type=float, default=0.0, help="records per second (0: max)")
    ap.add_argument("--hold", action="store_true")
    ap.add_argument("--symbols", default="BTCUSDT,ETHUSDT")
    ap.add_argument("--start", type=int, default=0)
    args = ap.parse_args()
    symbols = args.symbols.split(",")
    with QueueWriter(args.queue, segment_slots=args.segment_slots) as w:
        print("READY", flush=True)
        t0 = time.perf_counter()
        for n, i in enumerate(range(args.start, args.start + args.count)):
            b, bq, a, aq = book_values(i)
            w.append_book_ticker(symbols[i % len(symbols)], i + 1, b, bq, a, aq,
                                 recv_ts_ns=1_700_000_000_000_000_000 + i)
            if args.rate:
                due = t0 + (n + 1) / args.rate
                while time.perf_counter() < due:
                    pass
            if n % 1000 == 999:
                print(f"WROTE {n + 1}", flush=True)
        print("DONE", flush=True)
        if args.hold:
            sys.stdin.read()


if __name__ == "__main__":
    main()
