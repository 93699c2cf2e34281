"""The server side of the protocol (routes, control replies, incoming budget): no network."""

from __future__ import annotations

import json

import pytest

from binfeed.binance.exchange import (
    IncomingBudget,
    Rejection,
    Route,
    Session,
    route,
    server_shutdown_event,
)
from binfeed.binance.timeunit import TimeUnit, payload_in_unit
from binfeed.errors import ConfigError


def test_routes() -> None:
    assert route("/stream?streams=btcusdt@bookTicker/btcusdt@trade") == Route(
        True, ("btcusdt@bookTicker", "btcusdt@trade"))
    assert route("/stream") == Route(True, ())
    assert route("/stream?streams=") == Route(True, ())
    assert route("/ws/btcusdt@trade") == Route(False, ("btcusdt@trade",))
    assert route("/ws") == Route(False, ())
    assert route("/ws/a@trade/b@depth@100ms") == Route(False, ("a@trade", "b@depth@100ms"))
    assert route("/stream?streams=!ticker@arr") == Route(True, ("!ticker@arr",))
    r = route("/api/v3/depth")
    assert isinstance(r, Rejection)
    assert r.status == 404
    r = route("/stream?streams=BTC USDT")
    assert isinstance(r, Rejection)
    assert r.status == 400
    r = route("/stream?streams=xyz@trade", refuse=lambda n: n.startswith("xyz"))
    assert isinstance(r, Rejection)
    assert r.status == 400
    assert "xyz@trade" in r.text


CJK = "币安人生"
CJK_URL = "%E5%B8%81%E5%AE%89%E4%BA%BA%E7%94%9F"  # the same, percent-encoded UTF-8


def test_routes_decode_percent_encoded_utf8_names() -> None:
    assert route(f"/stream?streams={CJK_URL}usdt@trade/btcusdt@trade") == Route(
        True, (f"{CJK}usdt@trade", "btcusdt@trade"))
    assert route(f"/ws/{CJK_URL}usdt@bookTicker") == Route(False, (f"{CJK}usdt@bookTicker",))
    assert route("/ws/btc%75sdt@trade") == Route(False, ("btcusdt@trade",))
    # a raw (unencoded) name, as some clients send it, decodes the same way
    assert route(f"/stream?streams={CJK}usdt@trade") == Route(True, (f"{CJK}usdt@trade",))
    for bad in ["/ws/%E5%B8usdt@trade",  # not UTF-8 once decoded
                f"/stream?streams={CJK_URL}USDT@trade",  # not lower-case ASCII letters
                f"/stream?streams={CJK_URL * 3}@trade",  # 36 bytes: more than a queue holds
                "/ws/btc%2Fusdt@trade"]:  # a '/' inside a name
        r = route(bad)
        assert isinstance(r, Rejection), bad
        assert r.status == 400


def test_routes_take_binances_time_unit() -> None:
    for value in ("MICROSECOND", "microsecond"):
        assert route(f"/stream?streams=btcusdt@trade&timeUnit={value}") == Route(
            True, ("btcusdt@trade",), TimeUnit.US)
        assert route(f"/ws/btcusdt@trade?timeUnit={value}") == Route(
            False, ("btcusdt@trade",), TimeUnit.US)
    for value in ("MILLISECOND", "millisecond"):
        assert route(f"/stream?timeUnit={value}") == Route(True, (), TimeUnit.MS)
    assert route("/stream?streams=btcusdt@trade").time_unit is TimeUnit.MS  # type: ignore[union-attr]
    r = route("/stream?streams=btcusdt@trade&timeUnit=NANOSECOND")
    assert isinstance(r, Rejection)
    assert r.status == 400
    assert "timeUnit" in r.text


def test_subscribe_takes_utf8_names_raw_or_escaped() -> None:
    s = Session(Route(True, ()))
    out, new, _ = s.handle(json.dumps({"method": "SUBSCRIBE", "params": [f"{CJK}usdt@trade"],
                                       "id": 1}, ensure_ascii=False))
    assert json.loads(out) == {"result": None, "id": 1}
    assert new == [f"{CJK}usdt@trade"]
    out, new, _ = s.handle(json.dumps({"method": "SUBSCRIBE", "params": [f"{CJK}usdt@bookTicker"],
                                       "id": 2}))  # \uXXXX escapes
    assert new == [f"{CJK}usdt@bookTicker"]
    assert reply(s, {"method": "LIST_SUBSCRIPTIONS", "id": 3})["result"] == [
        f"{CJK}usdt@trade", f"{CJK}usdt@bookTicker"]
    assert "error" in reply(s, {"method": "SUBSCRIBE", "params": [f"{CJK}USDT@trade"], "id": 4})


