"""Selection.keep (the one place that decides which slots a reader keeps, by type, symbol
and receive time) on slots made by the real writer, and RecordType.parse, the names
filters take."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from binfeed.queue import QueueReader, QueueWriter
from binfeed.records import ConnectionEvent, GapReason, RecordType, Stream, slot_symbol_ids
from binfeed.selection import Selection


@pytest.fixture
def slots(tmp_path: Path) -> tuple[np.ndarray, dict[int, str]]:
    """SYMBOL, bookTicker, trade, gap and connection records of two symbols, in one batch."""
    q = tmp_path / "q"
    with QueueWriter(q) as w:
        w.append_book_ticker("BTCUSDT", 1, 1.0, 2.0, 3.0, 4.0, recv_ts_ns=100)
        w.append_book_ticker("ETHUSDT", 2, 1.0, 2.0, 3.0, 4.0, recv_ts_ns=200)
        w.append_trade("ETHUSDT", 3, 1.0, 2.0, trade_ts_us=1, event_ts_us=2,
                       buyer_is_maker=False, best_match=None, recv_ts_ns=300)
        w.append_gap("BTCUSDT", Stream.TRADE, GapReason.DISCONNECTED, last_seq=1,
                     recv_ts_ns=400)
        w.append_connection(ConnectionEvent.CONNECTED, 1, code=0, detail="", recv_ts_ns=500)
    reader = QueueReader(q)
    batch = reader.poll()
    return batch.copy(), dict(reader.symbols)


def kinds(batch: np.ndarray, keep: np.ndarray | None) -> list[tuple[str, int]]:
    kept = batch if keep is None else batch[keep]
    return [(RecordType(int(t)).json_name, int(r)) for t, r in
            zip(kept["type"].tolist(), kept["recv_ts_ns"].tolist(), strict=True)]


def test_symbol_ids_of_every_kind_of_slot(slots: tuple[np.ndarray, dict[int, str]]) -> None:
    batch, names = slots
    ids = {name: sid for sid, name in names.items()}
    got = [(RecordType(int(t)).json_name, int(s)) for t, s in
           zip(batch["type"].tolist(), slot_symbol_ids(batch).tolist(), strict=True)]
    btc, eth = ids["BTCUSDT"], ids["ETHUSDT"]
    assert got == [("symbol", btc), ("bookTicker", btc), ("symbol", eth), ("bookTicker", eth),
                   ("trade", eth), ("gap", btc), ("connection", 0)]


def test_keep_by_symbol_type_and_time(slots: tuple[np.ndarray, dict[int, str]]) -> None:
    batch, names = slots
    assert Selection().keep(batch, names) is None  # keeps everything: no work
    eth = Selection.of(["ethusdt"]).keep(batch, names)
    assert kinds(batch, eth)[1:] == [("bookTicker", 200), ("trade", 300), ("connection", 500)]
    trades = Selection.of(types=["trade", RecordType.GAP]).keep(batch, names)
    assert kinds(batch, trades) == [("trade", 300), ("gap", 400)]
    btc_window = Selection.of(["BTCUSDT"], start_ns=150, end_ns=500).keep(batch, names)
    assert kinds(batch, btc_window) == [("gap", 400)]
    nothing_known = Selection.of(["XRPUSDT"], types=["bookTicker"]).keep(batch, names)
    assert kinds(batch, nothing_known) == []


def test_record_type_names() -> None:
    assert [t.json_name for t in RecordType] == ["bookTicker", "trade", "symbol", "gap",
                                                 "connection", "recovery"]
    for t in RecordType:
        assert RecordType.parse(t.json_name) is t
        assert RecordType.parse(t.json_name.upper()) is t
        assert RecordType.parse(t.name.lower()) is t
        assert RecordType.parse(int(t)) is t
    for bad in ("book", 3, True, None):
        with pytest.raises(ValueError, match="unknown record type"):
            RecordType.parse(bad)  # type: ignore[arg-type]
