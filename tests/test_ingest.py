"""The frame parser from Python (binfeed.ingest) on real data, read back with the queue reader.

- both real captures, ingested frame by frame and in batches, read back and compared value by
  value with Python's own ``json`` parse (and with each other);
- the excerpts' rarer shapes: pre-2024 trades with ``b``/``a``, USD-M futures frames,
  aggTrade / depth / REST snapshots (not stored);
- a corpus of bad frames, one per class, each refused with its status and writing nothing;
- gaps, duplicates, stream_lost and restarts as a reader sees them; closed writers.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from binfeed import errors
from binfeed._ffi import lib
from binfeed.capture import read_batches, read_frames
from binfeed.ingest import Ingestor
from binfeed.ingest_results import PARSE_ERRORS, FrameKind, StreamCounts
from binfeed.queue import QueueReader, QueueWriter
from binfeed.records import BookTicker, Gap, GapReason, Stream, Trade
from tests import captures as c

DATA = Path(__file__).resolve().parent / "data" / "binance"
CAPTURES = [DATA / "spot_btcusdt_20240808.gz", DATA / "spot_ethusdt_20240808.gz"]
EXCERPTS = DATA / "excerpts"


def exchange_us(t: int) -> int:
    """The stored microseconds of an exchange time: Binance sends milliseconds (13 digits)
    or, with timeUnit=MICROSECOND, microseconds (16 digits); 10**14 separates the two."""
    return t * 1000 if t < 10**14 else t


def python_record(frame: bytes, recv_ns: int) -> BookTicker | Trade | None:
    """What binfeed should store for a frame, by Python's json and float()."""
    msg = json.loads(frame)
    data = msg["data"] if isinstance(msg, dict) and "stream" in msg else msg
    if not isinstance(data, dict):
        return None
    event = data.get("e")
    if (event is None and "u" in data) or event == "bookTicker":
        return BookTicker(data["s"].upper(), data["u"], float(data["b"]), float(data["B"]),
                          float(data["a"]), float(data["A"]), recv_ns,
                          exchange_us(data.get("E", 0)))
    if event == "trade":
        return Trade(data["s"].upper(), data["t"], float(data["p"]), float(data["q"]),
                     exchange_us(data["T"]), exchange_us(data["E"]), data["m"], data.get("M"),
                     recv_ns)
    return None


def stored(queue: Path) -> list[object]:
    """Every record of the queue except symbol definitions."""
    reader = QueueReader(queue)
    try:
        return list(reader.records())
    finally:
        reader.close()


def test_real_captures_frame_by_frame_match_pythons_parse(tmp_path: Path) -> None:
    queue = tmp_path / "q"
    expected = []
    kinds: dict[int, int] = {}
    with QueueWriter(queue) as writer, Ingestor(writer) as ingestor:
        for path in CAPTURES:
            for _, recv, frame in read_frames(path):
                kind = ingestor.ingest(frame, recv)
                kinds[kind] = kinds.get(kind, 0) + 1
                record = python_record(frame, recv)
                if record is not None:
                    expected.append(record)
                    assert ingestor.info.seq in (getattr(record, "update_id", None),
                                                 getattr(record, "trade_id", None))
        counters = ingestor.counters()
    # the figures of the files (tests/captures.py): no empty import passes
    assert kinds == {FrameKind.BOOK_TICKER: c.BTC_BOOK_TICKERS + c.ETH_BOOK_TICKERS,
                     FrameKind.TRADE: c.BTC_TRADES + c.ETH_TRADES, FrameKind.UNSTORED: c.UNSTORED}
    assert counters.frames == c.FRAMES
    assert counters.errors == counters.gaps == 0
    got = stored(queue)
    assert len(got) == len(expected) == c.RECORDS
    assert got == expected  # every value bit for bit (float ==), order, symbols, times


def test_batches_store_exactly_what_single_frames_store(tmp_path: Path) -> None:
    with QueueWriter(tmp_path / "single") as writer, Ingestor(writer) as ingestor:
        singles = [ingestor.ingest(frame, recv) for _, recv, frame in read_frames(CAPTURES[1])]
    results = []
    with QueueWriter(tmp_path / "batched") as writer, Ingestor(writer) as ingestor:
        for batch in read_batches(CAPTURES[1], block_size=1 << 16):  # many small batches
            out = np.empty(len(batch), np.int32)
            ingestor.ingest_packed(batch.buf, batch.offsets, batch.recv_ts_ns, out)
            results.extend(out.tolist())
    with QueueWriter(tmp_path / "list") as writer, Ingestor(writer) as ingestor:
        frames = [frame for _, _, frame in read_frames(CAPTURES[1])]
        recvs = [recv for _, recv, _ in read_frames(CAPTURES[1])]
        listed = ingestor.ingest_batch(frames, recvs)
    assert results == singles == listed
    single = stored(tmp_path / "single")
    assert stored(tmp_path / "batched") == single == stored(tmp_path / "list")
    assert len(single) == c.ETH_RECORDS


