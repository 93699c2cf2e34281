"""The live API: QueueReader.tail with timeout (None while quiet), idle_timeout, type and
symbol filters (a symbol table that grows while tailing), no record lost when a loop stops;
QueueReader.atail under anyio's asyncio and trio backends (the event loop keeps running,
cancellation loses nothing, no busy loop); waiting for a queue that does not exist yet.
Every queue is written by a real writer process while the reader tails it."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import anyio
import anyio.lowlevel
import pytest

from binfeed import errors
from binfeed.queue import QueueReader, QueueWriter
from binfeed.records import (
    BookTicker,
    Connection,
    Gap,
    Record,
    RecordType,
    Recovery,
    SymbolDefinition,
    Trade,
)
from tests.ops.helpers import spawn_live_writer, stop, wait_line
from tests.queue.helpers import book_values, write_book_tickers

pytestmark = pytest.mark.slow  # writer processes at a set rate, timed waits


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def expected_book(i: int, symbols: list[str]) -> tuple[str, int, float, float, float, float]:
    """What live_writer.py's record i is: (symbol, update id, bid, bid qty, ask, ask qty)."""
    return (symbols[i % len(symbols)], i + 1, *book_values(i))


def as_book(rec: Record) -> tuple[str, int, float, float, float, float]:
    assert isinstance(rec, BookTicker)
    return (rec.symbol, rec.update_id, rec.bid_price, rec.bid_qty, rec.ask_price, rec.ask_qty)


def go(proc: subprocess.Popen[str]) -> None:
    """Lets a --wait-go writer start writing."""
    assert proc.stdin is not None
    proc.stdin.write("go\n")
    proc.stdin.flush()


# -- tail(timeout=...) -------------------------------------------------------------------
def test_tail_hands_out_none_while_quiet_and_every_record_of_a_live_writer(
        tmp_path: Path) -> None:
    q = tmp_path / "q"
    n, symbols = 3000, ["BTCUSDT", "ETHUSDT"]
    writer = spawn_live_writer(q, n, "--rate", "6000", "--wait-go", "--hold",
                               "--symbols", ",".join(symbols))
    try:
        wait_line(writer, "READY")
        reader = QueueReader(q)
        got: list[Record] = []
        quiet: list[float] = []  # how long before each None nothing had been handed out
        last = time.monotonic()
        nones_before_go = 0
        for rec in reader.tail(timeout=0.05):
            now = time.monotonic()
            if rec is None:
                quiet.append(now - last)
                if not got and nones_before_go < 3:
                    nones_before_go += 1
                    if nones_before_go == 3:
                        go(writer)  # the loop kept control while nothing came
                elif len(got) == n:
                    break  # quiet after the last record
            else:
                got.append(rec)
            last = now
        wait_line(writer, "DONE")
    finally:
        stop(writer)
    assert nones_before_go == 3
    assert [as_book(r) for r in got] == [expected_book(i, symbols) for i in range(n)]
    assert all(q >= 0.045 for q in quiet), quiet  # None only after a quiet timeout


def test_idle_timeout_still_ends_the_tail_once_the_writer_stops(tmp_path: Path) -> None:
    q = tmp_path / "q"
    writer = spawn_live_writer(q, 2000, "--rate", "5000", "--hold")
    try:
        wait_line(writer, "READY")
        reader = QueueReader(q)
        start = time.monotonic()
        got = [as_book(r) for r in reader.tail(idle_timeout=0.5)]
        ended = time.monotonic()
        wait_line(writer, "DONE")
    finally:
        stop(writer)
    assert got == [expected_book(i, ["BTCUSDT", "ETHUSDT"]) for i in range(2000)]
    assert ended - start >= 2000 / 5000 + 0.5 * 0.9  # it waited through the writing


def test_timeout_and_idle_timeout_together(tmp_path: Path) -> None:
    q = tmp_path / "q"
    with QueueWriter(q) as w:
        w.append_book_ticker("BTCUSDT", 1, 1.0, 2.0, 3.0, 4.0, recv_ts_ns=1)
    reader = QueueReader(q)
    start = time.monotonic()
    got = list(reader.tail(timeout=0.2, idle_timeout=0.9))
    took = time.monotonic() - start
    assert isinstance(got[0], BookTicker)
    assert got[1:] == [None] * 4  # at 0.2, 0.4, 0.6, 0.8 s; then the idle end at 0.9 s
    assert 0.9 <= took < 3