def test_payload_times_convert_exactly_to_the_asked_unit() -> None:
    ms = ('{"e":"trade","E":1764633600124,"s":"BTCUSDT","t":5,"p":"1.0","q":"2.0",'
          '"T":1764633600123,"m":true}')
    us = ms.replace(":1764633600124,", ":1764633600124000,").replace(":1764633600123,",
                                                                      ":1764633600123000,")
    assert payload_in_unit(ms, TimeUnit.MS) is ms  # already in the unit: the same text
    assert payload_in_unit(ms, TimeUnit.US) == us
    assert payload_in_unit(us, TimeUnit.MS) == ms
    # microseconds to milliseconds round down, as Binance's own millisecond times do
    fine = us.replace(":1764633600123000,", ":1764633600123999,")
    assert payload_in_unit(fine, TimeUnit.MS) == ms
    assert payload_in_unit(fine, TimeUnit.US) is fine
    # the bound is the parser's (BF_MICROSECOND_TIMES_FROM): 10^14 - 1 is milliseconds
    edge = '{"E":99999999999999,"T":100000000000000}'
    assert payload_in_unit(edge, TimeUnit.US) == '{"E":99999999999999000,"T":100000000000000}'
    assert payload_in_unit(edge, TimeUnit.MS) == '{"E":99999999999999,"T":100000000000}'
    # every E and T at any depth (arrays of events, a kline's close time); nothing else;
    # UTF-8 text stays UTF-8; a bookTicker without times and text that is no JSON unchanged
    arr = '[{"e":"24hrMiniTicker","E":1,"s":"币安人生USDT","c":"1"},{"k":{"t":5,"T":6}}]'
    assert payload_in_unit(arr, TimeUnit.US) == (
        '[{"e":"24hrMiniTicker","E":1000,"s":"币安人生USDT","c":"1"},{"k":{"t":5,"T":6000}}]')
    book = '{"u":1,"s":"BTCUSDT","b":"1","B":"1","a":"1","A":"1"}'
    assert payload_in_unit(book, TimeUnit.US) is book
    assert payload_in_unit('not json "E":5', TimeUnit.US) == 'not json "E":5'
    assert TimeUnit.parse(" US ") is TimeUnit.US
    with pytest.raises(ConfigError, match=r"ms .* or us"):
        TimeUnit.parse("ns")


def reply(session: Session, obj: object) -> dict:
    text = obj if isinstance(obj, str) else json.dumps(obj)
    out, _, _ = session.handle(text)
    return json.loads(out)


def test_subscribe_unsubscribe_list() -> None:
    s = Session(Route(True, ("a@trade",)))
    assert reply(s, {"method": "SUBSCRIBE", "params": ["b@trade", "a@trade"], "id": 1}) == {
        "result": None, "id": 1}
    out, new, gone = s.handle(json.dumps({"method": "SUBSCRIBE", "params": ["c@trade"],
                                          "id": "x1"}))
    assert json.loads(out) == {"result": None, "id": "x1"}
    assert new == ["c@trade"]
    assert reply(s, {"method": "LIST_SUBSCRIPTIONS", "id": 2}) == {
        "result": ["a@trade", "b@trade", "c@trade"], "id": 2}
    out, new, gone = s.handle(json.dumps({"method": "UNSUBSCRIBE", "params": ["a@trade"],
                                          "id": 3}))
    assert gone == ["a@trade"]
    assert reply(s, {"method": "LIST_SUBSCRIPTIONS", "id": None}) == {
        "result": ["b@trade", "c@trade"], "id": None}


