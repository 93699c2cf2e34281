"""``binfeed.open``: Arrow, pandas and polars tables equal the JSON lines of ``binfeed
replay`` of the same queue, value for value and in order (real captures); their schemas;
batches; symbols; time windows return what ``--from/--to`` returns, in ordered and in
unordered queues; damage; a queue that grows; the missing extra."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

import binfeed
from binfeed import errors
from binfeed.queue import QueueWriter, list_segments
from binfeed.records import ConnectionEvent
from binfeed.seek import Plan, SeekCache, Span, extents, plan
from binfeed.tables import SCHEMAS, type_mask
from tests import captures as c
from tests.analysis.conftest import ETH_CUTS, by_type, jsonl

TABLES = ("bookTicker", "trade", "gap", "connection", "symbol")
TIMES = {"recv_time": "recv_ts_ns", "trade_time": "trade_ts_us", "event_time": "event_ts_us"}
ROOT = Path(__file__).resolve().parents[2]


def same(a: object, b: object) -> bool:
    """Equal and of the same Python type (True is not 1, 1.0 is not 1)."""
    if a is None or b is None:
        return a is None and b is None
    return type(a) is type(b) and a == b


def assert_rows(table_rows: list[dict[str, Any]], json_rows: list[dict[str, Any]],
                record_type: str) -> None:
    """Every JSON key has the same value in the table's row; the table's other columns
    are the times (equal to their *_ts_* keys) and keys the JSON line leaves out (null)."""
    assert len(table_rows) == len(json_rows)
    names = [name for name, _, _ in SCHEMAS[record_type]]
    for i, (row, want) in enumerate(zip(table_rows, json_rows, strict=True)):
        assert list(row) == names
        for key, value in want.items():
            assert same(row[key], value), (i, key, row[key], value)
        for key in row.keys() - want.keys():
            if key in TIMES:
                scale = 1000 if TIMES[key].endswith("_us") else 1
                assert row[key] == row[TIMES[key]] * scale, (i, key)
            else:
                assert row[key] is None, (i, key)


def arrow_rows(table: pa.Table) -> list[dict[str, Any]]:
    """Rows with times as ns since the epoch."""
    for name in TIMES:
        if name in table.column_names:
            i = table.column_names.index(name)
            table = table.set_column(i, name, table.column(name).cast(pa.int64()))
    return table.to_pylist()


def test_the_fixture_holds_every_kind_of_record(market_jsonl: list[dict[str, Any]]) -> None:
    counts = {t: len(by_type(market_jsonl, t)) for t in TABLES}
    futures_bt, futures_tr = 10, 5  # tests/data/binance/excerpts/usdm_futures_*.jsonl
    cut = sum(len(r) for r in ETH_CUTS)
    assert counts["bookTicker"] == c.BTC_BOOK_TICKERS + c.ETH_BOOK_TICKERS + futures_bt
    assert counts["trade"] == c.BTC_TRADES + c.ETH_TRADES - cut + futures_tr
    assert counts["gap"] >= len(ETH_CUTS) and counts["connection"] == 3
    assert any(r.get("timestamp_ms") for r in by_type(market_jsonl, "bookTicker"))
    assert any(r["best_match"] is None for r in by_type(market_jsonl, "trade"))


@pytest.mark.parametrize("record_type", TABLES)
def test_arrow_tables_equal_the_json_lines(market: Path, market_jsonl: list[dict[str, Any]],
                                           record_type: str) -> None:
    table = binfeed.open(market).to_table(record_type)
    assert_rows(arrow_rows(table), by_type(market_jsonl, record_type), record_type)


def test_the_schema_is_the_contract(market: Path) -> None:
    ds = binfeed.open(market)
    trade = ds.to_table("trade").schema
    assert trade.field("symbol").type == pa.dictionary(pa.int32(), pa.string())
    assert trade.field("type").type == pa.dictionary(pa.int8(), pa.string())
    for name in ("trade_id", "trade_ts_ms", "event_ts_ms", "recv_ts_ns", "trade_ts_us"):
        assert trade.field(name).type == pa.int64() and not trade.field(name).nullable
    assert trade.field("price").type == pa.float64()
    assert trade.field("buyer_is_maker").type == pa.bool_()
    assert trade.field("best_match").type == pa.bool_() and trade.field("best_match").nullable
    for name in ("recv_time", "trade_time", "event_time"):
        assert trade.field(name).type == pa.timestamp("ns", tz="UTC")
    book = ds.to_table("bookTicker").schema
    assert book.field("timestamp_ms").nullable and book.field("timestamp_us").type == pa.int64()
    assert ds.to_table("gap").schema.field("last_seq").nullable
    # a table with no rows has its schema all the same
    empty = ds.to_table("recovery")
    assert empty.num_rows == 0 and empty.column_names == [n for n, _, _ in SCHEMAS["recovery"]]


def _pandas_rows(df: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    for row in df.to_dict("records"):
        clean = {}
        for key, value in row.items():
            if value is pd.NA:
                value = None
            elif isinstance(value, pd.Timestamp):
                value = value.value
            elif isinstance(value, np.generic):
                value = value.item()
            clean[key] = value
        out.append(clean)
    return out


@pytest.mark.parametrize("record_type", ["bookTicker", "trade", "gap", "connection"])
def test_pandas_frames_equal_the_json_lines(market: Path,
                                            market_jsonl: list[dict[str, Any]],
                                            record_type: str) -> None:
    df = binfeed.open(market).to_pandas(record_type)
    assert_rows(_pandas_rows(df), by_type(market_jsonl, record_type), record_type)
    assert str(df["symbol" if record_type != "connection" else "event"].dtype) == "category"
    assert str(df["recv_time"].dtype) == "datetime64[ns, UTC]"
    if record_type == "trade":
        assert str(df["best_match"].dtype) == "boolean"
        assert df["buyer_is_maker"].dtype == bool and df["trade_id"].dtype == np.int64
    if record_type == "gap":
        assert str(df["last_seq"].dtype) == "Int64"


def _polars_rows(df: pl.DataFrame) -> list[dict[str, Any]]:
    times = [n for n in TIMES if n in df.columns]
    return df.with_columns(pl.col(n).cast(pl.Int64) for n in times).to_dicts()


@pytest.mark.parametrize("record_type", ["bookTicker", "trade", "gap", "connection"])
def test_polars_frames_equal_the_json_lines(market: Path,
                                            market_jsonl: list[dict[str, Any]],
                                            record_type: str) -> None:
    df = binfeed.open(market).to_polars(record_type)
    assert_rows(_polars_rows(df), by_type(market_jsonl, record_type), record_type)
    assert df.schema["recv_time"] == pl.Datetime("ns", "UTC")
    if record_type != "connection":
        assert df.schema["symbol"] == pl.Categorical


def test_batches_cut_the_same_records(market: Path) -> None:
    ds = binfeed.open(market)
    batches = list(ds.to_batches("bookTicker", batch_records=5000))
    assert all(b.num_rows <= 5000 for b in batches) and len(batches) > 10
    whole = ds.to_table("bookTicker")
    assert pa.Table.from_batches(batches).to_pydict() == whole.to_pydict()


def test_symbols_select_in_any_case(market: Path, market_jsonl: list[dict[str, Any]]) -> None:
    ds = binfeed.open(market)
    assert ds.symbols == ["BTCUSDT", "ETHUSDT"]
    eth = ds.to_table("trade", symbols="ethusdt")
    want = [r for r in by_type(market_jsonl, "trade") if r["symbol"] == "ETHUSDT"]
    assert_rows(arrow_rows(eth), want, "trade")
    # the dictionary holds what was asked for, nothing else
    assert eth.column("symbol").chunk(0).dictionary.to_pylist() == ["ETHUSDT"]
    both = ds.to_table("trade", symbols=["BTCUSDT", "ethUSDT"])
    assert both.num_rows == len(by_type(market_jsonl, "trade"))
    # connection records name no symbol: a symbol selection keeps them
    assert ds.to_table("connection", symbols="ethusdt").num_rows == 3


def test_symbols_that_are_not_there(market: Path) -> None:
    ds = binfeed.open(market)
    with pytest.raises(errors.SelectionError, match=r"has no SOLUSDT .*BTCUSDT, ETHUSDT"):
        ds.to_table("trade", symbols="solusdt")
    with pytest.raises(errors.SelectionError, match="has no SOLUSDT"):
        ds.to_batches("trade", symbols="solusdt")  # before the first batch is asked for
    with pytest.warns(UserWarning, match="has no SOLUSDT"):
        got = ds.to_table("trade", symbols="solusdt,btcusdt")
    assert set(got.column("symbol").to_pylist()) == {"BTCUSDT"}
    with pytest.raises(errors.SelectionError, match="unknown record type 'depth'"):
        ds.to_table("depth")


def test_no_queue_says_so(tmp_path: Path) -> None:
    with pytest.raises(errors.QueueNotFoundError, match="does not exist"):
        binfeed.open(tmp_path / "nothing")


# -- time windows --------------------------------------------------------------------------

def _windows(rows: list[dict[str, Any]]) -> list[tuple[int | None, int | None]]:
    """Windows of the queue's receive times: bounds on records, between records, open
    ends, before and after everything, empty."""
    recv = sorted({r["recv_ts_ns"] for r in rows if r["type"] in ("bookTicker", "trade")})
    lo, hi = recv[0], recv[-1]
    q1, q2, q3 = (recv[len(recv) * k // 4] for k in (1, 2, 3))
    return [(q1, q3), (q1, None), (None, q2), (q2 + 1, q2 + 1), (q1 - 1, q1 + 1),
            (lo, hi), (lo, hi + 1), (None, lo), (hi + 1, None), (0, 1), (q3, q1)]


def _cli_window(queue: Path, start: int | None, end: int | None,
                *more: str) -> list[dict[str, Any]]:
    args = list(more)
    if start is not None:
        args += ["--from", str(start)]
    if end is not None:
        args += ["--to", str(end)]
    return jsonl(queue, *args)


@pytest.mark.slow  # a replay per window
@pytest.mark.parametrize("queue_name", ["btc", "market"])
def test_time_windows_return_what_from_to_returns(queue_name: str,
                                                  request: pytest.FixtureRequest) -> None:
    queue: Path = request.getfixturevalue(queue_name)
    rows: list[dict[str, Any]] = request.getfixturevalue(f"{queue_name}_jsonl")
    ds = binfeed.open(queue)
    for start, end in _windows(rows):
        cli_rows = _cli_window(queue, start, end)
        # an independent oracle too: the whole replay, filtered here
        oracle = [r for r in rows if (start is None or r["recv_ts_ns"] >= start)
                  and (end is None or r["recv_ts_ns"] < end)]
        assert cli_rows == oracle, (start, end)
        for record_type in ("bookTicker", "trade", "gap"):
            got = ds.to_table(record_type, start=start, end=end)
            assert_rows(arrow_rows(got), by_type(cli_rows, record_type), record_type)


def test_time_windows_with_symbols_and_other_time_forms(btc: Path, market: Path) -> None:
    ds = binfeed.open(market)
    start, end = "2024-08-08T23:55:00Z", "2024-08-08T23:57:30.5Z"
    want = by_type(_cli_window(market, None, None, "--from", start, "--to", end,
                               "--symbols", "ethusdt"), "trade")
    assert want
    for s, e in [(start, end), (pd.Timestamp(start), pd.Timestamp(end)),
                 (np.datetime64(start[:-1]), np.datetime64(end[:-1])),
                 (pd.Timestamp(start).to_pydatetime(), pd.Timestamp(end).to_pydatetime())]:
        got = ds.to_table("trade", symbols="ethusdt", start=s, end=e)
        assert_rows(arrow_rows(got), want, "trade")
    with pytest.raises(errors.ConfigError, match="invalid time"):
        ds.to_table("trade", start="yesterday")


def test_an_ordered_queue_is_searched_not_read_whole(btc: Path) -> None:
    segments = [seq for seq, _ in list_segments(btc)]
    assert len(segments) >= 9
    rows = jsonl(btc)
    recv = [r["recv_ts_ns"] for r in by_type(rows, "trade")]
    start, end = recv[len(recv) // 2], recv[len(recv) // 2 + 100]
    found = extents(btc, type_mask(["trade"]), start, end, SeekCache())
    # one segment (or two, at a boundary), entered at the window's first trade
    assert 1 <= len(found) <= 2
    assert found[0].first > 0 and found[-1].stop is not None


def test_where_the_second_capture_starts_the_segment_is_read_whole(market: Path) -> None:
    from binfeed.queue import Segment

    mask = type_mask(["bookTicker", "trade"])
    spans = []
    for _, file in list_segments(market):
        with Segment(file) as segment:
            spans.append(SeekCache().span(segment, mask))
    assert [s.ordered for s in spans].count(False) >= 1
    mid = spans[0].min_ns + (spans[0].max_ns - spans[0].min_ns) // 2
    found = extents(market, mask, mid, mid + 10**9, SeekCache())
    whole = [e for e in found if e.first == 0 and e.stop is None]
    assert whole and all(not spans[e.seq - 1].ordered for e in whole)


def test_plan_decides_from_the_span() -> None:
    ordered, unordered, empty = Span(5, 100, 200, True), Span(5, 100, 200, False), \
        Span(0, 0, 0, True)
    assert plan(empty, None, None) is Plan.SKIP
    assert plan(ordered, None, None) is Plan.WHOLE
    assert plan(ordered, 201, None) is Plan.SKIP
    assert plan(ordered, 200, None) is Plan.SEARCH
    assert plan(ordered, None, 100) is Plan.SKIP
    assert plan(ordered, None, 101) is Plan.SEARCH
    assert plan(unordered, 150, 160) is Plan.WHOLE
    assert plan(unordered, 300, None) is Plan.SKIP


def test_a_dataset_measures_a_sealed_segment_once(btc: Path) -> None:
    ds = binfeed.open(btc)
    ds.to_table("trade", start=1723161400_000_000_000)
    spans = dict(ds._cache.spans)
    assert len(spans) == len(list_segments(btc))
    ds.to_table("trade", start=1723161500_000_000_000)
    assert ds._cache.spans == spans


# -- a queue that grows, damage, the extra -------------------------------------------------

def test_each_read_takes_what_is_published_now(tmp_path: Path) -> None:
    queue = tmp_path / "q"
    with QueueWriter(queue, segment_slots=64) as w:
        for i in range(100):
            w.append_book_ticker("BTCUSDT", i + 1, 1.0 + i, 1.0, 2.0 + i, 2.0,
                                 recv_ts_ns=1_000 + i)
        ds = binfeed.open(queue)
        first = ds.to_table("bookTicker")
        assert first.column("update_id").to_pylist() == list(range(1, 101))
        w.append_book_ticker("ETHUSDT", 7, 3.0, 3.0, 4.0, 4.0, recv_ts_ns=5_000)
        w.append_connection(ConnectionEvent.CONNECTED, 2, recv_ts_ns=5_001)
        later = ds.to_table("bookTicker", start=4_000)
        assert later.to_pydict()["symbol"] == ["ETHUSDT"]
        assert ds.to_table("connection").num_rows == 1


def _flip_a_byte_of_a_trade(queue: Path) -> int:
    """Damages the recv time of the 11th trade of the first segment; returns its slot."""
    from binfeed.queue import Segment
    from binfeed.records import RecordType

    seg_path = list_segments(queue)[0][1]
    with Segment(seg_path) as seg:
        types = np.array(seg.slots()["type"])
        slot = int(np.flatnonzero(types == RecordType.TRADE)[10])
        offset = seg.header_size + slot * seg.slot_size + 16
    with open(seg_path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)
        f.seek(offset)
        f.write(bytes([b[0] ^ 0xFF]))
    return slot


def test_damage_is_raised_or_reported_never_returned(tmp_path: Path, btc: Path) -> None:
    import shutil

    queue = tmp_path / "q"
    shutil.copytree(btc, queue)
    slot = _flip_a_byte_of_a_trade(queue)
    with pytest.raises(errors.DamagedRecordError, match=f"slot {slot}: fails its checksum"):
        binfeed.open(queue).to_table("trade")
    seen: list[object] = []
    got = binfeed.open(queue, on_damage=seen.append).to_table("trade")
    assert len(seen) == 1 and seen[0].slot == slot  # type: ignore[attr-defined]
    assert got.num_rows == c.BTC_TRADES - 1
    # the good records are those replay prints (it reports the damage and exits 1)
    from tests.analysis.conftest import cli

    code, out, err = cli("replay", str(queue), "--format", "jsonl")
    assert code == 1 and "fails its checksum" in err
    import json

    want = [json.loads(x) for x in out.splitlines() if '"type":"trade"' in x]
    assert_rows(arrow_rows(got), want, "trade")
    # a windowed read meets it too, when it reads that segment
    seen.clear()
    binfeed.open(queue, on_damage=seen.append).to_table("trade", start=0)
    assert len(seen) == 1


def test_without_the_extra_the_message_names_it(btc: Path) -> None:
    code = (
        "import sys; sys.modules['pyarrow'] = None\n"
        "import binfeed\n"
        f"binfeed.open({str(btc)!r}).to_table('trade')\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, timeout=60)
    assert proc.returncode == 1
    assert "MissingExtraError: pyarrow is not installed" in proc.stderr
    assert "pip install 'binfeed[arrow]'" in proc.stderr
    assert issubclass(errors.MissingExtraError, ImportError)
    code = ("import sys; sys.modules['pyarrow'] = None\n"
            "from binfeed.cli import main\n"
            "main(prog_name='binfeed')\n")
    out = btc.parent / "no-extra"
    proc = subprocess.run([sys.executable, "-c", code, "export", str(btc), "-o", str(out)],
                          capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 1 and not out.exists()
    assert proc.stderr.startswith("Error: pyarrow is not installed")
    assert "pip install 'binfeed[arrow]'" in proc.stderr


def test_import_binfeed_stays_light() -> None:
    code = ("import sys, binfeed\n"
            "heavy = [m for m in ('pyarrow', 'pandas', 'polars', 'numpy', 'binfeed._binfeed_c')"
            " if m in sys.modules]\n"
            "print(heavy)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, timeout=60)
    assert proc.stdout.strip() == "[]", proc.stderr


@pytest.mark.slow  # rewrites every slot from Python
def test_version_1_segments_give_the_same_tables(tmp_path: Path, btc: Path,
                                                  btc_jsonl: list[dict[str, Any]]) -> None:
    import shutil

    from tests.queue.test_damage import make_v1

    queue = tmp_path / "q"
    shutil.copytree(btc, queue)
    make_v1(queue)  # millisecond exchange times in the files: C converts them
    ds = binfeed.open(queue)
    for record_type in ("bookTicker", "trade"):
        want = by_type(btc_jsonl, record_type)
        assert_rows(arrow_rows(ds.to_table(record_type)), want, record_type)
        mid = want[len(want) // 2]["recv_ts_ns"]
        got = ds.to_table(record_type, start=mid)
        assert_rows(arrow_rows(got), [r for r in want if r["recv_ts_ns"] >= mid], record_type)
    # a writer carries on in version 2 and says so in a RECOVERY record
    with QueueWriter(queue) as w:
        w.append_book_ticker("BTCUSDT", 1, 1.0, 1.0, 2.0, 1.0, recv_ts_ns=1)
    recovery = by_type(jsonl(queue), "recovery")
    assert [r["event"] for r in recovery] == ["older_format"]
    assert_rows(arrow_rows(ds.to_table("recovery")), recovery, "recovery")
    assert ds.to_pandas("recovery")["detail"].tolist() == [recovery[0]["detail"]]


def test_utf8_symbols_are_named_as_the_json_lines_name_them(tmp_path: Path) -> None:
    from binfeed.records import GapReason, Stream

    queue = tmp_path / "q"
    with QueueWriter(queue) as w:
        w.append_book_ticker("币安人生USDT", 1, 0.5, 10.0, 0.51, 12.0, recv_ts_ns=10)
        w.append_gap("币安人生USDT", Stream.TRADE, GapReason.SEQUENCE_JUMP, last_seq=3,
                     next_seq=9, recv_ts_ns=11)
    rows = jsonl(queue)
    ds = binfeed.open(queue)
    assert ds.symbols == ["币安人生USDT"]
    for record_type in ("bookTicker", "gap"):
        assert_rows(arrow_rows(ds.to_table(record_type, symbols="币安人生usdt")),
                    by_type(rows, record_type), record_type)
    assert ds.to_table("gap").column("stream").to_pylist() == ["币安人生usdt@trade"]
