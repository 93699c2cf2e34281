"""Binance's side of the market-stream protocol, sans-I/O: what binfeed's server says.

This is the model the loopback server (:mod:`binfeed.binance.server`) runs, written from
Binance's spot WebSocket-stream docs:

- paths: raw ``/ws/<stream>`` (also ``/ws`` with no stream, and ``/ws/a/b``), combined
  ``/stream?streams=a/b`` (also ``/stream`` with none); anything else is HTTP 404, an
  invalid or refused stream name in the path HTTP 400. Names may be percent-encoded
  (UTF-8: ``%E5%B8%81...usdt@trade``; Binance accepts URL-encoded names since 2025-12);
  a symbol is any name the queue can hold, ASCII letters lower-case
  (:func:`binfeed.binance.streams.is_stream_symbol`);
- ``timeUnit=MICROSECOND`` (or ``microsecond``) in the query asks for times in
  microseconds, ``MILLISECOND`` / ``millisecond`` or none for milliseconds; any other value
  is HTTP 400 (:mod:`binfeed.binance.timeunit`);
- control messages ``SUBSCRIBE``, ``UNSUBSCRIBE``, ``LIST_SUBSCRIPTIONS``,
  ``SET_PROPERTY``/``GET_PROPERTY`` (``combined``), with Binance's replies
  (``{"result":null,"id":1}``) and error replies (``{"error":{"code":2,"msg":"Invalid
  request: ..."},"id":1}``, or the bare ``{"code":2,"msg":..,"id":1}`` with
  ``bare_errors``), codes 0 (unknown property), 1 (invalid value type), 2 (invalid request)
  and 3 (invalid JSON);
- at most 1024 streams per connection;
- an incoming-message budget: PING, PONG and control messages together, 5 per rolling
  second; one more and the connection is closed with 1008 ("Too many requests").

A subscription to a well-formed stream that has no data (an unknown symbol) is accepted
and then delivers nothing, as on Binance.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote

from binfeed.binance.pacing import BINANCE_MESSAGE_LIMIT, BINANCE_MESSAGE_WINDOW, RollingWindow
from binfeed.binance.streams import is_stream_symbol
from binfeed.binance.timeunit import TimeUnit

METHODS = ("SUBSCRIBE", "UNSUBSCRIBE", "LIST_SUBSCRIPTIONS", "SET_PROPERTY", "GET_PROPERTY")
#: What follows a stream name's symbol: ``@<type>[@<option>]``.
_STREAM_SUFFIX_RE = re.compile(r"@[A-Za-z0-9_]+(?:@[A-Za-z0-9_]+)*")
#: An all-market stream's first part (``!ticker@arr``, ``!miniTicker@arr``).
_ALL_MARKET_RE = re.compile(r"![A-Za-z0-9_]+")
#: Binance: 64-bit signed integer ids, or alphanumeric strings of at most 36 characters.
ID_STRING_RE = re.compile(r"[A-Za-z0-9_-]{0,36}")
MAX_STREAMS = 1024
INCOMING_LIMIT = BINANCE_MESSAGE_LIMIT
INCOMING_WINDOW = BINANCE_MESSAGE_WINDOW
CLOSE_TOO_MANY_REQUESTS = (1008, "Too many requests")


#: The stream name of ``serverShutdown`` events on combined-stream connections.
SERVER_SHUTDOWN_STREAM = "!serverShutdown"


def server_shutdown_event(event_ms: int, combined: bool = True) -> str:
    """Binance's announcement that the server is going away: reconnect now.

    Raw (``/ws``) connections get ``{"e":"serverShutdown","E":..}``; combined ones
    (``/stream``) get it wrapped like every event, as the stream ``!serverShutdown``.
    """
    event = {"e": "serverShutdown", "E": event_ms}
    body = {"stream": SERVER_SHUTDOWN_STREAM, "data": event} if combined else event
    return json.dumps(body, separators=(",", ":"))


def valid_stream_name(name: str) -> bool:
    """A well-formed stream name: ``<symbol>@<type>[@<option>]`` (the symbol as stream names
    spell it: ``btcusdt@trade``, ``币安人生usdt@trade``) or an all-market ``!...`` one."""
    head, at, rest = name.partition("@")
    if not at or not _STREAM_SUFFIX_RE.fullmatch(at + rest):
        return False
    return _ALL_MARKET_RE.fullmatch(head) is not None or is_stream_symbol(head)


@dataclass(frozen=True, slots=True)
class Route:
    """An accepted connect path: combined or raw envelopes, streams named in the path (as
    decoded from it), the unit of the times to send."""

    combined: bool
    streams: tuple[str, ...]
    time_unit: TimeUnit = TimeUnit.MS


@dataclass(frozen=True, slots=True)
class Rejection:
    """A refused connect path: the HTTP status and body to answer with."""

    status: int
    text: str


def route(target: str, refuse: Callable[[str], bool] = lambda name: False) -> Route | Rejection:
    """Routes an HTTP request target ('/stream?streams=a/b', '/ws/a').

    Args:
        target: the path with its query string.
        refuse: names of streams this server refuses (fault injection).
    """
    path, _, query = target.partition("?")
    try:
        params = parse_qs(query, keep_blank_values=True, errors="strict")
        if path in ("/ws", "/ws/"):
            names: list[str] = []
            combined = False
        elif path.startswith("/ws/"):
            names = [unquote(n, errors="strict") for n in path[4:].split("/") if n]
            combined = False
        elif path in ("/stream", "/stream/"):
            names = [n for n in params.get("streams", [""])[-1].split("/") if n]
            combined = True
        else:
            return Rejection(404, f"No WebSocket endpoint at {path}: use /ws/<stream> or "
                                  "/stream?streams=<stream>/<stream>\n")
    except UnicodeDecodeError:
        return Rejection(400, "Invalid request: the URL is not percent-encoded UTF-8\n")
    try:
        unit = TimeUnit.from_url_value(params["timeUnit"][-1]) if "timeUnit" in params \
            else TimeUnit.MS
    except ValueError as exc:
        return Rejection(400, f"Invalid request: {exc}\n")
    for name in names:
        if not valid_stream_name(name):
            return Rejection(400, f"Invalid request: invalid stream name `{name}`\n")
        if refuse(name):
            return Rejection(400, f"Invalid request: stream `{name}` is not available\n")
    if len(set(names)) > MAX_STREAMS:
        return Rejection(400, f"Invalid request: too many streams (at most {MAX_STREAMS})\n")
    return Route(combined, tuple(dict.fromkeys(names)), unit)


class IncomingBudget:
    """Binance's 5 incoming messages per second per connection (PING, PONG, control).

    :meth:`hit` counts one message and says whether the connection is now over the limit;
    :attr:`max_in_window` is the most messages seen in any window (for tests and logs).
    """

    def __init__(self, limit: int = INCOMING_LIMIT, window: float = INCOMING_WINDOW) -> None:
        self.limit = limit
        self._window = RollingWindow(limit + 1, window)
        self.max_in_window = 0
        self.total = 0

    def hit(self, now: float) -> bool:
        self._window.record(now)
        self.total += 1
        count = self._window.count(now)
        self.max_in_window = max(self.max_in_window, count)
        return count > self.limit


@dataclass
class Session:
    """One client connection's subscriptions and control-message handling.

    Args:
        route: how the client connected.
        refuse: stream names refused on SUBSCRIBE (fault injection; Binance itself accepts
            any well-formed name).
        bare_errors: send errors as ``{"code":..,"msg":..,"id":..}`` instead of
            ``{"error":{..},"id":..}``.
    """

    route: Route
    refuse: Callable[[str], bool] = lambda name: False
    bare_errors: bool = False
    subscriptions: dict[str, None] = field(init=False)
    combined: bool = field(init=False)
    #: the stream names of the last SUBSCRIBE handled, accepted or refused
    requested: list[str] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        self.subscriptions = dict.fromkeys(self.route.streams)
        self.combined = self.route.combined

    def handle(self, text: str) -> tuple[str, list[str], list[str]]:
        """Handles one control message.

        Returns:
            (reply text, stream names subscribed by it, stream names unsubscribed by it).
        """
        self.requested = []
        try:
            obj = json.loads(text)
        except ValueError as exc:
            line, col = _json_position(exc)
            return self._error(None, 3, f"Invalid JSON: expected value at line {line} "
                                        f"column {col}"), [], []
        if not isinstance(obj, dict):
            return self._error(None, 2, "Invalid request: expected a JSON object at line 1 "
                                        f"column {len(text)}"), [], []
        ident = obj.get("id")
        method = obj.get("method")
        if "method" not in obj:
            return self._error(ident if _valid_id(ident) else None, 2,
                               "Invalid request: missing field `method` at line 1 column "
                               f"{len(text)}"), [], []
        if method not in METHODS:
            expected = ", ".join(f"`{m}`" for m in METHODS)
            return self._error(ident if _valid_id(ident) else None, 2,
                               f"Invalid request: unknown variant `{method}`, expected one of "
                               f"{expected} at line 1 column {_column_after(text, method)}"), [], []
        if "id" not in obj or not _valid_id(ident):
            return self._error(None, 2,
                               "Invalid request: request ID must be an unsigned integer"), [], []
        params = obj.get("params")
        if method == "LIST_SUBSCRIPTIONS":
            if params not in (None, []):
                return self._error(ident, 2, "Invalid request: too many parameters"), [], []
            return self._ok(ident, list(self.subscriptions)), [], []
        if method in ("SET_PROPERTY", "GET_PROPERTY"):
            return self._property(ident, method, params), [], []
        if not isinstance(params, list) or not params or not all(
            isinstance(p, str) for p in params
        ):
            return self._error(ident, 2, "Invalid request: params must be a non-empty array "
                                         "of stream names"), [], []
        for name in params:
            if not valid_stream_name(name):
                return self._error(ident, 2,
                                   f"Invalid request: invalid stream name `{name}`"), [], []
        if method == "SUBSCRIBE":
            self.requested = list(dict.fromkeys(params))
        if method == "UNSUBSCRIBE":
            gone = [n for n in dict.fromkeys(params) if n in self.subscriptions]
            for name in gone:
                del self.subscriptions[name]
            return self._ok(ident, None), [], gone
        for name in params:
            if self.refuse(name):
                return self._error(ident, 2,
                                   f"Invalid request: stream `{name}` is not available"), [], []
        new = [n for n in dict.fromkeys(params) if n not in self.subscriptions]
        if len(self.subscriptions) + len(new) > MAX_STREAMS:
            return self._error(ident, 2, f"Invalid request: too many streams (at most "
                                         f"{MAX_STREAMS} per connection)"), [], []
        for name in new:
            self.subscriptions[name] = None
        return self._ok(ident, None), new, []

    def _property(self, ident: Any, method: str, params: Any) -> str:
        if not isinstance(params, list) or not params:
            return self._error(ident, 2, "Invalid request: property name must be a string")
        if not isinstance(params[0], str):
            return self._error(ident, 2, "Invalid request: property name must be a string")
        if params[0] != "combined":
            return self._error(ident, 0, "Unknown property")
        if method == "GET_PROPERTY":
            if len(params) != 1:
                return self._error(ident, 2, "Invalid request: too many parameters")
            return self._ok(ident, self.combined)
        if len(params) != 2:
            return self._error(ident, 2, "Invalid request: too many parameters")
        if not isinstance(params[1], bool):
            return self._error(ident, 1, "Invalid value type: expected Boolean")
        self.combined = params[1]
        return self._ok(ident, None)

    @staticmethod
    def _ok(ident: Any, result: Any) -> str:
        return json.dumps({"result": result, "id": ident}, separators=(",", ":"))

    def _error(self, ident: Any, code: int, msg: str) -> str:
        if self.bare_errors:
            return json.dumps({"code": code, "msg": msg, "id": ident}, separators=(",", ":"))
        return json.dumps({"error": {"code": code, "msg": msg}, "id": ident},
                          separators=(",", ":"))

    def wants(self, names: Iterable[str]) -> bool:
        return any(n in self.subscriptions for n in names)


def _valid_id(ident: Any) -> bool:
    if ident is None:
        return True
    if isinstance(ident, bool):
        return False
    if isinstance(ident, int):
        return -(2**63) <= ident < 2**63
    return isinstance(ident, str) and ID_STRING_RE.fullmatch(ident) is not None


def _json_position(exc: ValueError) -> tuple[int, int]:
    return getattr(exc, "lineno", 1), getattr(exc, "colno", 1)


def _column_after(text: str, method: Any) -> int:
    needle = json.dumps(method)
    at = text.find(needle)
    return at + len(needle) if at >= 0 else len(text)
