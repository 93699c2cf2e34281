"""Round trips through the C writer and the Python reader: values bit-exact, order, counts."""

from __future__ import annotations

import math
import struct
from pathlib import Path

import numpy as np
import pytest

from binfeed import errors
from binfeed.queue import QueueReader, QueueWriter, Segment, list_segments
from binfeed.records import (
    BOOK_TICKER_DTYPE,
    BookTicker,
    Connection,
    ConnectionEvent,
    Gap,
    GapReason,
    RecordType,
    Stream,
    Trade,
)
from tests.queue.helpers import book_values, write_book_tickers


def all_slots(reader: QueueReader) -> np.ndarray:
    parts = []
    while len(batch := reader.poll()):
        parts.append(batch.copy())
    return np.concatenate(parts)


def bits(x: float) -> bytes:
    return struct.pack("<d", x)


def test_book_ticker_round_trip_is_bit_exact(tmp_path: Path) -> None:
    n = 5000
    with QueueWriter(tmp_path / "q") as w:
        write_book_tickers(w, 0, n, ["BTCUSDT", "ETHUSDT", "SOLUSDT"])
    recs = list(QueueReader(tmp_path / "q").records())
    assert len(recs) == n
    for i, r in enumerate(recs):
        assert isinstance(r, BookTicker)
        b, bq, a, aq = book_values(i)
        assert r.symbol == ["BTCUSDT", "ETHUSDT", "SOLUSDT"][i % 3]
        assert r.update_id == i + 1
        assert r.recv_ts_ns == 1_700_000_000_000_000_000 + i
        assert (bits(r.bid_price), bits(r.bid_qty), bits(r.ask_price), bits(r.ask_qty)) == (
            bits(b), bits(bq), bits(a), bits(aq))
        assert r.timestamp_ms == 0


def test_every_record_kind_round_trips(tmp_path: Path) -> None:
    with QueueWriter(tmp_path / "q") as w:
        w.append_trade("btcusdt", 3735683259, 61837.63, 0.02, trade_ts_us=1723161255342000,
                       event_ts_us=1723161255343000, buyer_is_maker=True, best_match=True,
                       recv_ts_ns=7)
        w.append_trade("BTCUSDT", 3735683260, 1e-8, 123456.5, trade_ts_us=1, event_ts_us=2,
                       buyer_is_maker=False, best_match=None, recv_ts_ns=8)
        w.append_gap("BTCUSDT", Stream.TRADE, GapReason.SEQUENCE_JUMP, last_seq=3735683260,
                     next_seq=3735683262, recv_ts_ns=9)
        w.append_connection(ConnectionEvent.CONNECTED, 3, code=1006, detail="wss://x/stream",
                            recv_ts_ns=10)
        w.append_book_ticker("BTCUSDT", 5, 1.5, 2.5, 3.5, 4.5, recv_ts_ns=11,
                             timestamp_us=1723161256313000)
    recs = list(QueueReader(tmp_path / "q").records())
    assert recs == [
        Trade("BTCUSDT", 3735683259, 61837.63, 0.02, 1723161255342000, 1723161255343000, True,
              True, 7),
        Trade("BTCUSDT", 3735683260, 1e-8, 123456.5, 1, 2, False, None, 8),
        Gap("BTCUSDT", Stream.TRADE, GapReason.SEQUENCE_JUMP, 3735683260, 3735683262, 9),
        Connection(ConnectionEvent.CONNECTED, 3, 1006, "wss://x/stream", 10),
        BookTicker("BTCUSDT", 5, 1.5, 2.5, 3.5, 4.5, 11, 1723161256313000),
    ]
    assert recs[0].trade_ts_ms == 1723161255342  # type: ignore[union-attr]
    assert recs[4].timestamp_ms == 1723161256313  # type: ignore[union-attr]
    assert recs[2].stream_name == "btcusdt@trade"  # type: ignore[union-attr]


def test_symbol_ids_are_stable_across_writers(tmp_path: Path) -> None:
    q = tmp_path / "q"
    with QueueWriter(q) as w:
        ids = [w.symbol(s) for s in ("BTCUSDT", "ETHUSDT")]
    with QueueWriter(q) as w:
        assert w.symbol("ethusdt") == ids[1]
        assert w.symbol("BTCUSDT") == ids[0]
        assert w.symbol("SOLUSDT") not in ids
    # every segment is self-describing: a reader of the newest alone resolves all ids
    newest = list_segments(q)[-1][1]
    with Segment(newest) as seg:
        from binfeed.queue import symbols_in
        assert set(symbols_in(seg.slots()).values()) == {"BTCUSDT", "ETHUSDT", "SOLUSDT"}


