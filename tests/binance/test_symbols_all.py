"""``record --symbols all``: every TRADING symbol of a real HTTP exchangeInfo (hundreds, some
not trading), sharded over connections to the loopback server within each connection's
stream limit and Binance's 5 messages a second."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest
from click.testing import CliRunner, Result

from binfeed.binance.server import open_server
from binfeed.binance.sources import list_source
from binfeed.commands.record_cmd import record
from binfeed.records import ConnectionEvent
from tests.exchange_info import RestServer, exchange_info, rest_server, trading_symbols

from .recorder_support import capture_frames, read_queue

pytestmark = pytest.mark.anyio


async def invoke(args: list[str]) -> Result:
    return await anyio.to_thread.run_sync(
        lambda: CliRunner().invoke(record, args, catch_exceptions=False))


@pytest.mark.slow
async def test_all_subscribes_every_trading_symbol_and_nothing_else(tmp_path: Path) -> None:
    info = exchange_info()
    want = {f"{s}@{k}" for s in trading_symbols(info) for k in ("bookTicker", "trade")}
    assert len(want) > 700  # three connections of at most 300 streams
    frames = [f for f in capture_frames() if f.symbol == "btcusdt"][:2000]
    with rest_server(RestServer(info)) as rest:
        async with open_server(list_source(frames), speed=None) as server:
            result = await invoke([
                "-q", str(tmp_path / "q"), "--symbols", "all", "--rest-url", rest.url,
                "--streams", "bookTicker,trade", "--streams-per-connection", "300",
                "--url", server.url, "--duration", "4"])
            connections = list(server.connections)
    assert result.exit_code == 0, result.output
    assert rest.requests == ["/api/v3/exchangeInfo?symbolStatus=TRADING"]
    subscribed = [set(c.subscriptions) for c in connections]
    assert set().union(*subscribed) == want
    assert sum(len(s) for s in subscribed) == len(want)  # each stream on one connection
    assert len(subscribed) == 3 and all(len(s) <= 300 for s in subscribed)
    for conn in connections:
        assert conn.counted_per_second() <= 5, conn.client_messages
    head = dict(kv.split("=", 1) for kv in result.stdout.splitlines()[0].split()[1:])
    assert int(head["book_tickers"]) > 0  # btcusdt is TRADING: its frames were recorded


@pytest.mark.slow
async def test_all_with_a_quote_asset(tmp_path: Path) -> None:
    info = exchange_info()
    want = {f"{s}@bookTicker" for s in trading_symbols(info, "USDT")}
    with rest_server(RestServer(info, honour_status=True)) as rest:
        async with open_server(list_source([]), speed=None) as server:
            result = await invoke([
                "-q", str(tmp_path / "q"), "-s", "ALL", "--quote", "usdt",
                "--rest-url", rest.url, "--url", server.url, "--duration", "2"])
            connections = list(server.connections)
    assert result.exit_code == 0, result.output
    assert set().union(*(set(c.subscriptions) for c in connections)) == want
    assert "币安人生usdt@bookTicker" in want


def test_no_exchange_info_exits_5_with_the_reason(tmp_path: Path) -> None:
    with rest_server(RestServer(exchange_info(5), failures=[(404, {}, b"")])) as rest:
        result = CliRunner().invoke(record, ["-q", str(tmp_path / "q"), "--symbols", "all",
                                             "--rest-url", rest.url, "--duration", "1"])
    assert result.exit_code == 5
    assert "cannot get the symbol list" in result.output and "HTTP 404" in result.output
    assert not (tmp_path / "q").exists()


def test_symbols_file(tmp_path: Path) -> None:
    listing = tmp_path / "symbols.txt"
    listing.write_text("# majors\nBTCUSDT\nethusdt # second\n", encoding="utf-8")

    async def run() -> tuple[Result, list[set[str]]]:
        async with open_server(list_source([]), speed=None) as server:
            result = await invoke(["-q", str(tmp_path / "q"), "--symbols-file", str(listing),
                                   "--url", server.url, "--duration", "1"])
        # read once the server has ended: a connection's subscriptions are noted when the
        # server is done with it, which may be after the recorder has returned
        return result, [set(c.subscriptions) for c in server.connections]

    result, subscribed = anyio.run(run)
    assert result.exit_code == 0, result.output
    assert set().union(*subscribed) == {"btcusdt@bookTicker", "ethusdt@bookTicker"}


def test_symbol_option_mistakes_exit_2(tmp_path: Path) -> None:
    listing = tmp_path / "s.txt"
    listing.write_text("btcusdt\n")
    for args, message in [
        ([], "give the symbols to record"),
        (["-s", "btcusdt", "--symbols-file", str(listing)], "one of them"),
        (["-s", "btcusdt", "--quote", "USDT"], "--quote filters --symbols all"),
        (["-s", "all", "--symbols-refresh", "0"], "invalid period"),
        (["--symbols-file", str(tmp_path / "missing.txt")], "cannot read --symbols-file"),
    ]:
        result = CliRunner().invoke(record, ["-q", str(tmp_path / "q"), *args])
        assert result.exit_code == 2, (args, result.output)
        assert message in result.output, (args, result.output)


@pytest.mark.slow
async def test_refresh_subscribes_listed_and_unsubscribes_delisted_symbols(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Ten symbols on two connections of five; then one goes to BREAK and two are listed
    (one of them UTF-8): the first connection takes the first new one in the room the
    delisted one left, a third connection the other."""
    full = exchange_info(12)
    entries = full["symbols"]  # type: ignore[index]
    before = dict(full, symbols=entries[:10])
    after = dict(full, symbols=[dict(entries[0], status="BREAK"), *entries[1:]])
    delisted, listed = trading_symbols(before)[0], trading_symbols(after)[-2:]
    want = {f"{s}@bookTicker" for s in trading_symbols(after)}
    queue = tmp_path / "q"
    with rest_server(RestServer(before, next_info=after)) as rest:
        async with open_server(list_source([]), speed=None) as server:
            result = await invoke([
                "-q", str(queue), "--symbols", "all", "--rest-url", rest.url,
                "--symbols-refresh", "1s", "--streams-per-connection", "5",
                "--url", server.url, "--duration", "4.5"])
            connections = list(server.connections)
    assert result.exit_code == 0, result.output
    assert len(rest.requests) >= 3  # at start, then every second
    subscribed = [set(c.subscriptions) for c in connections]
    assert set().union(*subscribed) == want
    assert sum(len(s) for s in subscribed) == len(want)  # each stream on one connection
    assert len(connections) == 3 and all(len(s) <= 5 for s in subscribed)
    assert subscribed[0] == {f"{s}@bookTicker" for s in trading_symbols(after)[:4]} | {
        f"{listed[0]}@bookTicker"}
    assert subscribed[2] == {f"{listed[1]}@bookTicker"}
    for conn in connections:
        assert conn.counted_per_second() <= 5, conn.client_messages
    refreshes = [r.getMessage() for r in caplog.records if "symbol refresh" in r.getMessage()]
    assert refreshes == [  # one change, logged once
        f"symbol refresh: 2 new symbol(s), subscribing: {', '.join(listed)}",
        f"symbol refresh: 1 symbol(s) no longer TRADING, unsubscribing: {delisted}"]
    stored = read_queue(queue)
    (gone,) = stored.events(ConnectionEvent.UNSUBSCRIBED)
    assert (gone.conn_id, gone.code, gone.detail) == (1, 1, f"{delisted}@bookTicker")
