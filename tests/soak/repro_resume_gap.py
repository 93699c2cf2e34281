"""Reproduction of an open defect (docs/reliability.md, "Open defect the soak found"):
`python -m tests.soak.repro_resume_gap [DIR]`; exit 1 while it is there, 0 once fixed.

After a writer restart the parser resumes each stream from the last seq found in the newest
segments (csrc/src/parse_resume.c), but reads older segments only while the ones read hold no
market data at all. Here life 1 stores trades 1..3 and bookTicker 1, life 2 only bookTicker
2, so life 3 does not know the trade stream: trade 3 received again is stored again, and a
jump to trade 10 (4..9 missed while no recorder ran) gets no gap record.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from binfeed.ingest import Ingestor
from binfeed.ingest_results import FrameKind
from binfeed.queue import QueueReader, QueueWriter
from binfeed.records import Gap, Stream, Trade

BOOK = '{"u":%d,"s":"BTCUSDT","b":"1.0","B":"1.0","a":"2.0","A":"1.0"}'
TRADE = ('{"e":"trade","E":1723161255208,"s":"BTCUSDT","t":%d,"p":"1.0","q":"1.0",'
         '"T":1723161255208,"m":true,"M":true}')


def three_lives(q: Path, third_trade: int) -> tuple[str, list[int], list[Gap]]:
    shutil.rmtree(q, ignore_errors=True)
    with QueueWriter(q) as w, Ingestor(w) as ing:  # life 1: trades 1..3, bookTicker 1
        for t in (1, 2, 3):
            ing.ingest(TRADE % t, t)
        ing.ingest(BOOK % 1, 4)
    with QueueWriter(q) as w, Ingestor(w) as ing:  # life 2: bookTicker 2 only
        ing.ingest(BOOK % 2, 5)
    with QueueWriter(q) as w, Ingestor(w) as ing:  # life 3: one trade
        kind = FrameKind(ing.ingest(TRADE % third_trade, 6)).name
    with QueueReader(q) as r:
        recs = list(r.records())
    return (kind, [x.trade_id for x in recs if isinstance(x, Trade)],
            [x for x in recs if isinstance(x, Gap)])


def main() -> int:
    base = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp())
    ok = True
    kind, trades, gaps = three_lives(base / "again", 3)
    print(f"trade 3 received again after the restart: {kind}, trades stored {trades}")
    ok &= trades == [1, 2, 3]
    kind, trades, gaps = three_lives(base / "jump", 10)
    trade_gaps = [g for g in gaps if g.stream == Stream.TRADE]
    print(f"trade 10 after the restart: {kind}, trades stored {trades}, trade gaps {trade_gaps}")
    ok &= len(trade_gaps) == 1
    if len(sys.argv) <= 1:
        shutil.rmtree(base, ignore_errors=True)
    print("fixed" if ok else "DEFECT: the trade stream was not resumed after the restart")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