# -- filters -----------------------------------------------------------------------------
def test_type_and_symbol_filters_keep_what_a_full_read_says(tmp_path: Path) -> None:
    q = tmp_path / "q"
    symbols = ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
    writer = spawn_live_writer(q, 3000, "--rate", "8000", "--trade-every", "4",
                               "--gap-at", "1500", "--symbols", ",".join(symbols), "--hold")
    try:
        wait_line(writer, "READY")
        trades_eth = QueueReader(q).tail(types=["trade"], symbols=["ethusdt"],
                                         idle_timeout=0.6)
        audit = QueueReader(q).tail(types=["gap", "connection"], idle_timeout=0.6)
        got_trades = list(trades_eth)
        got_audit = list(audit)
        wait_line(writer, "DONE")
    finally:
        stop(writer)
    everything = list(QueueReader(q).records(include_symbols=True))
    want_trades = [r for r in everything if isinstance(r, Trade) and r.symbol == "ETHUSDT"]
    want_audit = [r for r in everything if isinstance(r, Gap | Connection)]
    assert len(want_trades) == 250 and len(want_audit) == 2
    assert got_trades == want_trades
    assert got_audit == want_audit
    # records() takes the same filters; SYMBOL records only when asked for
    eth = list(QueueReader(q).records(symbols=["ETHUSDT"], types=["symbol", "bookTicker"]))
    assert [r.symbol for r in eth if isinstance(r, SymbolDefinition)] == ["ETHUSDT"]
    assert sum(isinstance(r, BookTicker) for r in eth) == 1000
    assert all(r.symbol == "ETHUSDT" for r in eth)


def test_a_symbol_that_appears_while_tailing_is_matched(tmp_path: Path) -> None:
    """The symbol filter names a symbol the queue does not have yet: a second writer
    process (a restarted recorder) adds it; the reader's symbol table grows and the tail
    hands out its records, and only those."""
    q = tmp_path / "q"
    first = spawn_live_writer(q, 500, "--symbols", "BTCUSDT,ETHUSDT")
    wait_line(first, "DONE")
    stop(first)
    reader = QueueReader(q)
    tail = reader.tail(symbols=["XRPUSDT", "btcusdt"], timeout=0.05)
    first_part = []
    for rec in tail:
        if rec is None:
            break
        first_part.append(rec)
    assert [r.symbol for r in first_part] == ["BTCUSDT"] * 250
    assert "XRPUSDT" not in reader.symbols.values()
    second = spawn_live_writer(q, 600, "--symbols", "XRPUSDT,ETHUSDT,BTCUSDT", "--rate",
                               "3000")
    try:
        later = []
        for rec in tail:
            if rec is None:
                if second.poll() is not None and len(later) >= 400:
                    break
                continue
            later.append(rec)
        wait_line(second, "DONE")
    finally:
        stop(second)
    assert "XRPUSDT" in reader.symbols.values()
    assert [r.symbol for r in later if isinstance(r, BookTicker)] == \
        ["XRPUSDT", "BTCUSDT"] * 200
    assert all(isinstance(r, BookTicker | Gap | Connection | Recovery) for r in later)


def test_bad_filters_and_times_are_refused_at_once(tmp_path: Path) -> None:
    q = tmp_path / "q"
    with QueueWriter(q) as w:
        w.append_book_ticker("BTCUSDT", 1, 1.0, 2.0, 3.0, 4.0, recv_ts_ns=1)
    reader = QueueReader(q)
    with pytest.raises(ValueError, match=r"unknown record type 'book'.*bookTicker, trade"):
        reader.tail(types=["book"])
    with pytest.raises(ValueError, match=r"symbols=\['BTCUSDT'\]"):
        reader.tail(symbols="BTCUSDT")
    with pytest.raises(ValueError, match="timeout must be"):
        reader.tail(timeout=-1)
    with pytest.raises(ValueError, match="poll_interval must be"):
        reader.atail(poll_interval=0)
    assert [type(r) for r in reader.records()] == [BookTicker]  # nothing was consumed


