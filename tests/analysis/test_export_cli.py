"""``binfeed export``: Parquet files read back by pyarrow and by polars equal ``binfeed replay
--format jsonl``, row for row, columns named as its keys; CSV and JSON lines likewise; the
output directory's rules; ``--partition day``; ``--types``; ``--symbols`` that match
nothing (export and replay); ``replay --format npz``."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pyarrow.csv as pacsv
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest

from binfeed.queue import QueueWriter
from binfeed.tables import SCHEMAS
from tests.analysis.conftest import by_type, cli, jsonl
from tests.analysis.test_tables import arrow_rows, assert_rows
from tests.ops.helpers import spawn_binfeed

DAY = 86_400 * 10**9
MIDNIGHT = 1723161600 * 10**9  # 2024-08-09T00:00:00Z


def export(queue: Path, out: Path, *args: str) -> tuple[int, str, str]:
    return cli("export", str(queue), "-o", str(out), *args)


def test_parquet_rows_equal_replay_read_by_pyarrow_and_polars(
        market: Path, market_jsonl: list[dict[str, Any]], tmp_path: Path) -> None:
    out = tmp_path / "out"
    code, stdout, err = export(market, out)
    assert code == 0, err
    # one file per record type present (no recovery record, symbols only when asked)
    assert sorted(os.listdir(out)) == ["bookTicker.parquet", "connection.parquet",
                                       "gap.parquet", "trade.parquet"]
    for line in stdout.splitlines():  # "<path>\t<rows>"
        path, rows = line.split("\t")
        assert pq.read_metadata(path).num_rows == int(rows)
    for record_type in ("bookTicker", "trade", "gap", "connection"):
        want = by_type(market_jsonl, record_type)
        path = out / f"{record_type}.parquet"
        table = pq.read_table(path)
        assert table.column_names == [n for n, _, _ in SCHEMAS[record_type]]
        assert_rows(arrow_rows(table), want, record_type)
        frame = pl.read_parquet(path)
        times = [n for n in ("recv_time", "trade_time", "event_time") if n in frame.columns]
        rows = frame.with_columns(pl.col(n).cast(pl.Int64) for n in times).to_dicts()
        assert_rows(rows, want, record_type)
        meta = pq.read_metadata(path)
        assert meta.row_group(0).column(0).compression == "ZSTD"
    # the Parquet of a capture is a tenth of the queue (128 bytes a record): 0.84 MB
    size = sum(p.stat().st_size for p in out.iterdir())
    assert size < 0.12 * len(market_jsonl) * 128
    meta = pq.read_metadata(out / "trade.parquet")
    recv = meta.schema.names.index("recv_ts_ns")
    assert "DELTA_BINARY_PACKED" in meta.row_group(0).column(recv).encodings


def test_csv_and_jsonl(market: Path, market_jsonl: list[dict[str, Any]],
                       tmp_path: Path) -> None:
    code, _, err = export(market, tmp_path / "csv", "--format", "csv", "--types", "trade,gap")
    assert code == 0, err
    assert sorted(os.listdir(tmp_path / "csv")) == ["gap.csv", "trade.csv"]
    trade = pacsv.read_csv(tmp_path / "csv" / "trade.csv")
    want = by_type(market_jsonl, "trade")
    assert trade.column_names == [n for n, _, _ in SCHEMAS["trade"]]
    assert trade.column("price").to_pylist() == [r["price"] for r in want]
    assert trade.column("best_match").to_pylist() == [r["best_match"] for r in want]
    frame = pd.read_csv(tmp_path / "csv" / "trade.csv")
    assert frame["trade_id"].tolist() == [r["trade_id"] for r in want]
    assert frame["buyer_is_maker"].dtype == bool
    code, _, err = export(market, tmp_path / "jsonl", "--format", "jsonl")
    assert code == 0, err
    for record_type in ("bookTicker", "trade", "gap", "connection"):
        lines = (tmp_path / "jsonl" / f"{record_type}.jsonl").read_text().splitlines()
        assert [json.loads(x) for x in lines] == by_type(market_jsonl, record_type)


def test_types_symbols_and_window_select_as_replay_does(market: Path,
                                                       tmp_path: Path) -> None:
    start, end = "2024-08-08T23:56:00Z", "2024-08-08T23:58:00Z"
    code, _, err = export(market, tmp_path / "o", "-t", "TRADE,bookticker", "-s", "ETHUSDT",
                          "--from", start, "--to", end)
    assert code == 0, err
    assert sorted(os.listdir(tmp_path / "o")) == ["bookTicker.parquet", "trade.parquet"]
    want = jsonl(market, "--symbols", "ethusdt", "--from", start, "--to", end)
    for record_type in ("bookTicker", "trade"):
        got = pq.read_table(tmp_path / "o" / f"{record_type}.parquet")
        assert_rows(arrow_rows(got), by_type(want, record_type), record_type)
    code, _, err = export(market, tmp_path / "p", "--types", "depth")
    assert code == 2 and "unknown record type 'depth'" in err
    assert not (tmp_path / "p").exists()


def test_the_output_directory_rules(btc: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert export(btc, out, "-t", "trade")[0] == 0
    first = pq.read_table(out / "trade.parquet").num_rows
    code, _, err = export(btc, out)
    assert code == 1 and "is not empty" in err and "--overwrite" in err
    code, _, err = export(btc, out, "--overwrite")
    assert code == 0, err
    assert sorted(os.listdir(out)) == ["bookTicker.parquet", "trade.parquet"]
    assert pq.read_table(out / "trade.parquet").num_rows == first
    # --overwrite replaces an export, never anything else
    (out / "notes.txt").write_text("mine")
    code, _, err = export(btc, out, "--overwrite")
    assert code == 1 and "notes.txt" in err
    assert (out / "notes.txt").read_text() == "mine"
    (tmp_path / "file").write_text("x")
    code, _, err = export(btc, tmp_path / "file")
    assert code == 1 and "is a file" in err
    code, _, err = export(tmp_path / "no-queue", tmp_path / "o2")
    assert code == 1 and "no queue at" in err and not (tmp_path / "o2").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    assert export(btc, empty, "-t", "gap")[0] == 0  # no gap: nothing written, said so
    assert os.listdir(empty) == []
    # nothing half-written is left next to the output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "file", "out"]


def _two_days(queue: Path) -> list[int]:
    """Book tickers a minute apart across 2024-08-09's midnight, and a trade each day."""
    times = [MIDNIGHT - 3 * 60 * 10**9 + i * 60 * 10**9 for i in range(6)]
    with QueueWriter(queue) as w:
        for i, t in enumerate(times):
            w.append_book_ticker("BTCUSDT", i + 1, 100.0 + i, 1.0, 101.0 + i, 2.0,
                                 recv_ts_ns=t)
        for i, t in enumerate((times[0], times[-1])):
            w.append_trade("BTCUSDT", 10 + i, 100.5, 0.1, trade_ts_us=t // 1000,
                           event_ts_us=t // 1000, buyer_is_maker=i == 0, recv_ts_ns=t)
    return times


def test_partition_by_day_is_hive(tmp_path: Path) -> None:
    queue = tmp_path / "q"
    times = _two_days(queue)
    out = tmp_path / "lake"
    code, _, err = export(queue, out, "--partition", "day")
    assert code == 0, err
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*.parquet"))
    assert files == ["type=bookTicker/date=2024-08-08/part-0.parquet",
                     "type=bookTicker/date=2024-08-09/part-0.parquet",
                     "type=trade/date=2024-08-08/part-0.parquet",
                     "type=trade/date=2024-08-09/part-0.parquet"]
    assert "type" not in pq.read_schema(out / files[0]).names  # it is in the path
    want = jsonl(queue)
    ds = pads.dataset(out, format="parquet", partitioning="hive")
    table = ds.to_table(filter=pads.field("type") == "bookTicker").sort_by("recv_ts_ns")
    assert table.column("recv_ts_ns").to_pylist() == times
    got = table.drop_columns(["date"]).to_pylist()
    for row, line in zip(got, by_type(want, "bookTicker"), strict=True):
        assert {k: row[k] for k in line} == line
    frame = pl.scan_parquet(out / "type=trade" / "**" / "*.parquet",
                            hive_partitioning=True).sort("recv_ts_ns").collect()
    assert frame["trade_id"].to_list() == [10, 11]
    assert [str(d) for d in frame["date"].to_list()] == ["2024-08-08", "2024-08-09"]
    # the same layout for CSV and JSON lines
    code, _, err = export(queue, tmp_path / "j", "--partition", "day", "-f", "jsonl")
    assert code == 0, err
    day2 = tmp_path / "j" / "type=bookTicker" / "date=2024-08-09" / "part-0.jsonl"
    assert [json.loads(x)["recv_ts_ns"] for x in day2.read_text().splitlines()] == times[3:]


def test_symbols_that_match_nothing(btc: Path, tmp_path: Path) -> None:
    code, out, err = export(btc, tmp_path / "o", "--symbols", "ethusdt")
    assert code == 1
    assert "nothing to read" in err and "has no ETHUSDT (its symbols: BTCUSDT)" in err
    assert not (tmp_path / "o").exists()
    code, out, err = cli("replay", str(btc), "--symbols", "ethusdt")
    assert code == 1 and out == "" and "has no ETHUSDT" in err
    code, out, err = cli("replay", str(btc), "--serve", "--port", "0", "--symbols", "ethusdt")
    assert code == 1 and "has no ETHUSDT" in err and "serving" not in out
    # some of them there: a warning, and what is there
    code, out, err = cli("replay", str(btc), "--symbols", "ethusdt,btcusdt,solusdt")
    assert code == 0 and "warning" in err and "has no ETHUSDT, SOLUSDT" in err
    assert len(out.splitlines()) > 0
    code, _, err = export(btc, tmp_path / "p", "-s", "btcusdt,ethusdt", "-t", "trade")
    assert code == 0 and "has no ETHUSDT" in err


@pytest.mark.slow  # a process, and a signal
def test_follow_only_warns(btc: Path) -> None:
    proc = spawn_binfeed("replay", str(btc), "--follow", "--symbols", "ethusdt")
    try:
        deadline = time.monotonic() + 20
        assert proc.stderr is not None
        line = proc.stderr.readline()
        while "has no ETHUSDT" not in line and time.monotonic() < deadline:
            line = proc.stderr.readline()
        assert "warning" in line and "they may come later" in line
        assert proc.poll() is None  # still following
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=20)
    assert code == 0


