"""An exchangeInfo answer in Binance's real shape, and a loopback HTTP server for it.

The shape is that of ``GET /api/v3/exchangeInfo`` in Binance's Spot REST docs (every
field of a symbol entry, with filters, permission sets and self-trade-prevention modes).
The listing is made, not captured: 420 symbols over six quote assets, a few in each
non-trading status Binance documents (PRE_TRADING, POST_TRADING, END_OF_DAY, HALT,
AUCTION_MATCH, BREAK), and one UTF-8 symbol, as Binance lists since 2025-12.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BASES = ["BTC", "ETH", "BNB", "XRP", "ADA", "SOL", "DOGE", "DOT", "LTC", "TRX", "LINK",
         "AVAX", "ATOM", "XLM", "ETC", "FIL", "NEAR", "APT", "ARB", "OP", "SUI", "SEI",
         "INJ", "TIA", "PEPE", "SHIB", "WIF", "BONK", "FET", "RNDR", "AAVE", "UNI", "MKR",
         "CRV", "LDO", "SNX", "COMP", "GRT", "SAND", "MANA", "AXS", "GALA", "IMX", "APE",
         "CHZ", "ENJ", "FLOW", "EGLD", "THETA", "ALGO", "VET", "ICP", "HBAR", "QNT", "KAVA",
         "ZEC", "DASH", "XMR", "NEO", "WAVES", "IOTA", "ZIL", "ONT", "QTUM", "BAT", "ZRX",
         "OMG", "SXP", "RUNE", "CAKE"]
QUOTES = ["USDT", "BTC", "ETH", "FDUSD", "TRY", "EUR"]
NOT_TRADING = ["PRE_TRADING", "POST_TRADING", "END_OF_DAY", "HALT", "AUCTION_MATCH", "BREAK"]
UTF8_SYMBOL = "币安人生USDT"


def _entry(symbol: str, base: str, quote: str, status: str) -> dict[str, object]:
    return {
        "symbol": symbol, "status": status, "baseAsset": base, "baseAssetPrecision": 8,
        "quoteAsset": quote, "quotePrecision": 8, "quoteAssetPrecision": 8,
        "baseCommissionPrecision": 8, "quoteCommissionPrecision": 8,
        "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT",
                       "TAKE_PROFIT_LIMIT"],
        "icebergAllowed": True, "ocoAllowed": True, "otoAllowed": True,
        "quoteOrderQtyMarketAllowed": True, "allowTrailingStop": True,
        "cancelReplaceAllowed": True, "amendAllowed": True, "pegInstructionsAllowed": True,
        "isSpotTradingAllowed": True, "isMarginTradingAllowed": False,
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": "0.01000000",
             "maxPrice": "1000000.00000000", "tickSize": "0.01000000"},
            {"filterType": "LOT_SIZE", "minQty": "0.00001000", "maxQty": "9000.00000000",
             "stepSize": "0.00001000"},
            {"filterType": "ICEBERG_PARTS", "limit": 10},
            {"filterType": "MARKET_LOT_SIZE", "minQty": "0.00000000",
             "maxQty": "76.27000000", "stepSize": "0.00000000"},
            {"filterType": "TRAILING_DELTA", "minTrailingAboveDelta": 10,
             "maxTrailingAboveDelta": 2000, "minTrailingBelowDelta": 10,
             "maxTrailingBelowDelta": 2000},
            {"filterType": "PERCENT_PRICE_BY_SIDE", "bidMultiplierUp": "5",
             "bidMultiplierDown": "0.2", "askMultiplierUp": "5", "askMultiplierDown": "0.2",
             "avgPriceMins": 5},
            {"filterType": "NOTIONAL", "minNotional": "5.00000000", "applyMinToMarket": True,
             "maxNotional": "9000000.00000000", "applyMaxToMarket": False,
             "avgPriceMins": 5},
            {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": 200},
            {"filterType": "MAX_NUM_ALGO_ORDERS", "maxNumAlgoOrders": 5},
        ],
        "permissions": [], "permissionSets": [["SPOT", "MARGIN"]],
        "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH",
                                            "DECREMENT"],
    }


def exchange_info(n_symbols: int = 420) -> dict[str, object]:
    """The answer: every 13th symbol in a non-trading status, the UTF-8 one TRADING."""
    entries = []
    pairs = [(b, q) for q in QUOTES for b in BASES if b != q]
    for i, (base, quote) in enumerate(pairs[:n_symbols - 1]):
        status = NOT_TRADING[(i // 13) % len(NOT_TRADING)] if i % 13 == 12 else "TRADING"
        entries.append(_entry(base + quote, base, quote, status))
    entries.append(_entry(UTF8_SYMBOL, "币安人生", "USDT", "TRADING"))
    return {
        "timezone": "UTC", "serverTime": 1723161600000,
        "rateLimits": [
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
             "limit": 6000},
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10,
             "limit": 100},
            {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5,
             "limit": 61000},
        ],
        "exchangeFilters": [], "symbols": entries,
    }


def trading_symbols(info: dict[str, object], quote: str | None = None) -> list[str]:
    """The oracle: what ``--symbols all [--quote Q]`` must record, stream-name case."""
    out = []
    for entry in info["symbols"]:  # type: ignore[union-attr]
        if entry["status"] == "TRADING" and (quote is None or entry["quoteAsset"] == quote):
            out.append("".join(c.lower() if c.isascii() else c for c in entry["symbol"]))
    return out


@dataclass
class RestServer:
    """A real HTTP server on 127.0.0.1 answering exchangeInfo.

    ``failures`` lists answers to give first, one per request: ``(status, headers,
    body)``. ``honour_status`` False ignores ``symbolStatus`` (returns every symbol), as
    some servers do; True filters by it, as Binance does. ``next_info``, when given,
    replaces ``info`` once ``info`` was served (symbols listed and delisted meanwhile).
    """

    info: dict[str, object]
    honour_status: bool = False
    failures: list[tuple[int, dict[str, str], bytes]] = field(default_factory=list)
    next_info: dict[str, object] | None = None
    requests: list[str] = field(default_factory=list)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _answer(self, path: str) -> tuple[int, dict[str, str], bytes]:
        self.requests.append(path)
        if self.failures:
            return self.failures.pop(0)
        if not path.startswith("/api/v3/exchangeInfo"):
            return 404, {}, b'{"code":-1,"msg":"not found"}'
        info = self.info
        if self.next_info is not None:
            self.info, self.next_info = self.next_info, None
        if self.honour_status and "symbolStatus=TRADING" in path:
            info = dict(info, symbols=[s for s in info["symbols"]  # type: ignore[union-attr]
                                       if s["status"] == "TRADING"])
        return 200, {"Content-Type": "application/json;charset=UTF-8"}, \
            json.dumps(info, ensure_ascii=False).encode()


@contextmanager
def rest_server(server: RestServer) -> Iterator[RestServer]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, headers, body = server._answer(self.path)
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()
