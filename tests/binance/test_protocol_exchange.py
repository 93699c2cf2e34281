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
    assert json.loads(server_shutdown_event(123)) == {"e": "serverShutdown", "E": 123}