def test_excerpt_shapes(tmp_path: Path) -> None:
    queue = tmp_path / "q"
    with QueueWriter(queue) as writer, Ingestor(writer) as ingestor:
        for name in ("aggTrade", "depthUpdate", "usdm_futures_depthUpdate",
                     "rest_depth_snapshot"):
            for line in (EXCERPTS / f"{name}.jsonl").read_bytes().splitlines():
                assert ingestor.ingest(line, 1) == FrameKind.UNSTORED, name
        assert writer.stats().records_written == 0  # nothing, not even a symbol
        legacy = (EXCERPTS / "trade_legacy_pre2024-06_with_b_a.jsonl").read_bytes().splitlines()
        for line in legacy:
            assert ingestor.ingest(line, 2) == FrameKind.TRADE
        futures_bt = (EXCERPTS / "usdm_futures_bookTicker.jsonl").read_bytes().splitlines()
        for line in futures_bt:
            assert ingestor.ingest(line, 3) == FrameKind.BOOK_TICKER
        futures_tr = (EXCERPTS / "usdm_futures_trade.jsonl").read_bytes().splitlines()
        # same symbol, other market: ids of another sequence, stored as trades of BTCUSDT
        for line in futures_tr:
            assert ingestor.ingest(line, 4) in (FrameKind.TRADE, FrameKind.DUPLICATE)
    records = stored(queue)
    trades = [r for r in records if isinstance(r, Trade)]
    old = [r for r in trades if r.recv_ts_ns == 2]
    assert old == [python_record(line, 2) for line in legacy]
    assert all(t.best_match is not None for t in old)  # M kept; b/a ignored
    books = [r for r in records if isinstance(r, BookTicker)]
    assert books == [python_record(line, 3) for line in futures_bt]
    assert all(b.timestamp_ms == json.loads(line)["data"]["E"]
               for b, line in zip(books, futures_bt, strict=True))
    futures = [r for r in trades if r.recv_ts_ns == 4]
    assert futures
    assert all(t.best_match is None for t in futures)  # futures send no M


BT = ('{"stream":"btcusdt@bookTicker","data":{"u":%s,"s":%s,"b":%s,"B":"1.5","a":"2.5",'
      '"A":"3"}}')

#: (frame, expected status, a piece of the reason)
BAD_FRAMES = [
    (b"", lib.BF_EJSON, "empty"),
    (b'{"stream":"btcusdt@bookTicker","data":{"u":1', lib.BF_EJSON, "invalid JSON"),
    (b'{"u":1}garbage', lib.BF_EJSON, "invalid JSON"),
    ((BT % ("1", '"BTCUSDT"', '"1.0"')).replace('"b"', '"x"').encode(), lib.BF_EFIELD, '"b"'),
    ((BT % ('"7"', '"BTCUSDT"', '"1.0"')).encode(), lib.BF_EFIELD, '"u"'),
    ((BT % ("-7", '"BTCUSDT"', '"1.0"')).encode(), lib.BF_EFIELD, '"u"'),
    ((BT % ("7", "null", '"1.0"')).encode(), lib.BF_EFIELD, '"s"'),
    ((BT % ("7", '"BTCUSDT"', "1.0")).encode(), lib.BF_EFIELD, "decimal string"),
    ((BT % ("7", '"BTCUSDT"', '"nan"')).encode(), lib.BF_ENUMBER, "nan"),
    ((BT % ("7", '"BTCUSDT"', '"inf"')).encode(), lib.BF_ENUMBER, "inf"),
    ((BT % ("7", '"BTCUSDT"', '"1e5"')).encode(), lib.BF_ENUMBER, "1e5"),
    ((BT % ("7", '"BTCUSDT"', '"1_000"')).encode(), lib.BF_ENUMBER, "1_000"),
    ((BT % ("7", '"BTCUSDT"', '" 1"')).encode(), lib.BF_ENUMBER, '" 1"'),
    ((BT % ("7", '"BTCUSDT"', '""')).encode(), lib.BF_ENUMBER, '""'),
    ((BT % ("7", '"BTCUSDT"', '"-1"')).encode(), lib.BF_ENUMBER, "-1"),
    ((BT % ("7", '"BTCUSDT"', '"1' + "0" * 400 + '"')).encode(), lib.BF_ENUMBER, "decimal"),
    (b'{"u":7,"s":"BTC/USDT","b":"1","B":"1","a":"1","A":"1"}', lib.BF_ESYMBOL, "BTC/USDT"),
    ((BT % ("7", '"BTCUSDT"', '"1"')).replace("btcusdt@", "ethusdt@").encode(), lib.BF_EFIELD,
     "ethusdt@bookTicker"),
    (b'{"e":"kline2","E":1}', lib.BF_EUNKNOWN, "kline2"),
    (b'{"hello":"world"}', lib.BF_EUNKNOWN, "hello"),
    (b"[]", lib.BF_EUNKNOWN, "array"),
    (b'{"e":"trade","E":1,"s":"BTCUSDT","t":1,"p":"1","q":"1","T":1}', lib.BF_EFIELD, '"m"'),
    (b'{"e":"trade","E":1,"s":"BTCUSDT","t":1,"p":"1","q":"1","T":1,"m":true,"M":"no"}',
     lib.BF_EFIELD, '"M"'),
    (b'{"u":1,"s":"BTCUSDT","b":"1","B":"1","a":"1","A":"1","pad":"' + b"x" * 5000 + b'"}',
     lib.BF_ETOOBIG, "max_frame"),
]


