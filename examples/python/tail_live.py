"""Follow a binfeed queue from Python: print its records as they are published, and a
"quiet" line whenever nothing came for a while, so the loop keeps control.

    python examples/python/tail_live.py DIR [--symbols BTCUSDT,ETHUSDT]
        [--types bookTicker,trade] [--quiet SECONDS] [--idle SECONDS] [--from-end]

The queue may not exist yet: the script waits for it (a consumer can start before the
recorder). --idle ends it once nothing came for that long (default: never; Ctrl-C ends it).
"""

from __future__ import annotations

import argparse
import contextlib

from binfeed.queue import QueueReader


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("queue")
    ap.add_argument("--symbols", help="comma-separated names (default: every symbol)")
    ap.add_argument("--types", help="comma-separated record types (default: all but symbol)")
    ap.add_argument("--quiet", type=float, default=1.0, help="seconds before a quiet line")
    ap.add_argument("--idle", type=float, default=None, help="end after this many quiet s")
    ap.add_argument("--from-end", action="store_true", help="skip what is there now")
    args = ap.parse_args()
    symbols = args.symbols.split(",") if args.symbols else None
    types = args.types.split(",") if args.types else None

    reader = QueueReader.wait_for(args.queue, from_end=args.from_end, on_damage=print)
    with reader:
        for rec in reader.tail(timeout=args.quiet, idle_timeout=args.idle, symbols=symbols,
                               types=types):
            if rec is None:  # nothing for --quiet seconds: flush, check flags, heartbeat...
                print(f"quiet for {args.quiet} s", flush=True)
                continue
            print(rec, flush=True)


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C ends it quietly
        main()
