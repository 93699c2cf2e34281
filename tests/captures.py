"""What the two bundled real captures hold: the golden figures of the tests, named once.

The files are ``tests/data/binance/spot_{btc,eth}usdt_20240808.gz`` (see the README
there); every line is ``<recv ns> {"stream":"<symbol>@<kind>","data":...}`` except one REST
depth snapshot line per file. The figures were counted from the files, not from binfeed:

    zcat FILE | grep -c .                                    # lines
    zcat FILE | grep -o '^[0-9]* {"stream":"[a-z]*@[A-Za-z0-9@]*"' | sed 's/.*@//' \\
        | sort | uniq -c                                     # frames per stream kind
    zcat FILE | grep -vc '{"stream":'                        # the REST snapshot line

and ``tests/test_capture.py::test_the_golden_figures_are_the_files`` counts them again.
"""

from __future__ import annotations

from pathlib import Path

DATA = Path(__file__).resolve().parent / "data" / "binance"
BTC = DATA / "spot_btcusdt_20240808.gz"
ETH = DATA / "spot_ethusdt_20240808.gz"

#: per file: lines, bookTicker frames, trade frames, depth@100ms frames, REST snapshot lines
BTC_LINES, BTC_BOOK_TICKERS, BTC_TRADES, BTC_DEPTH, BTC_REST = 41249, 28040, 9757, 3451, 1
ETH_LINES, ETH_BOOK_TICKERS, ETH_TRADES, ETH_DEPTH, ETH_REST = 33618, 24077, 6106, 3434, 1

#: what binfeed stores of a capture: its bookTicker and trade frames, one record each
BTC_RECORDS = BTC_BOOK_TICKERS + BTC_TRADES  # 37797
ETH_RECORDS = ETH_BOOK_TICKERS + ETH_TRADES  # 30183
RECORDS = BTC_RECORDS + ETH_RECORDS  # 67980: both files imported
#: what it reads but does not store: depth frames and the REST snapshot line
UNSTORED = BTC_DEPTH + BTC_REST + ETH_DEPTH + ETH_REST  # 6887
#: every line of both files is one frame for the parser
FRAMES = BTC_LINES + ETH_LINES  # 74867
#: the combined-stream envelopes the loopback server serves (all but the REST lines)
ENVELOPES = FRAMES - BTC_REST - ETH_REST
