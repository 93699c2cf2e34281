"""Binance stream names: which symbols and kinds a recorder subscribes to.

A stream name is the lower-case symbol, ``@`` and the stream type, exactly as Binance
spells it: ``btcusdt@bookTicker``, ``btcusdt@trade``. Payloads carry the symbol upper-case
(``"s":"BTCUSDT"``); only stream names are lower-case.

Sans-I/O: no sockets, no event loop (the stream kinds' codes come from the C header).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from binfeed.errors import ConfigError
from binfeed.records import Stream

#: Symbols binfeed accepts: what the queue can store (binfeed_reader.h: BF_SYMBOL_MAX = 32,
#: characters [A-Za-z0-9_-]), written lower-case in stream names.
SYMBOL_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")


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
    """' BTCUSDT ' -> 'btcusdt'.

    Raises:
        ConfigError: empty, longer than 32 characters, or characters other than letters,
            digits, '_' and '-'.
    """
    symbol = text.strip().lower()
    if not SYMBOL_RE.fullmatch(symbol):
        raise ConfigError(
            f"invalid symbol {text!r}: use Binance's symbol name, letters and digits only "
            "(for example btcusdt)"
        )
    return symbol


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
        """'btcusdt@trade' -> StreamId('btcusdt', TRADE); None for any other stream."""
        symbol, sep, kind = name.partition("@")
        if not sep or not SYMBOL_RE.fullmatch(symbol):
            return None
        for k in StreamKind:
            if k.wire_name == kind:
                return cls(symbol, k)
        return None


def parse_symbols(text: str | Iterable[str]) -> list[str]:
    """'btcusdt, ETHUSDT' (or a list) -> ['btcusdt', 'ethusdt'], duplicates removed.

    Raises:
        ConfigError: no symbol, or an invalid one.
    """
    items = text.split(",") if isinstance(text, str) else list(text)
    out: list[str] = []
    for item in items:
        if not item.strip():
            continue
        symbol = normalize_symbol(item)
        if symbol not in out:
            out.append(symbol)
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
    items = text.split(",") if isinstance(text, str) else list(text)
    out: list[StreamKind] = []
    for item in items:
        if not item.strip():
            continue
        kind = parse_kind(item)
        if kind not in out:
            out.append(kind)
    return out or list(DEFAULT_KINDS)


def stream_ids(symbols: Iterable[str], kinds: Iterable[StreamKind]) -> list[StreamId]:
    """Every (symbol, kind) pair, grouped by symbol in the order given."""
    kinds = list(kinds)
    return [StreamId(symbol, kind) for symbol in symbols for kind in kinds]
