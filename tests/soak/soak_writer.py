"""The writer the crash soak kills: `python -m tests.soak.soak_writer DIR [--segment-slots N]`.

It opens the queue (the C writer's recovery runs here), reads the last bookTicker update id
the queue holds with the Python reader, and appends records id+1, id+2, ... as fast as it can
until it is killed. Record `i` (update id `i`, from 1) is fully determined by `i`: its symbol
(`symbol_of`), its values (`tests.queue.helpers.book_values(i - 1)`) and its receive time
(`RECV_BASE + i`), so a record a killed writer never published is written again, identical,
by the next one, and the final queue must hold exactly the ids 1..N.

New symbols are defined now and then (symbol k the first time at id `first_id_of(k)`), so
kills also land in symbol definitions; a restarted writer asks for every symbol already due,
which must give back the id the queue holds (symbol k is always id k).

Lines on stdout (flushed): `OPEN` just before the queue is opened, `READY <last id>` once it
is open, `PUB <id>` after record `id` was appended, every PUB_EVERY records, and `SYM <k>`
after symbol k was defined (appends and definitions publish before they return: the queue
must hold what these lines name, whatever happens next).

`--sentinel ID` instead appends one record with update id ID on symbol SENTINEL_SYMBOL and
closes the writer normally (the clean final run).
"""

from __future__ import annotations

import argparse
import math
import sys

import numpy as np

from binfeed.queue import QueueWriter, Segment, list_segments
from binfeed.records import BOOK_TICKER_DTYPE, RecordType
from tests.queue.helpers import book_values

RECV_BASE = 1_700_000_000_000_000_000
SYMBOL_STEP = 1000  # symbol k >= 2 first appears at id SYMBOL_STEP * (k - 1) ** 2
PUB_EVERY = 1024
SENTINEL_SYMBOL = "SENTINEL"
SENTINEL_ID = 10**15


def symbol_count(i: int) -> int:
    """How many symbols exist once record i is written (record i may be the first of the
    newest)."""
    return 1 + math.isqrt(i // SYMBOL_STEP)


def first_id_of(k: int) -> int:
    """The id of the first record of symbol k (k >= 1)."""
    return 1 if k == 1 else SYMBOL_STEP * (k - 1) ** 2


def symbol_name(k: int) -> str:
    """Symbol k's name: mostly ASCII, every eighth one UTF-8 (Binance allows it)."""
    return f"测试{k:03d}" if k % 8 == 5 else f"S{k:03d}USDT"


def symbol_of(i: int) -> int:
    """The symbol id (== k) of record i: a new symbol's first record, else a spread."""
    n = symbol_count(i)
    if n > 1 and i == first_id_of(n):
        return n
    return i % n + 1


def symbols_of(ids: np.ndarray) -> np.ndarray:
    """symbol_of for an array of ids (uint64 -> uint64)."""
    ids = ids.astype(np.int64)
    q = ids // SYMBOL_STEP
    r = np.floor(np.sqrt(q.astype(np.float64))).astype(np.int64)
    r -= (r * r > q).astype(np.int64)  # isqrt, robust to rounding
    r += ((r + 1) * (r + 1) <= q).astype(np.int64)
    n = 1 + r
    first = SYMBOL_STEP * (n - 1) ** 2
    out = np.where((n > 1) & (ids == first), n, ids % n + 1)
    return out.astype(np.uint64)


def last_update_id(queue: str) -> int:
    """The update id of the last good bookTicker record in the queue (0 if none), from the
    newest segment backwards, read with the Python reader (checked slots only)."""
    for _seq, path in reversed(list_segments(queue)):
        with Segment(path) as seg:
            slots = seg.slots()
            bad = seg.first_bad(0, len(slots))
            if bad is not None:
                raise SystemExit(f"soak_writer: {path} slot {bad} fails its checksum")
            books = np.flatnonzero(slots["type"] == RecordType.BOOK_TICKER)
            if len(books):
                rec = slots[books[-1]:books[-1] + 1].view(BOOK_TICKER_DTYPE)[0]
                return int(rec["seq"])
    return 0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("queue")
    ap.add_argument("--segment-slots", type=int, default=64)
    ap.add_argument("--sentinel", type=int, default=0,
                    help="append one record with this update id, close normally, exit")
    args = ap.parse_args()
    out = sys.stdout
    print("OPEN", file=out, flush=True)
    with QueueWriter(args.queue, segment_slots=args.segment_slots) as w:
        for report in w.recovery:
            print(f"RECOVERY {report.event.name} {report.message}", file=out, flush=True)
        if args.sentinel:
            last = last_update_id(args.queue)
            print(f"READY {last}", file=out, flush=True)
            w.append_book_ticker(SENTINEL_SYMBOL, args.sentinel, 1.0, 1.0, 2.0, 1.0,
                                 recv_ts_ns=RECV_BASE)
            print(f"PUB {args.sentinel}", file=out, flush=True)
            return
        last = last_update_id(args.queue)
        print(f"READY {last}", file=out, flush=True)
        ids: dict[int, int] = {}
        for k in range(1, symbol_count(last + 1) + 1):  # every symbol due so far
            if first_id_of(k) <= last:
                ids[k] = w.symbol(symbol_name(k))
                if ids[k] != k:
                    raise SystemExit(f"soak_writer: symbol {symbol_name(k)} got id {ids[k]}, "
                                     f"the queue defined it as {k}")
        append = w.append_book_ticker
        i = last
        while True:
            i += 1
            k = symbol_of(i)
            if k not in ids:
                ids[k] = w.symbol(symbol_name(k))
                if ids[k] != k:
                    raise SystemExit(f"soak_writer: new symbol {symbol_name(k)} got id "
                                     f"{ids[k]}, not {k}")
                print(f"SYM {k}", file=out, flush=True)
            b, bq, a, aq = book_values(i - 1)
            append(k, i, b, bq, a, aq, recv_ts_ns=RECV_BASE + i)
            if i % PUB_EVERY == 0:
                print(f"PUB {i}", file=out, flush=True)


if __name__ == "__main__":
    main()
