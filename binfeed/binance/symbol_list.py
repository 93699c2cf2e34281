"""Which symbols ``record --symbols all`` records: Binance's exchangeInfo, read and filtered.

``GET /api/v3/exchangeInfo?symbolStatus=TRADING`` answers with every listed symbol::

    {"timezone": "UTC", "serverTime": 1723161600000, "rateLimits": [...],
     "symbols": [{"symbol": "ETHBTC", "status": "TRADING", "baseAsset": "ETH",
                  "quoteAsset": "BTC", ...}, ...]}

binfeed keeps a symbol only when its own ``status`` is ``TRADING``, whatever the request
asked: a server may ignore ``symbolStatus`` (older API versions and mirrors do), and a
symbol in ``BREAK`` or ``HALT`` sends no market data. ``--quote USDT`` keeps one quote
asset. The same rules read ``--symbols-file`` (one symbol a line, ``#`` comments).

Sans-I/O: bytes and strings in, lists out (the fetch is :mod:`binfeed.binance.rest`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from binfeed.binance.streams import normalize_symbol
from binfeed.errors import ConfigError
from binfeed.symbols import stream_symbol

#: The one status whose symbols send market data.
TRADING = "TRADING"
#: What ``--symbols`` takes to mean "every TRADING symbol of the exchange".
ALL = "all"


class ExchangeInfoError(ValueError):
    """An exchangeInfo answer that is not one (not JSON, no ``symbols`` list)."""


@dataclass(frozen=True, slots=True)
class Listing:
    """What exchangeInfo says of the symbols binfeed could record.

    Attributes:
        symbols: TRADING symbols that passed the quote filter, lower-case ASCII letters
            (stream-name form), in the exchange's order, without duplicates.
        not_trading: symbols skipped for their status, e.g. ``{"BREAK": 12}``.
        other_quote: TRADING symbols skipped by the quote filter.
        invalid: names binfeed cannot store (too long, empty), with the reason.
    """

    symbols: list[str]
    not_trading: dict[str, int]
    other_quote: int
    invalid: list[tuple[str, str]]


def parse_exchange_info(body: bytes | str, quote: str | None = None) -> Listing:
    """The recordable symbols of one exchangeInfo answer.

    Args:
        body: the HTTP body.
        quote: keep only symbols with this quote asset (ASCII letters in either case);
            None keeps all.

    Raises:
        ExchangeInfoError: the body is not an exchangeInfo answer.
    """
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ExchangeInfoError(f"exchangeInfo is not JSON: {exc}") from None
    entries = doc.get("symbols") if isinstance(doc, dict) else None
    if not isinstance(entries, list):
        raise ExchangeInfoError("exchangeInfo has no 'symbols' list")
    wanted_quote = _asset_key(quote) if quote else None
    symbols: list[str] = []
    seen: set[str] = set()
    not_trading: dict[str, int] = {}
    other_quote = 0
    invalid: list[tuple[str, str]] = []
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("symbol"), str):
            raise ExchangeInfoError(f"exchangeInfo symbol entry without a name: {entry!r:.80}")
        status = entry.get("status")
        if status != TRADING:
            key = status if isinstance(status, str) else repr(status)
            not_trading[key] = not_trading.get(key, 0) + 1
            continue
        asset = entry.get("quoteAsset")
        if wanted_quote is not None and (not isinstance(asset, str)
                                         or _asset_key(asset) != wanted_quote):
            other_quote += 1
            continue
        try:
            symbol = normalize_symbol(entry["symbol"])
        except ConfigError as exc:
            invalid.append((entry["symbol"], str(exc)))
            continue
        if symbol not in seen:
            seen.add(symbol)
            symbols.append(symbol)
    return Listing(symbols, not_trading, other_quote, invalid)


def parse_symbols_file(text: str, source: str = "symbols file") -> list[str]:
    """One symbol a line; blank lines and ``#`` comments (whole-line or trailing) ignored.

    Raises:
        ConfigError: an invalid symbol (with its line number), or no symbol at all.
    """
    out: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        item = line.split("#", 1)[0].strip()
        if not item:
            continue
        try:
            symbol = normalize_symbol(item)
        except ConfigError as exc:
            raise ConfigError(f"{source}, line {number}: {exc}") from None
        if symbol not in out:
            out.append(symbol)
    if not out:
        raise ConfigError(f"{source} names no symbol: write one symbol a line (btcusdt)")
    return out


@dataclass(frozen=True, slots=True)
class Change:
    """How a refreshed list differs from the one being recorded, in the new list's order
    (added) and the old one's (removed)."""

    added: list[str]
    removed: list[str]

    def __bool__(self) -> bool:
        return bool(self.added or self.removed)


def diff(old: Sequence[str], new: Iterable[str]) -> Change:
    """What to subscribe and unsubscribe to go from ``old`` to ``new``."""
    new = list(new)
    old_set, new_set = set(old), set(new)
    return Change([s for s in new if s not in old_set], [s for s in old if s not in new_set])


def _asset_key(text: str) -> str:
    """Assets compare as symbols do: ASCII letters in one case, other characters as is."""
    return stream_symbol(text.strip())
