"""Stream names, endpoint URLs, sharding: no network."""

from __future__ import annotations

import pytest

from binfeed._ffi import lib
from binfeed.binance.endpoint import (
    DEFAULT_BASE_URL,
    Endpoint,
    chunk_params,
    shard,
    split_for_url,
)
from binfeed.binance.streams import (
    StreamId,
    StreamKind,
    normalize_symbol,
    parse_kinds,
    parse_symbols,
    stream_ids,
)
from binfeed.binance.timeunit import TimeUnit
from binfeed.errors import ConfigError
from binfeed.symbols import SYMBOL_MAX_BYTES, stream_name, stream_symbol, symbol_key

CJK = "币安人生"  # 12 bytes of UTF-8: Binance's 币安人生USDT (listed 2025-12)


def test_stream_names_are_binance_spelling() -> None:
    assert StreamId("btcusdt", StreamKind.BOOK_TICKER).name == "btcusdt@bookTicker"
    assert str(StreamId("ethusdt", StreamKind.TRADE)) == "ethusdt@trade"
    assert StreamId.parse("btcusdt@bookTicker") == StreamId("btcusdt", StreamKind.BOOK_TICKER)
    assert StreamId.parse(f"{CJK}usdt@trade") == StreamId(f"{CJK}usdt", StreamKind.TRADE)
    assert StreamId.parse("btcusdt@depth@100ms") is None
    assert StreamId.parse("BTCUSDT@trade") is None
    assert StreamId.parse(f"{CJK}USDT@trade") is None
    assert StreamId.parse("trade") is None


def test_symbols_lower_cased_deduplicated_and_validated() -> None:
    assert parse_symbols(" BTCUSDT,ethusdt,,btcusdt ") == ["btcusdt", "ethusdt"]
    assert parse_symbols(["EthUsdt"]) == ["ethusdt"]
    assert normalize_symbol("1000SATSUSDT") == "1000satsusdt"
    for bad in ["", "btc usdt", "btc/usdt", "btc@usdt", "btc%20", "a\x00", "\udcff"]:
        with pytest.raises(ConfigError, match="invalid symbol"):
            normalize_symbol(bad)
    with pytest.raises(ConfigError, match="--symbols"):
        parse_symbols(" , ")


def test_utf8_symbols_change_the_case_of_ascii_letters_only() -> None:
    assert normalize_symbol(f"{CJK}USDT") == f"{CJK}usdt"
    assert parse_symbols(f"{CJK}usdt,{CJK}USDT,btcusdt") == [f"{CJK}usdt", "btcusdt"]
    # fullwidth letters, a German sharp s, a Greek capital and fullwidth digits are not ASCII:
    # str.lower() / str.upper() would change the first three; stream names keep them
    assert normalize_symbol("ＡＢＣusdt") == "ＡＢＣusdt"
    assert normalize_symbol("ßUSDT") == "ßusdt"
    assert normalize_symbol("ΣUSDT") == "Σusdt"
    assert normalize_symbol("１２３４５６") == "１２３４５６"
    assert symbol_key(f"{CJK}usdt") == f"{CJK}USDT"
    assert stream_symbol("ÄBC") == "Äbc"
    assert stream_name(f"{CJK}USDT", "bookTicker") == f"{CJK}usdt@bookTicker"


def test_a_symbol_may_fill_the_queues_name_field_but_not_more() -> None:
    # the limit is C's BF_SYMBOL_MAX, in bytes of UTF-8, not characters
    assert SYMBOL_MAX_BYTES == lib.BF_SYMBOL_MAX == 32
    assert normalize_symbol("x" * 32) == "x" * 32
    assert normalize_symbol(CJK * 2 + "usdt") == CJK * 2 + "usdt"  # 28 bytes
    longest = CJK * 2 + "€" + "a"  # 24 + 3 + 1 = 28 bytes, 10 characters
    assert normalize_symbol(longest + "abcd") == longest + "abcd"  # 32 bytes
    for too_long, size in [("x" * 33, 33), (CJK * 3, 36), (longest + "abcde", 33)]:
        with pytest.raises(ConfigError) as err:
            normalize_symbol(too_long)
        assert str(err.value) == (f"symbol {too_long!r} is too long: {size} bytes of UTF-8, "
                                  "and a queue stores at most 32 bytes per symbol")


def test_kinds_default_and_case() -> None:
    assert parse_kinds(None) == [StreamKind.BOOK_TICKER]
    assert parse_kinds("") == [StreamKind.BOOK_TICKER]
    assert parse_kinds("trade,BOOKTICKER,trade") == [StreamKind.TRADE, StreamKind.BOOK_TICKER]
    with pytest.raises(ConfigError, match="bookTicker, trade"):
        parse_kinds("depth")


def test_stream_ids_grouped_by_symbol() -> None:
    ids = stream_ids(["btcusdt", "ethusdt"], [StreamKind.BOOK_TICKER, StreamKind.TRADE])
    assert [s.name for s in ids] == [
        "btcusdt@bookTicker", "btcusdt@trade", "ethusdt@bookTicker", "ethusdt@trade"]


@pytest.mark.parametrize(
    ("url", "base", "port", "secure"),
    [
        ("wss://data-stream.binance.vision", "wss://data-stream.binance.vision", 443, True),
        ("wss://data-stream.binance.vision/", "wss://data-stream.binance.vision", 443, True),
        ("wss://stream.binance.com:9443", "wss://stream.binance.com:9443", 9443, True),
        ("ws://127.0.0.1:8765/", "ws://127.0.0.1:8765", 8765, False),
        ("ws://[::1]:9000", "ws://[::1]:9000", 9000, False),
        ("ws://localhost", "ws://localhost", 80, False),
    ],
)
def test_endpoint_base(url: str, base: str, port: int, secure: bool) -> None:
    ep = Endpoint.parse(url)
    assert ep.base == base
    assert ep.effective_port == port
    assert ep.secure is secure


