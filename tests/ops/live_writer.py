"""A live queue writer process for the operator-tool tests.

`live_writer.py DIR COUNT [--rate R] [--segment-slots N] [--symbols A,B] [--trade-every K]
[--gap-at I] [--wait-go] [--hold] [--ts-step-ns S]`

Prints READY once the queue is open; with --wait-go it then waits for a line on stdin
before writing. Record i (0-based) is a bookTicker of symbols[i % len] with update id i+1
and the values of :func:`tests.queue.helpers.book_values`; every K-th record is also
followed by a trade (trade id i+1). Receive times are the wall clock (time.time_ns()), or
with --ts-step-ns a synthetic clock starting at --ts-start-ns advancing S ns per record.
Prints WROTE n every 500 records and DONE at the end; with --hold it then keeps the queue
open until stdin closes.
"""

from __future__ import annotations

import argparse
import sys
import time

from binfeed.queue import QueueWriter
from binfeed.records import ConnectionEvent, GapReason, Stream
from tests.queue.helpers import book_values


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("queue")
    ap.add_argument("count", type=int)
    ap.add_argument("--rate", type=float, default=0.0)
    ap.add_argument("--segment-slots", type=int, default=0)
    ap.add_argument("--symbols", default="BTCUSDT,ETHUSDT")
    ap.add_argument("--trade-every", type=int, default=0)
    ap.add_argument("--gap-at", type=int, default=-1)
    ap.add_argument("--wait-go", action="store_true")
    ap.add_argument("--hold", action="store_true")
    ap.add_argument("--ts-start-ns", type=int, default=1_723_161_600_000_000_000)
    ap.add_argument("--ts-step-ns", type=int, default=0)
    args = ap.parse_args()
    symbols = args.symbols.split(",")
    with QueueWriter(args.queue, segment_slots=args.segment_slots) as w:
        print("READY", flush=True)
        if args.wait_go:
            sys.stdin.readline()
        t0 = time.perf_counter()
        for i in range(args.count):
            now = (args.ts_start_ns + i * args.ts_step_ns) if args.ts_step_ns else time.time_ns()
            sym = symbols[i % len(symbols)]
            if i == args.gap_at:
                w.append_connection(ConnectionEvent.DISCONNECTED, 1, code=1006,
                                    detail="test abort", recv_ts_ns=now)
                w.append_gap(sym, Stream.TRADE, GapReason.DISCONNECTED, last_seq=i,
                             next_seq=i + 5, recv_ts_ns=now)
            b, bq, a, aq = book_values(i)
            w.append_book_ticker(sym, i + 1, b, bq, a, aq, recv_ts_ns=now)
            if args.trade_every and i % args.trade_every == 0:
                w.append_trade(sym, i + 1, b, bq, trade_ts_us=(now // 1_000_000 - 1) * 1000,
                               event_ts_us=now // 1_000_000 * 1000, buyer_is_maker=bool(i % 2),
                               best_match=True, recv_ts_ns=now)
            if args.rate:
                due = t0 + (i + 1) / args.rate
                pause = due - time.perf_counter()
                if pause > 0.002:
                    time.sleep(pause)
            if i % 500 == 499:
                print(f"WROTE {i + 1}", flush=True)
        print("DONE", flush=True)
        if args.hold:
            sys.stdin.read()


if __name__ == "__main__":
    main()
