"""Binance stream names: which symbols and kinds a recorder subscribes to.

A stream name is the symbol with its ASCII letters lower-case, ``@`` and the stream type,
exactly as Binance spells it: ``btcusdt@bookTicker``, ``btcusdt@trade``,
``币安人生usdt@trade``. Payloads carry the symbol upper-case (``"s":"BTCUSDT"``); only
stream names are lower-case, and only ASCII letters change case (:mod:`binfeed.symbols`).

Sans-I/O: no sockets, no event loop (the stream kinds' codes and the symbol rule come from
the C header and the C writer).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

from binfeed.errors import ConfigError, InvalidRecordError
from binfeed.records import Stream
from binfeed.symbols import stream_symbol, symbol_key

T = TypeVar("T")

#: The stream kinds binfeed records: the one enumeration, from the format header through
#: ``lib`` (``binfeed.records.Stream``); ``wire_name`` is Binance's spelling.
StreamKind = Stream


def parse_kind(text: str) -> StreamKind:
    """'bookTicker', 'bookticker', 'BOOKTICKER' -> BOOK_TICKER.

    Raises:
        ConfigError: not a stream type binfeed records.
    """
    try:
        return Stream.from_wire(text.strip())
    except ValueError:
        names = ", ".join(k.wire_name for k in Stream)
        raise ConfigError(f"unknown stream type {text!r}: binfeed records {names}") from None


DEFAULT_KINDS = (StreamKind.BOOK_TICKER,)


def normalize_symbol(text: str) -> str:
    """' BTCUSDT ' -> 'btcusdt', '币安人生USDT' -> '币安人生usdt': a symbol as stream names
    spell it.

    Raises:
        ConfigError: empty, longer than the queue's symbol field (32 bytes of UTF-8), or
            an ASCII character other than letters, digits, '_', '-' and '.'.
    """
    try:
        return stream_symbol(symbol_key(text.strip()))
    except InvalidRecordError as exc:
        raise ConfigError(str(exc)) from None


@dataclass(frozen=True, slots=True, order=True)
class StreamId:
    """One stream: a lower-case symbol and a kind. ``str()`` gives Binance's name."""

    symbol: str
    kind: StreamKind

    @property
    def name(self) -> str:
        return f"{self.symbol}@{self.kind.wire_name}"

    def __str__(self) -> str:
        return self.name

    @classmethod
    def parse(cls, name: str) -> StreamId | None:
        """'btcusdt@trade' -> StreamId('btcusdt', TRADE); None for any other stream (also
        for a symbol not spelt as stream names spell it, 'BTCUSDT@trade')."""
        symbol, sep, kind = name.partition("@")
        if not sep or not is_stream_symbol(symbol):
            return None
        for k in StreamKind:
            if k.wire_name == kind:
                return cls(symbol, k)
        return None


def is_stream_symbol(text: str) -> bool:
    """True for a valid symbol spelt as stream names spell it ('btcusdt', '币安人生usdt');
    False for 'BTCUSDT', '', 'btc/usdt' or one longer than the queue stores."""
    try:
        return stream_symbol(symbol_key(text)) == text
    except InvalidRecordError:
        return False


def parse_symbols(text: str | Iterable[str]) -> list[str]:
    """'btcusdt, ETHUSDT' (or a list) -> ['btcusdt', 'ethusdt'], duplicates removed.

    Raises:
        ConfigError: no symbol, or an invalid one.
    """
    out = _parse_list(text, normalize_symbol)
    if not out:
        raise ConfigError("no symbol given: pass --symbols btcusdt[,ethusdt...]")
    return out


def parse_kinds(text: str | Iterable[str] | None) -> list[StreamKind]:
    """'bookTicker,trade' -> [BOOK_TICKER, TRADE]; None or '' -> the default (bookTicker).

    Raises:
        ConfigError: an unknown stream type.
    """
    if text is None:
        return list(DEFAULT_KINDS)
    return _parse_list(text, parse_kind) or list(DEFAULT_KINDS)


def _parse_list(text: str | Iterable[str], parse: Callable[[str], T]) -> list[T]:
    """A comma-separated string (or the items given) parsed one by one, blank items left
    out, each value once, in the order given."""
    items = text.split(",") if isinstance(text, str) else list(text)
    out: list[T] = []
    for item in items:
        if item.strip() and (value := parse(item)) not in out:
            out.append(value)
    return out


def stream_ids(symbols: Iterable[str], kinds: Iterable[StreamKind]) -> list[StreamId]:
    """Every (symbol, kind) pair, grouped by symbol in the order given."""
    kinds = list(kinds)
    return [StreamId(symbol, kind) for symbol in symbols for kind in kinds]
