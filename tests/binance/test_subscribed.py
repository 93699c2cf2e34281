"""Only subscribed streams are stored; each connection's records precede its market data.

The connection machine drives the real parser and queue through its ConnectionSink here
(frames in, the queue read back), then the whole recorder runs against the loopback
server misbehaving on purpose: streams nobody subscribed to, replies that come late (the
streams already flowing), refusals after data. Everything is checked from the queue.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from binfeed.binance.events import Opcode
from binfeed.binance.faults import Fault
from binfeed.binance.machine import ConnectionMachine
from binfeed.binance.machine_types import ConnectionSettings, FilterTally
from binfeed.binance.server import open_server
from binfeed.binance.sink import ConnectionSink
from binfeed.binance.sources import SourceFrame, list_source
from binfeed.binance.streams import StreamId, StreamKind
from binfeed.ingest import Ingestor
from binfeed.queue import QueueReader, QueueWriter
from binfeed.records import BookTicker, Connection, ConnectionEvent, Gap, Trade

from .machine_support import F, reply
from .recorder_support import (
    assert_contiguous,
    capture_frames,
    config_for,
    expected_by_stream,
    idle,
    read_queue,
    record_until,
)

BTC = StreamId("btcusdt", StreamKind.BOOK_TICKER)
ETH = StreamId("ethusdt", StreamKind.BOOK_TICKER)


def renamed(frames: list[SourceFrame], symbol: str) -> list[SourceFrame]:
    """Real frames of another symbol, as if they were ``symbol``'s (a stream the captures
    do not have)."""
    out = []
    for f in frames:
        payload = json.loads(f.payload)
        payload["s"] = symbol.upper()
        out.append(SourceFrame(f.recv_ns, symbol, f.stream, json.dumps(payload)))
    return out


def frames_of(name: str, n: int) -> list[SourceFrame]:
    symbol, _, stream = name.partition("@")
    if symbol in ("btcusdt", "ethusdt"):
        return [f for f in capture_frames() if f.name == name][:n]
    return renamed([f for f in capture_frames() if f.name == f"ethusdt@{stream}"][:n], symbol)


def wire(frames: list[SourceFrame]) -> list[F]:
    return [F(Opcode.TEXT, f'{{"stream":"{f.name}","data":{f.payload}}}'.encode())
            for f in frames]


def queue_items(path: Path) -> list[BookTicker | Trade | Gap | Connection]:
    with QueueReader(path) as reader:
        return [r for r in reader.records() if isinstance(r, BookTicker | Trade | Gap | Connection)]


def symbols_of(path: Path) -> set[str]:
    with QueueReader(path) as reader:
        for _ in reader.records():
            pass
        return set(reader.symbols.values())


def name(rec: BookTicker | Trade) -> str:
    return f"{rec.symbol.lower()}@{'bookTicker' if isinstance(rec, BookTicker) else 'trade'}"


class Conn:
    """A machine over the real parser and queue (the glue's part played by the test)."""

    def __init__(self, ingestor: Ingestor, writer: QueueWriter, conn_id: int,
                 in_url: list[StreamId], to_subscribe: list[StreamId], tally: FilterTally,
                 **settings: int) -> None:
        self.m = ConnectionMachine(conn_id, in_url, to_subscribe,
                                   ConnectionSink(ingestor, writer), tally=tally,
                                   settings=ConnectionSettings(**settings))  # type: ignore[arg-type]
        self.m.opened(0.0)
        self.sent = [json.loads(f.text) for f in self.m.frames_to_send() if hasattr(f, "text")]

    def feed(self, frames: list[F], recv_ns: int) -> None:
        self.m.receive_frames(frames, recv_ns, 1.0)


@pytest.fixture
def queue(tmp_path: Path) -> Iterator[tuple[Path, QueueWriter, Ingestor]]:
    path = tmp_path / "q"
    with QueueWriter(path) as writer, Ingestor(writer) as ingestor:
        yield path, writer, ingestor


# -- the machine over the real parser ----------------------------------------------------


def test_other_streams_are_counted_logged_once_and_never_stored(
        queue: tuple[Path, QueueWriter, Ingestor], caplog: pytest.LogCaptureFixture) -> None:
    path, writer, ingestor = queue
    tally = FilterTally()
    c = Conn(ingestor, writer, 1, [BTC], [], tally)
    btc, eth = wire(frames_of("btcusdt@bookTicker", 50)), wire(frames_of("ethusdt@bookTicker", 50))
    xrp = wire(frames_of("xrpusdt@trade", 50))
    btc_trades = wire(frames_of("btcusdt@trade", 10))  # another kind of the same symbol
    with caplog.at_level(logging.WARNING, "binfeed.record"):
        for i in range(0, 50, 10):
            c.feed(btc[i:i + 10] + eth[i:i + 10] + xrp[i:i + 10], 1000 + i)
        c.feed(btc_trades, 2000)
    assert c.m.counters.unsubscribed == 110
    assert tally.unsubscribed == {"ethusdt@bookTicker": 50, "xrpusdt@trade": 50,
                                  "btcusdt@trade": 10}
    assert ingestor.counters().unsubscribed == 110
    warnings = [r.getMessage() for r in caplog.records if "not subscribed" in r.getMessage()]
    assert len(warnings) == 3 and any("xrpusdt@trade" in w for w in warnings)
    writer.sync()
    stored = [r for r in queue_items(path) if isinstance(r, BookTicker | Trade)]
    assert [name(r) for r in stored] == ["btcusdt@bookTicker"] * 50
    assert [r.update_id for r in stored] == [json.loads(f.data)["data"]["u"] for f in btc]
    assert symbols_of(path) == {"BTCUSDT"}  # not even a SYMBOL record of the others


def test_frames_of_a_pending_subscribe_are_held_then_stored_in_order(
        queue: tuple[Path, QueueWriter, Ingestor]) -> None:
    path, writer, ingestor = queue
    c = Conn(ingestor, writer, 1, [BTC], [ETH], FilterTally())
    (sub,) = c.sent
    btc, eth = wire(frames_of("btcusdt@bookTicker", 30)), wire(frames_of("ethusdt@bookTicker", 30))
    c.feed(btc[:10] + eth[:10], 111)  # eth before its reply: held
    assert c.m.counters.held == 10
    c.feed([*eth[10:20], reply(sub["id"]), *eth[20:], *btc[10:]], 222)
    writer.sync()
    items = queue_items(path)
    kinds = [(type(r).__name__, r.event if isinstance(r, Connection) else name(r))
             for r in items]
    subscribed_eth = kinds.index(("Connection", ConnectionEvent.SUBSCRIBED), 2)
    assert kinds[:2] == [("Connection", ConnectionEvent.CONNECTED),
                         ("Connection", ConnectionEvent.SUBSCRIBED)]
    assert items[subscribed_eth].detail == "ethusdt@bookTicker"
    eth_stored = [r for r in items if isinstance(r, BookTicker) and r.symbol == "ETHUSDT"]
    assert [r.update_id for r in eth_stored] == [json.loads(f.data)["data"]["u"] for f in eth]
    # held frames keep their receive time and come right after the reply's record
    assert [r.recv_ts_ns for r in eth_stored] == [111] * 10 + [222] * 20
    first_eth = next(i for i, r in enumerate(items) if isinstance(r, BookTicker)
                     and r.symbol == "ETHUSDT")
    assert first_eth == subscribed_eth + 1
    btc_stored = [r.update_id for r in items if isinstance(r, BookTicker) and r.symbol == "BTCUSDT"]
    assert btc_stored == [json.loads(f.data)["data"]["u"] for f in btc]
    counters = ingestor.counters()
    assert counters.frames == counters.book_tickers + counters.control == 61  # each frame once


def test_frames_before_a_refused_subscribe_are_never_stored(
        queue: tuple[Path, QueueWriter, Ingestor]) -> None:
    path, writer, ingestor = queue
    tally = FilterTally()
    c = Conn(ingestor, writer, 1, [BTC], [ETH], tally)
    (sub,) = c.sent
    eth = wire(frames_of("ethusdt@bookTicker", 20))
    c.feed(eth[:15], 1)
    c.feed([reply(sub["id"], error=True), *eth[15:]], 2)
    assert c.m.counters.unsubscribed == 20
    assert tally.unsubscribed == {"ethusdt@bookTicker": 20}
    assert tally.held_dropped == 0
    writer.sync()
    events = [r.event for r in queue_items(path) if isinstance(r, Connection)]
    assert events == [ConnectionEvent.CONNECTED, ConnectionEvent.SUBSCRIBED,
                      ConnectionEvent.SUBSCRIBE_REFUSED]
    assert not [r for r in queue_items(path) if isinstance(r, BookTicker | Trade)]
    assert symbols_of(path) == set()


def test_streams_added_and_removed_on_an_open_connection(
        queue: tuple[Path, QueueWriter, Ingestor], caplog: pytest.LogCaptureFixture) -> None:
    """After UNSUBSCRIBE no frame of the stream is stored (those still in flight are
    counted, without a warning: they are expected); a stream added is pending, its frames
    held until the reply, then stored in order."""
    path, writer, ingestor = queue
    tally = FilterTally()
    c = Conn(ingestor, writer, 1, [BTC], [], tally)
    btc, eth = wire(frames_of("btcusdt@bookTicker", 30)), wire(frames_of("ethusdt@bookTicker", 20))
    c.feed(btc[:10], 1)
    assert c.m.add_streams([ETH, BTC], 1.0) == [ETH]
    (sub,) = [json.loads(f.text) for f in c.m.frames_to_send()]
    assert (sub["method"], sub["params"]) == ("SUBSCRIBE", ["ethusdt@bookTicker"])
    c.feed(eth[:5], 2)  # before the reply: held
    assert c.m.counters.held == 5
    c.feed([reply(sub["id"]), *eth[5:10]], 3)
    with caplog.at_level(logging.WARNING, "binfeed.record"):
        assert c.m.remove_streams([BTC], 4.0) == [BTC]
        (unsub,) = [json.loads(f.text) for f in c.m.frames_to_send()]
        assert (unsub["method"], unsub["params"]) == ("UNSUBSCRIBE", ["btcusdt@bookTicker"])
        c.feed([*btc[10:20], *eth[10:]], 4)  # in flight before the server's reply
        c.feed([reply(unsub["id"]), *btc[20:]], 5)
    assert not [r for r in caplog.records if "not subscribed" in r.getMessage()]
    assert c.m.counters.unsubscribed == 20 and tally.unsubscribed == {"btcusdt@bookTicker": 20}
    assert c.m.carried.streams == [ETH] and c.m.carried.fully_subscribed
    writer.sync()
    items = queue_items(path)
    seqs = {n: [json.loads(f.data)["data"]["u"] for f in fs] for n, fs in (("BTCUSDT", btc),
                                                                            ("ETHUSDT", eth))}
    stored = {sym: [r.update_id for r in items if isinstance(r, BookTicker) and r.symbol == sym]
              for sym in seqs}
    assert stored == {"BTCUSDT": seqs["BTCUSDT"][:10], "ETHUSDT": seqs["ETHUSDT"]}
    kinds = [r.event if isinstance(r, Connection) else r.symbol for r in items
             if isinstance(r, Connection | BookTicker)]
    assert kinds == [ConnectionEvent.CONNECTED, ConnectionEvent.SUBSCRIBED, *["BTCUSDT"] * 10,
                     ConnectionEvent.SUBSCRIBED, *["ETHUSDT"] * 10,
                     ConnectionEvent.UNSUBSCRIBED, *["ETHUSDT"] * 10]
    gone = [r for r in items if isinstance(r, Connection)][-1]
    assert (gone.conn_id, gone.code, gone.detail) == (1, 1, "btcusdt@bookTicker")


def test_the_hold_is_bounded_and_what_it_drops_is_marked(
        queue: tuple[Path, QueueWriter, Ingestor], caplog: pytest.LogCaptureFixture) -> None:
    path, writer, ingestor = queue
    tally = FilterTally()
    eth = wire(frames_of("ethusdt@bookTicker", 40))
    first = Conn(ingestor, writer, 1, [ETH], [], tally)
    first.feed(eth[:10], 1)  # the stream has records already
    second = Conn(ingestor, writer, 2, [], [ETH], tally, hold_limit=5)
    (sub,) = second.sent
    with caplog.at_level(logging.WARNING, "binfeed.record"):
        second.feed(eth[20:28], 2)  # 8 held, the 3 oldest dropped
    assert second.m.counters.held_dropped == tally.held_dropped == 3
    assert sum("more than 5 frames held" in r.getMessage() for r in caplog.records) == 1
    second.feed([reply(sub["id"])], 3)
    writer.sync()
    items = [r for r in queue_items(path) if isinstance(r, BookTicker | Gap)]
    seqs = [json.loads(f.data)["data"]["u"] for f in eth]
    stored = [r.update_id for r in items if isinstance(r, BookTicker)]
    assert stored == seqs[:10] + seqs[23:28]
    gap_at = next(i for i, r in enumerate(items) if isinstance(r, Gap))
    assert gap_at == 10 and items[gap_at].next_seq == seqs[23]


def test_frames_held_when_the_connection_ends_are_dropped_and_counted(
        queue: tuple[Path, QueueWriter, Ingestor]) -> None:
    path, writer, ingestor = queue
    tally = FilterTally()
    c = Conn(ingestor, writer, 1, [], [ETH], tally)
    c.feed(wire(frames_of("ethusdt@bookTicker", 12)), 1)
    c.m.connection_lost(None, 2.0)
    assert tally.held_dropped == 12
    assert ingestor.counters().frames == 0  # judged never: counted nowhere but there
    writer.sync()
    assert not [r for r in queue_items(path) if isinstance(r, BookTicker | Trade)]


def test_each_connection_has_its_own_set(queue: tuple[Path, QueueWriter, Ingestor]) -> None:
    path, writer, ingestor = queue
    tally = FilterTally()
    a = Conn(ingestor, writer, 1, [BTC], [], tally)
    b = Conn(ingestor, writer, 2, [ETH], [], tally)
    btc, eth = wire(frames_of("btcusdt@bookTicker", 20)), wire(frames_of("ethusdt@bookTicker", 20))
    a.feed(btc[:10] + eth[:10], 1)  # shard 1 carries btcusdt only
    b.feed(eth[10:] + btc[10:], 2)  # shard 2 ethusdt only
    assert a.m.counters.unsubscribed == b.m.counters.unsubscribed == 10
    writer.sync()
    stored = [(r.symbol, r.recv_ts_ns) for r in queue_items(path) if isinstance(r, BookTicker)]
    assert stored == [("BTCUSDT", 1)] * 10 + [("ETHUSDT", 2)] * 10


# -- the recorder against a misbehaving loopback server ---------------------------------


def assert_connection_records_lead(path: Path) -> None:
    """From the queue alone: every market-data record belongs to a stream that a
    connection open at that point had subscribed to, as its CONNECTED and SUBSCRIBED
    records (written before) say; every connection's first record comes after them."""
    open_conns: dict[int, set[str]] = {}
    seen_data = False
    for rec in queue_items(path):
        if isinstance(rec, Connection):
            if rec.event == ConnectionEvent.CONNECTED:
                open_conns[rec.conn_id] = set()
            elif rec.event == ConnectionEvent.SUBSCRIBED:
                assert rec.conn_id in open_conns, f"SUBSCRIBED before CONNECTED: {rec}"
                open_conns[rec.conn_id].update(rec.detail.split(","))
            elif rec.event in (ConnectionEvent.DISCONNECTED, ConnectionEvent.ROTATED):
                open_conns.pop(rec.conn_id, None)
        elif isinstance(rec, BookTicker | Trade):
            seen_data = True
            subscribed = set().union(*open_conns.values()) if open_conns else set()
            assert name(rec) in subscribed, (
                f"{name(rec)} record with no open connection subscribed to it "
                f"(open: {open_conns})")
    assert seen_data


@pytest.mark.anyio
@pytest.mark.slow
async def test_recorder_stores_only_what_it_subscribed(tmp_path: Path) -> None:
    btc = frames_of("btcusdt@bookTicker", 3000)
    others = {n: frames_of(n, 1500) for n in ("ethusdt@bookTicker", "xrpusdt@trade",
                                              "solusdt@bookTicker")}
    source = sorted([*btc, *(f for fs in others.values() for f in fs)], key=lambda f: f.recv_ns)
    span = (source[-1].recv_ns - source[0].recv_ns) / 1e9
    async with open_server(list_source(source), speed=span / 3, ping_interval=None,
                           unsolicited=frozenset({"ethusdt@bookTicker", "xrpusdt@trade"}),
                           refuse=frozenset({"solusdt"}), reply_delay=0.3) as server:
        # SUBSCRIBE only, one stream per connection: btcusdt flows 0.3 s before its reply,
        # solusdt too, then it is refused
        config = config_for(server, ["btcusdt", "solusdt"], [StreamKind.BOOK_TICKER],
                            max_url_length=0, streams_per_connection=1)
        recorder = await record_until(config, tmp_path / "q", idle(server, 0.5), limit=30)
    stored = read_queue(tmp_path / "q")
    assert set(stored.by_stream) == {"btcusdt@bookTicker"}
    want = expected_by_stream(btc, [BTC])["btcusdt@bookTicker"]
    assert_contiguous(stored.by_stream["btcusdt@bookTicker"], want)
    assert stored.by_stream["btcusdt@bookTicker"][-1] == want[-1]
    assert symbols_of(tmp_path / "q") == {"BTCUSDT"}
    stats = recorder.stats
    assert stats.refused == ["solusdt@bookTicker"]
    assert set(stats.filtered.unsubscribed) == {"ethusdt@bookTicker", "xrpusdt@trade",
                                                "solusdt@bookTicker"}
    assert recorder.ingestor_counters.unsubscribed == sum(stats.filtered.unsubscribed.values())
    # frames held during the late reply: received before the SUBSCRIBED record was
    # written, stored after it
    (sub,) = stored.events(ConnectionEvent.SUBSCRIBED)
    first_btc = stored.recv_ts["btcusdt@bookTicker"][0]
    assert first_btc < sub.recv_ts_ns
    assert_connection_records_lead(tmp_path / "q")


@pytest.mark.anyio
@pytest.mark.slow
@pytest.mark.parametrize("in_url", [True, False], ids=["url", "subscribe"])
async def test_each_connections_records_precede_its_data(tmp_path: Path, in_url: bool) -> None:
    frames = [f for f in capture_frames() if f.symbol in ("btcusdt", "ethusdt")][:6000]
    async with open_server(list_source(frames), speed=None, ping_interval=None,
                           faults=[Fault("abort", after_frames=700, connection=0)]) as server:
        config = config_for(server, ["btcusdt", "ethusdt"], streams_per_connection=2,
                            max_url_length=2048 if in_url else 0)
        # until the fifth connection is subscribed: a drop is counted as a reconnect
        # when it happens, before the next connection exists
        recorder = await record_until(config, tmp_path / "q",
                                      lambda r: r.stats.recovered >= 4, limit=30)
    connected = [c.conn_id for c in read_queue(tmp_path / "q").events(ConnectionEvent.CONNECTED)]
    assert len(connected) >= 5 and len(set(connected)) == len(connected)
    assert recorder.stats.reconnects >= 4
    assert_connection_records_lead(tmp_path / "q")


@pytest.mark.anyio
@pytest.mark.slow
async def test_record_and_replay_show_only_the_subscribed_streams(tmp_path: Path) -> None:
    btc = frames_of("btcusdt@bookTicker", 2000)
    eth, xrp = frames_of("ethusdt@bookTicker", 2000), frames_of("xrpusdt@trade", 2000)
    source = sorted([*btc, *eth, *xrp], key=lambda f: f.recv_ns)
    queue = tmp_path / "q"
    async with open_server(list_source(source), speed=None, ping_interval=None,
                           unsolicited=frozenset({"ethusdt@bookTicker",
                                                  "xrpusdt@trade"})) as server:
        done = await anyio.run_process(
            [sys.executable, "-m", "binfeed", "record", "-q", str(queue), "-s", "btcusdt",
             "--url", server.url, "--duration", "2"], check=False)
    assert done.returncode == 0, done.stderr.decode()
    head = dict(kv.split("=", 1) for kv in done.stdout.decode().splitlines()[0].split()[1:])
    assert int(head["unsubscribed"]) > 2000
    assert head["unsubscribed_streams"] == "ethusdt@bookTicker,xrpusdt@trade"
    stderr = done.stderr.decode()
    for name_ in ("ethusdt@bookTicker", "xrpusdt@trade"):  # logged once per stream
        assert stderr.count(f"frames of {name_}, a stream not subscribed") == 1, stderr
    replayed = await anyio.run_process([sys.executable, "-m", "binfeed", "replay", str(queue)])
    symbols = {json.loads(line)["symbol"] for line in replayed.stdout.decode().splitlines()}
    assert symbols == {"BTCUSDT"}
