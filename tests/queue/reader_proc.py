"""A queue reader process for tests: `reader_proc.py DIR COUNT [--timeout S] [--until-id ID]`.

Waits for the queue, tails it until COUNT book tickers were seen, the one with update id
--until-id arrives, or TIMEOUT seconds pass without a record; then prints two lines:

    SEEN <n> FIRST <id> LAST <id> ORDERED <0|1> EXACT <0|1>
    STOP <sentinel|count|timeout> POSITION <segment seq> <slot>

EXACT says every value equalled tests.queue.helpers.book_values of its index; STOP says why
it stopped (the --until-id record arrived, COUNT was reached, or nothing arrived for
TIMEOUT seconds) and POSITION is the reader's position then (the next slot it would read).
If ids were not consecutive, a JUMPS line lists the first jumps.
"""

from __future__ import annotations

import argparse

from binfeed.queue import QueueReader
from binfeed.records import BookTicker
from tests.queue.helpers import book_values


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("queue")
    ap.add_argument("count", type=int)
    ap.add_argument("--timeout", type=float, default=20.0)
    ap.add_argument("--until-id", type=int, default=0,
                    help="stop at the book ticker with this update id (not counted)")
    args = ap.parse_args()
    reader = QueueReader.wait_for(args.queue, timeout=args.timeout)
    print("READY", flush=True)
    seen, first, last, ordered, exact = 0, None, None, True, True
    jumps: list[tuple[object, ...]] = []
    stop = "timeout"  # the tail ended: nothing arrived for --timeout seconds
    for rec in reader.tail(idle_timeout=args.timeout):
        if not isinstance(rec, BookTicker):
            continue
        if args.until_id and rec.update_id == args.until_id:
            stop = "sentinel"
            break
        i = rec.update_id - 1
        if first is None:
            first = rec.update_id
        elif rec.update_id != last + 1:  # type: ignore[operator]
            ordered = False
            jumps.append((last, rec.update_id, reader.position))
        last = rec.update_id
        if (rec.bid_price, rec.bid_qty, rec.ask_price, rec.ask_qty) != book_values(i):
            exact = False
        seen += 1
        if seen >= args.count:
            stop = "count"
            break
    seq, slot = reader.position
    print(f"SEEN {seen} FIRST {first} LAST {last} ORDERED {int(ordered)} EXACT {int(exact)}",
          flush=True)
    print(f"STOP {stop} POSITION {seq} {slot}", flush=True)
    if not ordered:
        print(f"JUMPS (last id, next id, (segment, slot) after) {jumps[:20]}", flush=True)


if __name__ == "__main__":
    main()