# -- nothing lost ------------------------------------------------------------------------
def test_breaking_out_of_a_tail_loses_no_record(tmp_path: Path) -> None:
    q = tmp_path / "q"
    writer = spawn_live_writer(q, 4000, "--segment-slots", "512")
    wait_line(writer, "DONE")
    stop(writer)
    reader = QueueReader(q)
    got: list[Record] = []
    while True:  # many short loops, each stopping in the middle of a fetched batch
        before = len(got)
        for rec in reader.tail(idle_timeout=0.05, symbols=["BTCUSDT", "ETHUSDT"]):
            got.append(rec)
            if len(got) - before == 37:
                break
        if len(got) - before < 37:
            break
    seq, slot = reader.position
    assert [as_book(r) for r in got] == \
        [expected_book(i, ["BTCUSDT", "ETHUSDT"]) for i in range(4000)]
    assert len(reader.poll()) == 0 and reader.position == (seq, slot)
    # poll() after a stopped loop starts at the first record not handed out
    reader = QueueReader(q)
    first = next(iter(reader.records()))
    rest = reader.poll()
    assert as_book(first) == expected_book(0, ["BTCUSDT", "ETHUSDT"])
    books = rest[rest["type"] == RecordType.BOOK_TICKER]
    assert int(books[0]["seq"]) == 2


# -- atail -------------------------------------------------------------------------------
@pytest.mark.anyio
async def test_atail_follows_a_live_writer_without_blocking_the_loop(tmp_path: Path) -> None:
    q = tmp_path / "q"
    n, symbols = 3000, ["BTCUSDT", "ETHUSDT"]
    writer = spawn_live_writer(q, n, "--rate", "6000", "--hold", "--symbols",
                               ",".join(symbols))
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await anyio.sleep(0.01)
            ticks += 1

    try:
        wait_line(writer, "READY")
        reader = QueueReader(q)
        got: list[Record] = []
        nones = 0
        start = time.monotonic()
        async with anyio.create_task_group() as tg:
            tg.start_soon(ticker)
            async for rec in reader.atail(timeout=0.05):
                if rec is None:
                    nones += 1
                    if len(got) == n:
                        break
                    continue
                got.append(rec)
            tg.cancel_scope.cancel()
        took = time.monotonic() - start
        wait_line(writer, "DONE")
    finally:
        stop(writer)
    assert [as_book(r) for r in got] == [expected_book(i, symbols) for i in range(n)]
    assert nones >= 1
    # the ticker ran all along (a blocked loop would starve it): at least half its ticks
    assert ticks >= took / 0.01 * 0.5, (ticks, took)


@pytest.mark.anyio
async def test_cancelling_atail_loses_nothing(tmp_path: Path) -> None:
    """A writer appends while the reader's loop is cancelled over and over (while it waits)
    or left (in the middle of a fetched batch), going on with the same iterator or a new
    one: every record arrives once, in order."""
    q = tmp_path / "q"
    n, symbols = 6000, ["BTCUSDT", "ETHUSDT"]
    writer = spawn_live_writer(q, n, "--rate", "10000", "--hold", "--segment-slots", "700",
                               "--symbols", ",".join(symbols))
    try:
        wait_line(writer, "READY")
        reader = QueueReader(q)
        got: list[Record] = []
        kept = reader.atail(symbols=["btcusdt", "ETHUSDT"], types=["bookTicker"])
        cancels = 0
        deadline = time.monotonic() + 30
        while len(got) < n and time.monotonic() < deadline:
            # the same iterator again, or a new one: both go on where the last one stopped
            tail = kept if cancels % 2 else reader.atail(symbols=["BTCUSDT", "ethusdt"])
            with anyio.move_on_after(0.003) as scope:
                async for rec in tail:
                    assert rec is not None
                    got.append(rec)
                    if len(got) % 101 == 0:
                        break  # in the middle of a fetched batch: the rest stays
            cancels += scope.cancelled_caught
        wait_line(writer, "DONE")
    finally:
        stop(writer)
    assert cancels > 50
    assert [as_book(r) for r in got] == [expected_book(i, symbols) for i in range(n)]


@pytest.mark.anyio
async def test_an_idle_atail_does_not_busy_loop(tmp_path: Path) -> None:
    q = tmp_path / "q"
    with QueueWriter(q) as w:
        w.append_book_ticker("BTCUSDT", 1, 1.0, 2.0, 3.0, 4.0, recv_ts_ns=1)
    reader = QueueReader(q, from_end=True)
    cpu, wall = time.process_time(), time.monotonic()
    got = [rec async for rec in reader.atail(idle_timeout=1.0)]
    cpu, wall = time.process_time() - cpu, time.monotonic() - wall
    assert got == [] and 1.0 <= wall < 3
    # sleeps of 0.5 ms between looks: about 1,000 wake-ups; a busy loop would use ~1 s
    assert cpu < 0.35 * wall, (cpu, wall)