def test_invalid_records_write_nothing(tmp_path: Path) -> None:
    with QueueWriter(tmp_path / "q") as w:
        with pytest.raises(errors.InvalidRecordError):
            w.append_book_ticker("BTCUSDT", 1, math.nan, 1.0, 2.0, 3.0)
        with pytest.raises(errors.InvalidRecordError):
            w.append_trade("BTCUSDT", 1, math.inf, 1.0, trade_ts_us=1, event_ts_us=1,
                           buyer_is_maker=False)
        with pytest.raises(errors.InvalidRecordError):
            w.append_book_ticker(999, 1, 1.0, 1.0, 2.0, 3.0)  # undefined symbol id
        with pytest.raises(errors.InvalidRecordError):
            w.symbol("BTC USDT")
        with pytest.raises(errors.InvalidRecordError):
            w.symbol("X" * 33)
        bad = np.zeros(2, BOOK_TICKER_DTYPE)
        bad["type"] = RecordType.BOOK_TICKER
        bad["symbol_id"] = w.symbol("BTCUSDT")
        bad["bid_price"][1] = math.nan
        with pytest.raises(errors.InvalidRecordError):
            w.append_slots(bad)  # one bad record refuses the whole batch
    recs = list(QueueReader(tmp_path / "q").records())
    assert recs == []


def test_append_slots_batch_round_trip(tmp_path: Path) -> None:
    with QueueWriter(tmp_path / "q") as w:
        sid = w.symbol("BTCUSDT")
        arr = np.zeros(1000, BOOK_TICKER_DTYPE)
        arr["type"] = RecordType.BOOK_TICKER
        arr["seq"] = np.arange(1, 1001)
        arr["recv_ts_ns"] = np.arange(1000) + 5
        arr["bid_price"] = np.linspace(1, 2, 1000)
        arr["bid_qty"] = 0.5
        arr["ask_price"] = np.linspace(2, 3, 1000)
        arr["ask_qty"] = 0.25
        arr["symbol_id"] = sid
        w.append_slots(arr)
    got = all_slots(QueueReader(tmp_path / "q"))
    bt = got[got["type"] == RecordType.BOOK_TICKER].view(BOOK_TICKER_DTYPE)
    assert len(bt) == 1000
    assert np.array_equal(bt["bid_price"], arr["bid_price"])
    assert np.array_equal(bt["seq"], arr["seq"])
    assert (bt["crc32c"] != 0).all()


def test_numpy_view_is_zero_copy(tmp_path: Path) -> None:
    with QueueWriter(tmp_path / "q", segment_slots=4096) as w:
        write_book_tickers(w, 0, 1000, ["BTCUSDT"])
        seg_path = list_segments(tmp_path / "q")[-1][1]
        with Segment(seg_path) as seg:
            view = seg.slots()
            assert not view.flags.owndata and not view.flags.writeable
            n0 = len(view)
            write_book_tickers(w, 1000, 10, ["BTCUSDT"])
            assert seg.committed() == n0 + 10
            bt = seg.slots().view(BOOK_TICKER_DTYPE)
            assert bt["seq"][-1] == 1010
            del view, bt


def test_rolls_keep_order_and_count(tmp_path: Path) -> None:
    q = tmp_path / "q"
    with QueueWriter(q, segment_slots=64) as w:
        write_book_tickers(w, 0, 3000, ["BTCUSDT", "ETHUSDT"])
    segs = list_segments(q)
    assert len(segs) > 40
    assert [s for s, _ in segs] == list(range(segs[0][0], segs[0][0] + len(segs)))
    recs = list(QueueReader(q).records())
    assert [r.update_id for r in recs] == list(range(1, 3001))  # type: ignore[union-attr]
    # sealed segments give back the space they did not use
    for _, p in segs[:-1]:
        with Segment(p) as seg:
            assert seg.sealed()
            assert p.stat().st_size == 4096 + 128 * seg.committed()


def test_reader_from_end_sees_only_new_records(tmp_path: Path) -> None:
    q = tmp_path / "q"
    with QueueWriter(q, segment_slots=64) as w:
        write_book_tickers(w, 0, 100, ["BTCUSDT"])
        reader = QueueReader(q, from_end=True)
        assert list(reader.records()) == []
        write_book_tickers(w, 100, 200, ["BTCUSDT"])
        got = [r.update_id for r in reader.records()]  # type: ignore[union-attr]
        assert got == list(range(101, 301))
        assert reader.symbol(1) == "BTCUSDT"


def test_missing_queue_is_a_clear_error(tmp_path: Path) -> None:
    # the messages are C's (bfr_open): what is missing, and what to do
    with pytest.raises(errors.QueueNotFoundError, match=r"nope: .*start a writer first"):
        QueueReader(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(errors.QueueNotFoundError, match=r"no segment yet.*once a writer runs"):
        QueueReader(tmp_path / "empty")
    (tmp_path / "file").write_text("")
    with pytest.raises(errors.QueueIOError, match="file: Not a directory"):
        QueueReader(tmp_path / "file")
    with pytest.raises(errors.ReadTimeout):
        QueueReader.wait_for(tmp_path / "never", timeout=0.1)