@pytest.mark.parametrize(("frame", "status", "mention"), BAD_FRAMES)
def test_bad_frames_write_nothing(tmp_path: Path, frame: bytes, status: int,
                                  mention: str) -> None:
    with QueueWriter(tmp_path / "q") as writer, Ingestor(writer, max_frame=4096) as ingestor:
        assert ingestor.ingest(book(5), 1) == FrameKind.BOOK_TICKER
        before = writer.stats().records_written
        assert ingestor.ingest(frame, 2) == status
        assert status in PARSE_ERRORS
        assert mention in ingestor.last_error
        assert ingestor.info.kind == status
        with pytest.raises((errors.FrameError, errors.InvalidRecordError)) as raised:
            ingestor.ingest_checked(frame, 2)
        assert mention in str(raised.value)
        assert writer.stats().records_written == before
        assert ingestor.counters().errors == 2
    assert len(stored(tmp_path / "q")) == 1


def test_frames_as_str_and_buffers(tmp_path: Path) -> None:
    frame = ('{"u":9,"s":"BTCUSDT","b":"61837.63000000","B":"3.78826000",'
             '"a":"61837.64000000","A":"1.54698000"}')
    with QueueWriter(tmp_path / "q") as writer, Ingestor(writer) as ingestor:
        assert ingestor.ingest(frame, 1) == FrameKind.BOOK_TICKER
        assert ingestor.ingest(bytearray(frame.replace("9", "10", 1), "ascii"), 2) == 1
        assert ingestor.ingest(memoryview(frame.replace("9", "11", 1).encode()), 3) == 1
        with pytest.raises(TypeError, match="bytes or str"):
            ingestor.ingest(12345, 4)  # type: ignore[arg-type]
    assert [r.update_id for r in stored(tmp_path / "q")] == [9, 10, 11]  # type: ignore[attr-defined]


def trade(t: int, symbol: str = "BTCUSDT") -> bytes:
    return (f'{{"e":"trade","E":5,"s":"{symbol}","t":{t},"p":"10.5","q":"2","T":4,'
            f'"m":false,"M":true}}').encode()


def book(u: int, symbol: str = "BTCUSDT") -> bytes:
    return (f'{{"u":{u},"s":"{symbol}","b":"1","B":"2","a":"3","A":"4"}}').encode()