@pytest.mark.parametrize(
    "url",
    [
        "https://stream.binance.com",
        "stream.binance.com:9443",
        "wss://stream.binance.com:9443/stream",
        "wss://stream.binance.com/ws/btcusdt@trade",
        "wss://stream.binance.com/?streams=a",
        "wss://user:pw@stream.binance.com",
        "wss://stream.binance.com:99999",
        "wss://",
    ],
)
def test_endpoint_rejects_anything_but_a_base(url: str) -> None:
    with pytest.raises(ConfigError, match="--url"):
        Endpoint.parse(url)


def test_default_url_is_the_market_data_endpoint() -> None:
    assert Endpoint.parse(DEFAULT_BASE_URL).host == "data-stream.binance.vision"


def test_combined_url() -> None:
    ep = Endpoint.parse("ws://127.0.0.1:9000/")
    ids = stream_ids(["btcusdt"], [StreamKind.BOOK_TICKER, StreamKind.TRADE])
    assert ep.combined_url(ids) == (
        "ws://127.0.0.1:9000/stream?streams=btcusdt@bookTicker/btcusdt@trade")
    assert ep.combined_url() == "ws://127.0.0.1:9000/stream"
    assert ep.raw_url(ids[1]) == "ws://127.0.0.1:9000/ws/btcusdt@trade"


def test_urls_percent_encode_utf8_stream_names() -> None:
    ep = Endpoint.parse("wss://data-stream.binance.vision")
    ids = stream_ids([f"{CJK}usdt", "btcusdt"], [StreamKind.TRADE])
    encoded = "%E5%B8%81%E5%AE%89%E4%BA%BA%E7%94%9Fusdt@trade"
    assert ep.combined_url(ids) == (
        f"wss://data-stream.binance.vision/stream?streams={encoded}/btcusdt@trade")
    assert ep.raw_url(ids[0]) == f"wss://data-stream.binance.vision/ws/{encoded}"
    assert ep.combined_url(ids).isascii()


def test_urls_ask_for_microseconds_with_binances_parameter() -> None:
    ep = Endpoint.parse("ws://127.0.0.1:9000")
    ids = stream_ids(["btcusdt"], [StreamKind.TRADE])
    assert ep.combined_url(ids, TimeUnit.US) == (
        "ws://127.0.0.1:9000/stream?streams=btcusdt@trade&timeUnit=MICROSECOND")
    assert ep.combined_url((), TimeUnit.US) == "ws://127.0.0.1:9000/stream?timeUnit=MICROSECOND"
    assert ep.raw_url(ids[0], TimeUnit.US) == (
        "ws://127.0.0.1:9000/ws/btcusdt@trade?timeUnit=MICROSECOND")
    # milliseconds are Binance's default: not named
    assert ep.combined_url(ids, TimeUnit.MS) == ep.combined_url(ids)


@pytest.mark.parametrize("unit", list(TimeUnit))
def test_split_for_url_measures_the_encoded_url(unit: TimeUnit) -> None:
    ep = Endpoint.parse("wss://data-stream.binance.vision")
    ids = stream_ids([f"{CJK}{i:04d}" for i in range(100)], [StreamKind.TRADE])
    in_url, rest = split_for_url(ep, ids, 2048, unit)
    assert in_url + rest == ids
    assert len(ep.combined_url(in_url, unit)) <= 2048 < len(ep.combined_url([*in_url, rest[0]],
                                                                            unit))
    # a name is 46 characters encoded (4 x 9 for the CJK characters, "0000@trade"), 47 with
    # its '/': 48 + 47n - 1 (+ 21 for "&timeUnit=MICROSECOND") <= 2048 gives 42, where the
    # unencoded names (15 characters with the '/') would have let about 130 in
    assert len(in_url) == 42


def test_split_for_url_respects_the_length_limit() -> None:
    ep = Endpoint.parse("wss://data-stream.binance.vision")
    ids = stream_ids([f"sym{i:04d}usdt" for i in range(300)], [StreamKind.BOOK_TICKER])
    in_url, rest = split_for_url(ep, ids, 2048)
    assert in_url + rest == ids
    assert len(ep.combined_url(in_url)) <= 2048
    assert len(ep.combined_url([*in_url, rest[0]])) > 2048
    assert 80 < len(in_url) < 120
    # everything fits
    assert split_for_url(ep, ids[:3], 2048) == (ids[:3], [])
    # 0: nothing in the URL
    assert split_for_url(ep, ids[:3], 0) == ([], ids[:3])


def test_shard_and_chunk() -> None:
    ids = stream_ids([f"s{i}" for i in range(1030)], [StreamKind.TRADE])
    groups = shard(ids, 1024)
    assert [len(g) for g in groups] == [1024, 6]
    assert [s for g in groups for s in g] == ids
    assert [len(g) for g in shard(ids)] == [200] * 5 + [30]
    assert shard(ids[:3] + ids[:3], 10) == [ids[:3]]
    with pytest.raises(ConfigError, match="1024"):
        shard(ids, 1025)
    with pytest.raises(ConfigError):
        shard(ids, 0)
    assert [len(c) for c in chunk_params(ids[:250], 100)] == [100, 100, 50]
    assert chunk_params([], 100) == []
