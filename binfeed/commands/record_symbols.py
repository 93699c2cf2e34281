"""Which symbols ``binfeed record`` records: ``--symbols``, ``--symbols-file`` or ``--symbols all``.

``--symbols all`` reads the exchange's TRADING symbols from ``--rest-url`` at start (exit 5
when that fails after bounded retries, :mod:`binfeed.binance.rest`) and again every
``--symbols-refresh``: symbols listed since are subscribed, delisted ones unsubscribed, both
logged. A refresh that fails keeps the current list (logged) and is tried again at the
next one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import click

from binfeed.binance import symbol_list
from binfeed.binance.rest import DEFAULT_REST_URL, fetch_listing
from binfeed.binance.streams import StreamKind, parse_symbols, stream_ids
from binfeed.binance.symbol_list import ALL, Listing
from binfeed.commands.params import PERIOD
from binfeed.errors import ConfigError, EndpointError

if TYPE_CHECKING:
    import ssl

    from binfeed.binance.supervisor import Recorder

log = logging.getLogger("binfeed.record")

F = TypeVar("F", bound=Callable[..., Any])

#: How often ``--symbols all`` reads exchangeInfo again.
DEFAULT_SYMBOLS_REFRESH = "1h"


@dataclass(frozen=True)
class SymbolChoice:
    """What the symbol options said: a fixed list, or every TRADING symbol (``listed``)."""

    symbols: list[str] | None
    rest_url: str = DEFAULT_REST_URL
    quote: str | None = None
    refresh_s: float = 3600.0

    @property
    def listed(self) -> bool:
        return self.symbols is None


def symbol_options(fn: F) -> F:
    """The record command's symbol options (the command gets ``choice: SymbolChoice``)."""
    options = [
        click.option("--symbols", "-s", metavar="SYM[,SYM...]|all", default=None,
                     help="Symbols to record, comma-separated, any case (btcusdt,ethusdt); "
                     "'all': every TRADING symbol of the exchange (--quote, --rest-url)."),
        click.option("--symbols-file", type=click.Path(dir_okay=False, path_type=Path),
                     default=None, metavar="FILE",
                     help="Read the symbols from FILE: one a line, '#' starts a comment."),
        click.option("--quote", metavar="ASSET", default=None,
                     help="With --symbols all: only symbols quoted in ASSET (USDT)."),
        click.option("--rest-url", default=DEFAULT_REST_URL, show_default=True,
                     metavar="URL", help="With --symbols all: where exchangeInfo is read "
                     "(Binance's public market-data host)."),
        click.option("--symbols-refresh", type=PERIOD, default=DEFAULT_SYMBOLS_REFRESH,
                     show_default=True,
                     metavar="AGE", help="With --symbols all: read exchangeInfo again this "
                     "often (30m, 1h, 1d); new symbols are subscribed, delisted ones "
                     "unsubscribed."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def symbol_choice(symbols: str | None, symbols_file: Path | None, quote: str | None,
                  rest_url: str, symbols_refresh: float) -> SymbolChoice:
    """The options' meaning.

    Raises:
        click.UsageError: neither or both of --symbols and --symbols-file, --quote without
            --symbols all, an invalid symbol.
    """
    if (symbols is None) == (symbols_file is None):
        raise click.UsageError("give the symbols to record: --symbols btcusdt[,ethusdt...], "
                               "--symbols all, or --symbols-file FILE (one of them)")
    listed = symbols is not None and symbols.strip().lower() == ALL
    if quote is not None and not listed:
        raise click.UsageError("--quote filters --symbols all; with a list, name the "
                               "symbols you want")
    if listed:
        return SymbolChoice(None, rest_url, quote, float(symbols_refresh))
    try:
        if symbols_file is not None:
            try:
                text = symbols_file.read_text(encoding="utf-8")
            except OSError as exc:
                raise ConfigError(f"cannot read --symbols-file {symbols_file}: "
                                  f"{exc.strerror or exc}") from None
            except UnicodeDecodeError as exc:
                raise ConfigError(f"--symbols-file {symbols_file} is not UTF-8 text: "
                                  f"{exc.reason} at byte {exc.start}") from None
            return SymbolChoice(symbol_list.parse_symbols_file(text, str(symbols_file)))
        assert symbols is not None
        return SymbolChoice(parse_symbols(symbols))
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None


async def listed_symbols(choice: SymbolChoice, ssl_context: ssl.SSLContext | None) -> list[str]:
    """The TRADING symbols at ``choice.rest_url``, what was left out logged.

    Raises:
        EndpointError: exchangeInfo could not be had (exit 5 at start).
        ConfigError: it lists no symbol binfeed can record.
    """
    listing = await fetch_listing(choice.rest_url, quote=choice.quote, ssl_context=ssl_context)
    _log_listing(listing, choice)
    if not listing.symbols:
        raise ConfigError(f"{choice.rest_url} lists no TRADING symbol"
                          + (f" quoted in {choice.quote}" if choice.quote else ""))
    return listing.symbols


def _log_listing(listing: Listing, choice: SymbolChoice) -> None:
    skipped = ", ".join(f"{n} {status}" for status, n in sorted(listing.not_trading.items()))
    log.info("exchangeInfo at %s: %d TRADING symbols to record%s%s", choice.rest_url,
             len(listing.symbols), f" (skipped: {skipped})" if skipped else "",
             f"; {listing.other_quote} with another quote than {choice.quote}"
             if choice.quote else "")
    for name, why in listing.invalid:
        log.warning("exchangeInfo lists %r, which binfeed cannot record: %s", name, why)


async def refresh_symbols(choice: SymbolChoice, current: list[str],
                          ssl_context: ssl.SSLContext | None,
                          apply: Callable[[symbol_list.Change], None]) -> None:
    """Every ``choice.refresh_s``: read the listing again and ``apply`` what changed."""
    while True:
        await anyio.sleep(choice.refresh_s)
        try:
            listing = await fetch_listing(choice.rest_url, quote=choice.quote,
                                          ssl_context=ssl_context)
        except EndpointError as exc:  # the current list stays
            log.warning("symbol refresh failed, keeping %d symbols: %s", len(current), exc)
            continue
        if not listing.symbols:
            log.warning("symbol refresh: %s lists no TRADING symbol now; keeping %d symbols",
                        choice.rest_url, len(current))
            continue
        change = symbol_list.diff(current, listing.symbols)
        if not change:
            continue
        if change.added:
            log.warning("symbol refresh: %d new symbol(s), subscribing: %s", len(change.added),
                        ", ".join(change.added))
        if change.removed:
            log.warning("symbol refresh: %d symbol(s) no longer TRADING, unsubscribing: %s",
                        len(change.removed), ", ".join(change.removed))
        apply(change)
        current[:] = listing.symbols


@dataclass(frozen=True)
class SymbolRefresh:
    """``--symbols all``'s refresh of a running recorder: the listing read again every
    ``choice.refresh_s``, its changes applied to the recorder's streams (each symbol's
    ``kinds``)."""

    choice: SymbolChoice
    symbols: list[str]
    kinds: Sequence[StreamKind]
    ssl_context: ssl.SSLContext | None = None

    async def run(self, recorder: Recorder) -> None:
        """Refreshes until cancelled (start it once ``recorder.run`` is running)."""
        kinds = self.kinds

        def apply(change: symbol_list.Change) -> None:
            recorder.change_streams(stream_ids(change.added, kinds),
                                    stream_ids(change.removed, kinds))

        await refresh_symbols(self.choice, list(self.symbols), self.ssl_context, apply)