def test_gaps_duplicates_and_lost_streams_as_a_reader_sees_them(tmp_path: Path) -> None:
    queue = tmp_path / "q"
    with QueueWriter(queue) as writer, Ingestor(writer) as ingestor:
        assert [ingestor.ingest(trade(t), t) for t in (100, 101, 104, 104, 102, 105)] == [
            2, 2, 2, 3, 3, 2]
        assert ingestor.ingest(book(7), 1) == 1
        assert ingestor.stream_lost("btcusdt", lib.BF_STREAM_BOOK_TICKER,
                                    lib.BF_GAP_DISCONNECTED) is True
        assert ingestor.stream_lost("XRPUSDT", lib.BF_STREAM_TRADE, lib.BF_GAP_STALLED) is False
        with pytest.raises(errors.InvalidRecordError):
            ingestor.stream_lost("BTCUSDT", 7, lib.BF_GAP_STALLED)
        assert ingestor.ingest(book(7), 2) == FrameKind.DUPLICATE
        assert ingestor.ingest(book(9), 3) == FrameKind.BOOK_TICKER
        assert ingestor.info.gaps == 1
        assert ingestor.last_seq("BTCUSDT", lib.BF_STREAM_TRADE) == 105
        assert ingestor.last_seq("btcusdt", lib.BF_STREAM_BOOK_TICKER) == 9
        assert ingestor.last_seq(1, lib.BF_STREAM_BOOK_TICKER) == 9
        assert ingestor.last_seq("NOPE", lib.BF_STREAM_TRADE) == 0
        # the per-stream figures binfeed import reports
        assert sorted(ingestor.stream_counts(), key=lambda c: c.stream) == [
            StreamCounts("BTCUSDT", Stream.BOOK_TICKER, 2, 1, 1, 9, 3),
            StreamCounts("BTCUSDT", Stream.TRADE, 4, 2, 1, 105, 105),
        ]
        assert sorted(ingestor.stream_stats()) == [("btcusdt@bookTicker", 2, 3),
                                                   ("btcusdt@trade", 4, 105)]
    records = stored(queue)
    gaps = [r for r in records if isinstance(r, Gap)]
    assert gaps == [
        Gap("BTCUSDT", Stream.TRADE, GapReason.SEQUENCE_JUMP, 101, 104, 104),
        Gap("BTCUSDT", Stream.BOOK_TICKER, GapReason.DISCONNECTED, 7, 9, 3),
    ]
    assert [getattr(r, "trade_id", None) for r in records if isinstance(r, Trade)] == [
        100, 101, 104, 105]


def test_restart_resumes_sequences(tmp_path: Path) -> None:
    queue = tmp_path / "q"
    with QueueWriter(queue) as writer, Ingestor(writer) as ingestor:
        for t in (1, 2, 3):
            ingestor.ingest(trade(t), t)
    with QueueWriter(queue) as writer, Ingestor(writer) as ingestor:
        assert ingestor.ingest(trade(3), 9) == FrameKind.DUPLICATE
        assert ingestor.ingest(trade(4), 9) == FrameKind.TRADE  # continues: no gap
        assert ingestor.info.gaps == 0
        assert ingestor.ingest(book(1), 9) == FrameKind.BOOK_TICKER
    with QueueWriter(queue) as writer, Ingestor(writer) as ingestor:
        assert ingestor.ingest(book(5), 10) == FrameKind.BOOK_TICKER
        assert ingestor.info.gaps == 1
    gaps = [r for r in stored(queue) if isinstance(r, Gap)]
    assert gaps == [Gap("BTCUSDT", Stream.BOOK_TICKER, GapReason.WRITER_RESTART, 1, 5, 10)]


def test_a_closed_writer_raises_instead_of_crashing(tmp_path: Path) -> None:
    writer = QueueWriter(tmp_path / "q")
    ingestor = Ingestor(writer)
    assert ingestor.ingest(book(1), 1) == FrameKind.BOOK_TICKER
    writer.close()
    with pytest.raises(errors.QueueClosedError, match="closed"):
        ingestor.ingest(book(2), 2)
    with pytest.raises(errors.QueueClosedError):
        ingestor.ingest_batch([book(3)])
    ingestor.close()
    with pytest.raises(errors.QueueClosedError, match="parser is closed"):
        ingestor.ingest(book(4), 4)
    with pytest.raises(errors.InvalidRecordError, match="max_frame"):
        Ingestor(QueueWriter(tmp_path / "q2"), max_frame=-1)


def test_disk_full_raises_with_what_was_stored_kept(tmp_path: Path) -> None:
    import resource
    import signal

    queue = tmp_path / "q"
    frames = [book(u) for u in range(1, 400)]
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    failure: errors.QueueError | None = None
    with QueueWriter(queue, segment_slots=lib.BF_MIN_SEGMENT_SLOTS) as writer, \
            Ingestor(writer) as ingestor:
        # files may not grow past 4 KiB from now on: the next segment cannot be created
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, hard))
        try:
            for frame in frames:
                ingestor.ingest(frame, 1)
        except errors.QueueError as exc:
            failure = exc
        finally:
            resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
            signal.signal(signal.SIGXFSZ, old_handler)
        done = ingestor.counters().book_tickers
    assert isinstance(failure, (errors.DiskFullError, errors.QueueIOError))
    assert 0 < done < len(frames)
    assert [r.update_id for r in stored(queue)] == list(range(1, done + 1))  # type: ignore[attr-defined]