def test_npz_is_compressed_with_categorical_symbols(market: Path,
                                                    market_jsonl: list[dict[str, Any]],
                                                    tmp_path: Path) -> None:
    out = tmp_path / "day.npz"
    code, _, err = cli("replay", str(market), "--format", "npz", "-o", str(out))
    assert code == 0, err
    with np.load(out) as z:
        assert sorted(z.files) == ["book_ticker", "gap", "symbols", "trade"]
        symbols, trade, book = z["symbols"], z["trade"], z["book_ticker"]
        assert trade.dtype["symbol"] == np.int32
        want = by_type(market_jsonl, "trade")
        assert symbols[trade["symbol"]].tolist() == [r["symbol"] for r in want]
        assert trade["trade_id"].tolist() == [r["trade_id"] for r in want]
        assert trade["price"].tolist() == [r["price"] for r in want]
        assert [None if b < 0 else bool(b) for b in trade["best_match"].tolist()] == \
            [r["best_match"] for r in want]
        assert len(book) == len(by_type(market_jsonl, "bookTicker"))
        raw = sum(z[k].nbytes for k in z.files)
    # compressed, and the symbol no longer costs 128 bytes a row
    assert out.stat().st_size < raw / 2
    assert book.dtype.itemsize < 80


def test_progress_counts_every_row_written(btc: Path, tmp_path: Path) -> None:
    from binfeed.exporter import export_queue
    from binfeed.selection import EVERYTHING

    seen: list[int] = []
    report = export_queue(btc, tmp_path / "o", "parquet", ["bookTicker", "trade"], EVERYTHING,
                          progress=seen.append)
    assert seen and seen == sorted(seen) and seen[-1] == report.rows
    assert report.rows == pq.read_metadata(tmp_path / "o" / "trade.parquet").num_rows + \
        pq.read_metadata(tmp_path / "o" / "bookTicker.parquet").num_rows