def test_properties() -> None:
    s = Session(Route(False, ()))
    assert reply(s, {"method": "GET_PROPERTY", "params": ["combined"], "id": 1})["result"] is False
    assert reply(s, {"method": "SET_PROPERTY", "params": ["combined", True], "id": 2}) == {
        "result": None, "id": 2}
    assert s.combined
    assert reply(s, {"method": "SET_PROPERTY", "params": ["combined", "yes"], "id": 3})[
        "error"] == {"code": 1, "msg": "Invalid value type: expected Boolean"}
    assert reply(s, {"method": "GET_PROPERTY", "params": ["colour"], "id": 4})["error"] == {
        "code": 0, "msg": "Unknown property"}


@pytest.mark.parametrize(
    ("message", "code", "starts"),
    [
        ("{not json", 3, "Invalid JSON: expected value at line 1 column"),
        ('{"params":["a@trade"],"id":1}', 2, "Invalid request: missing field `method`"),
        ('{"method":"SUBSCRIB","params":["a@trade"],"id":1}', 2,
         "Invalid request: unknown variant `SUBSCRIB`, expected one of `SUBSCRIBE`"),
        ('{"method":"SUBSCRIBE","params":["a@trade"],"id":1.5}', 2,
         "Invalid request: request ID must be an unsigned integer"),
        ('{"method":"SUBSCRIBE","params":["a@trade"]}', 2,
         "Invalid request: request ID must be an unsigned integer"),
        ('{"method":"SUBSCRIBE","params":"a@trade","id":1}', 2, "Invalid request: params"),
        ('{"method":"SUBSCRIBE","params":[],"id":1}', 2, "Invalid request: params"),
        ('{"method":"SUBSCRIBE","params":["BTC USDT"],"id":1}', 2,
         "Invalid request: invalid stream name"),
        ('{"method":"LIST_SUBSCRIPTIONS","params":["x"],"id":1}', 2,
         "Invalid request: too many parameters"),
        ("[1]", 2, "Invalid request"),
    ],
)
def test_error_replies(message: str, code: int, starts: str) -> None:
    s = Session(Route(True, ()))
    out = json.loads(s.handle(message)[0])
    assert out["error"]["code"] == code
    assert out["error"]["msg"].startswith(starts)
    assert "id" in out
    assert s.subscriptions == {}


def test_error_echoes_the_request_id_and_bare_form() -> None:
    s = Session(Route(True, ()), refuse=lambda n: n.startswith("bad"))
    out = reply(s, {"method": "SUBSCRIBE", "params": ["ok@trade", "bad@trade"], "id": 9})
    assert out == {"error": {"code": 2, "msg": "Invalid request: stream `bad@trade` is not "
                                               "available"}, "id": 9}
    assert s.subscriptions == {}  # all or nothing
    bare = Session(Route(True, ()), refuse=lambda n: n.startswith("bad"), bare_errors=True)
    out = reply(bare, {"method": "SUBSCRIBE", "params": ["bad@trade"], "id": 10})
    assert out == {"code": 2, "msg": "Invalid request: stream `bad@trade` is not available",
                   "id": 10}


def test_stream_limit_per_connection() -> None:
    s = Session(Route(True, ()))
    names = [f"s{i}@trade" for i in range(1024)]
    assert reply(s, {"method": "SUBSCRIBE", "params": names, "id": 1})["result"] is None
    out = reply(s, {"method": "SUBSCRIBE", "params": ["one@trade"], "id": 2})
    assert "too many streams" in out["error"]["msg"]


def test_incoming_budget_5_per_second() -> None:
    b = IncomingBudget()
    assert not any(b.hit(t / 10) for t in range(5))  # 5 within 0.5 s: allowed
    assert b.hit(0.6)  # the 6th within a second: over
    b2 = IncomingBudget()
    assert not any(b2.hit(i * 0.25) for i in range(40))  # 4 per second for 10 s: fine
    assert b2.max_in_window == 4
    assert b2.total == 40


def test_server_shutdown_event() -> None:
    # Binance's web-socket-streams.md, "Server Shutdown": raw, and wrapped on combined streams
    assert json.loads(server_shutdown_event(123, combined=False)) == {"e": "serverShutdown",
                                                                     "E": 123}
    assert json.loads(server_shutdown_event(123)) == {
        "stream": "!serverShutdown", "data": {"e": "serverShutdown", "E": 123}}