# -- waiting for a queue -----------------------------------------------------------------
def test_wait_for_from_end_reads_a_queue_that_did_not_exist_from_its_start(
        tmp_path: Path) -> None:
    q = tmp_path / "later" / "q"
    writer = spawn_live_writer(q, 800, "--rate", "4000")
    try:
        reader = QueueReader.wait_for(q, from_end=True, timeout=20)
        got = [as_book(r) for r in reader.tail(idle_timeout=0.5)]
        wait_line(writer, "DONE")
    finally:
        stop(writer)
    assert got == [expected_book(i, ["BTCUSDT", "ETHUSDT"]) for i in range(800)]


def test_wait_for_gives_up_or_refuses(tmp_path: Path) -> None:
    start = time.monotonic()
    with pytest.raises(errors.ReadTimeout, match=r"no queue appeared at .* within 0\.25 s"):
        QueueReader.wait_for(tmp_path / "never", timeout=0.25)
    assert 0.25 <= time.monotonic() - start < 3
    (tmp_path / "file").write_text("not a queue")
    start = time.monotonic()
    with pytest.raises(errors.QueueIOError, match="file"):
        QueueReader.wait_for(tmp_path / "file", timeout=10)
    assert time.monotonic() - start < 2  # refused at once, not waited for


@pytest.mark.anyio
async def test_wait_for_async_lets_the_loop_run_until_the_queue_appears(
        tmp_path: Path) -> None:
    q = tmp_path / "q"
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await anyio.sleep(0.01)
            ticks += 1

    writer = None
    async with anyio.create_task_group() as tg:
        tg.start_soon(ticker)
        with pytest.raises(TimeoutError), anyio.fail_after(0.2):
            await QueueReader.wait_for_async(q)
        assert ticks >= 5
        writer = spawn_live_writer(q, 100, "--wait-go", "--hold")
        try:
            with anyio.fail_after(20):
                reader = await QueueReader.wait_for_async(q, from_end=True)
            go(writer)
            got = [rec async for rec in reader.atail(idle_timeout=0.5)]
            wait_line(writer, "DONE")
        finally:
            stop(writer)
        tg.cancel_scope.cancel()
    assert [as_book(r) for r in got] == \
        [expected_book(i, ["BTCUSDT", "ETHUSDT"]) for i in range(100)]


# -- a filter that leaves out a long run -------------------------------------------------
@pytest.fixture(scope="module")
def long_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """400,000 bookTicker records, then one trade: a trade filter passes over a long run."""
    q = tmp_path_factory.mktemp("long") / "q"
    with QueueWriter(q) as w:
        write_book_tickers(w, 0, 400_000, ["BTCUSDT", "ETHUSDT"])
        w.append_trade("BTCUSDT", 7, 1.0, 2.0, trade_ts_us=1, event_ts_us=2,
                       buyer_is_maker=True, best_match=True, recv_ts_ns=9)
    return q


def test_passing_over_a_long_run_still_hands_out_none_on_time(long_run: Path) -> None:
    reader = QueueReader(long_run)
    tail = reader.tail(timeout=0.001, types=["trade"])
    assert next(tail) is None  # handed out in the middle of the run, not after it
    assert reader.position[1] < 400_000
    nones = 1
    for rec in tail:
        if rec is not None:
            assert isinstance(rec, Trade)
            break
        nones += 1
    assert nones >= 2
    # idle_timeout=0 ends once nothing more is published, not at the first batch left out
    assert [type(r) for r in QueueReader(long_run).tail(types=["trade"], idle_timeout=0)] \
        == [Trade]


@pytest.mark.anyio
async def test_passing_over_a_long_run_lets_other_tasks_run(long_run: Path) -> None:
    reader = QueueReader(long_run)
    runs = 0

    async def other() -> None:
        nonlocal runs
        while True:
            await anyio.lowlevel.checkpoint()
            runs += 1

    async with anyio.create_task_group() as tg:
        tg.start_soon(other)
        got = [rec async for rec in reader.atail(types=["trade"], idle_timeout=0)]
        tg.cancel_scope.cancel()
    assert [type(r) for r in got] == [Trade]
    assert runs >= 400_000 // 1024 // 2  # about once per batch of 1,024 passed over
