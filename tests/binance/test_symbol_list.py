"""The symbol list of ``record --symbols all``: exchangeInfo read and filtered, fetched over
real HTTP on 127.0.0.1 with bounded retries."""

from __future__ import annotations

import json

import anyio
import pytest

from binfeed.binance import rest, symbol_list
from binfeed.binance.symbol_list import ExchangeInfoError, parse_exchange_info
from binfeed.errors import ConfigError, EndpointError
from tests.exchange_info import UTF8_SYMBOL, RestServer, exchange_info, rest_server, trading_symbols


def test_listing_keeps_trading_symbols_only_in_exchange_order() -> None:
    info = exchange_info()
    listing = parse_exchange_info(json.dumps(info))
    assert listing.symbols == trading_symbols(info)
    assert len(listing.symbols) > 300
    assert sum(listing.not_trading.values()) == len(info["symbols"]) - len(listing.symbols)
    assert set(listing.not_trading) == set(symbol_list_statuses(info)) - {"TRADING"}
    assert "币安人生usdt" in listing.symbols  # ASCII letters lower-cased, the rest kept


def symbol_list_statuses(info: dict[str, object]) -> set[str]:
    return {s["status"] for s in info["symbols"]}  # type: ignore[union-attr]


def test_quote_filter_compares_ascii_upper_case() -> None:
    info = exchange_info()
    listing = parse_exchange_info(json.dumps(info).encode(), quote="usdt")
    assert listing.symbols == trading_symbols(info, "USDT")
    assert all(s.endswith("usdt") for s in listing.symbols)
    assert listing.other_quote == len(trading_symbols(info)) - len(listing.symbols)


@pytest.mark.parametrize("body", [b"", b"[1,2]", b'{"symbols": 3}', b"<html>busy</html>",
                                  b'{"symbols": [{"status": "TRADING"}]}'])
def test_not_an_exchange_info_answer(body: bytes) -> None:
    with pytest.raises(ExchangeInfoError):
        parse_exchange_info(body)


def test_names_binfeed_cannot_store_are_listed_not_recorded() -> None:
    info = exchange_info(20)
    info["symbols"].append(dict(info["symbols"][0], symbol="X" * 200))  # type: ignore
    listing = parse_exchange_info(json.dumps(info))
    assert [name for name, _ in listing.invalid] == ["X" * 200]
    assert listing.symbols == trading_symbols(exchange_info(20))


def test_symbols_file() -> None:
    text = "# majors\nBTCUSDT\n ethusdt  # trailing comment\n\nbtcusdt\n" + UTF8_SYMBOL + "\n"
    assert symbol_list.parse_symbols_file(text) == ["btcusdt", "ethusdt", "币安人生usdt"]
    with pytest.raises(ConfigError, match="line 2"):
        symbol_list.parse_symbols_file("btcusdt\nbad symbol!\n")
    with pytest.raises(ConfigError, match="names no symbol"):
        symbol_list.parse_symbols_file("# nothing\n\n")


def test_diff() -> None:
    change = symbol_list.diff(["a", "b", "c"], ["c", "d", "a"])
    assert change.added == ["d"] and change.removed == ["b"] and change
    assert not symbol_list.diff(["a"], ["a"])


@pytest.mark.parametrize(("failure", "attempt", "expected"), [
    (rest.Failure("reset"), 1, 0.5),
    (rest.Failure("reset"), 4, 4.0),
    (rest.Failure("reset"), 5, None),
    (rest.Failure("HTTP 503", 503), 2, 1.0),
    (rest.Failure("HTTP 429", 429, retry_after=3.0), 1, 3.0),
    (rest.Failure("HTTP 429", 429), 1, 60.0),
    (rest.Failure("HTTP 418", 418), 1, None),  # 300 s is beyond max_wait
    (rest.Failure("HTTP 404", 404, fatal=True), 1, None),
])
def test_retry_delay(failure: rest.Failure, attempt: int, expected: float | None) -> None:
    assert rest.retry_delay(failure, attempt) == expected


def test_fetch_over_http_filters_status_itself() -> None:
    info = exchange_info()
    with rest_server(RestServer(info, honour_status=False)) as server:
        listing = anyio.run(rest.fetch_listing, server.url)
    assert listing.symbols == trading_symbols(info)
    assert server.requests == ["/api/v3/exchangeInfo?symbolStatus=TRADING"]


def test_fetch_retries_then_succeeds() -> None:
    info = exchange_info(50)
    failures = [(503, {}, b"busy"), (429, {"Retry-After": "0"}, b""), (200, {}, b"<html>")]
    with rest_server(RestServer(info, failures=failures)) as server:
        listing = anyio.run(lambda: rest.fetch_listing(server.url, quote="USDT"))
    assert listing.symbols == trading_symbols(info, "USDT")
    assert len(server.requests) == 4


def test_fetch_gives_up_with_the_reason() -> None:
    with rest_server(RestServer(exchange_info(5), failures=[(404, {}, b"")])) as server, \
            pytest.raises(EndpointError, match=r"HTTP 404.*after 1 attempt\)"):
        anyio.run(rest.fetch_listing, server.url)
    with pytest.raises(EndpointError, match=r"network error.*after 2 attempts"):
        anyio.run(lambda: rest.fetch_listing("http://127.0.0.1:9", attempts=2))
