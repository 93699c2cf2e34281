"""Control messages, replies matched by id, refusal splitting, pacing: no network."""

from __future__ import annotations

import json

import pytest

from binfeed.binance.control import (
    ControlChannel,
    Failed,
    Listed,
    Refused,
    Split,
    Subscribed,
    Unmatched,
    Unsubscribed,
    parse_reply,
)
from binfeed.binance.pacing import (
    BINANCE_ATTEMPT_LIMIT,
    BINANCE_ATTEMPT_WINDOW,
    BINANCE_MESSAGE_LIMIT,
    DEFAULT_CONTROL_LIMIT,
    DEFAULT_MESSAGE_LIMIT,
    OutgoingBudget,
    RollingWindow,
    TokenBucket,
)
from binfeed.binance.streams import StreamId, StreamKind, stream_ids


def ids(*symbols: str) -> list[StreamId]:
    return stream_ids(symbols, [StreamKind.BOOK_TICKER])


def test_request_encoding() -> None:
    ch = ControlChannel()
    (req,) = ch.subscribe(ids("btcusdt", "ethusdt"))
    assert json.loads(req.encode()) == {
        "method": "SUBSCRIBE", "params": ["btcusdt@bookTicker", "ethusdt@bookTicker"], "id": 1}
    assert json.loads(ch.list_subscriptions().encode()) == {"method": "LIST_SUBSCRIPTIONS",
                                                            "id": 2}
    (unsub,) = ch.unsubscribe(ids("btcusdt"))
    assert json.loads(unsub.encode())["method"] == "UNSUBSCRIBE"
    assert unsub.id == 3


def test_utf8_stream_names_go_raw_into_json_requests() -> None:
    # as Binance's own JSON examples write non-ASCII symbols: UTF-8, not \u escapes (only
    # URLs percent-encode them)
    (req,) = ControlChannel().subscribe(ids("币安人生usdt"))
    assert req.encode() == '{"method":"SUBSCRIBE","params":["币安人生usdt@bookTicker"],"id":1}'


@pytest.mark.parametrize(
    ("text", "ok", "ident", "code", "msg"),
    [
        ('{"result":null,"id":1}', True, 1, None, ""),
        ('{"result":["btcusdt@trade"],"id":"abc"}', True, "abc", None, ""),
        ('{"error":{"code":2,"msg":"Invalid request: x"},"id":7}', False, 7, 2,
         "Invalid request: x"),
        ('{"code":3,"msg":"Invalid JSON: expected value at line 1 column 1"}', False, None, 3,
         "Invalid JSON: expected value at line 1 column 1"),
        ('{"code":0,"msg":"Unknown property","id":4}', False, 4, 0, "Unknown property"),
        ('{"error":{"code":2,"msg":"m"},"id":null}', False, None, 2, "m"),
    ],
)
def test_parse_reply_shapes(text: str, ok: bool, ident: object, code: int | None,
                            msg: str) -> None:
    reply = parse_reply(text.encode())
    assert reply is not None
    assert (reply.ok, reply.id, reply.code, reply.msg) == (ok, ident, code, msg)


@pytest.mark.parametrize(
    "text",
    [
        '{"stream":"btcusdt@trade","data":{"e":"trade"}}',
        '{"u":1,"s":"BTCUSDT","b":"1","B":"1","a":"1","A":"1"}',
        '{"e":"serverShutdown","E":1}',
        "[1,2]",
        "not json",
        '{"result":null}',
        b"\xff\xfe",
    ],
)
def test_parse_reply_ignores_everything_else(text: str | bytes) -> None:
    assert parse_reply(text) is None


def test_subscribe_success_by_id_in_any_order() -> None:
    ch = ControlChannel(params_per_message=2)
    a, b = ch.subscribe(ids("s1", "s2", "s3"))
    assert ch.next_request(0.0) == a
    assert ch.next_request(0.0) == b
    assert ch.next_request(0.0) is None
    assert ch.handle_reply(parse_reply(f'{{"result":null,"id":{b.id}}}')) == [
        Subscribed(b.params)]
    assert ch.handle_reply(parse_reply(f'{{"result":null,"id":{a.id}}}')) == [
        Subscribed(a.params)]
    assert ch.waiting == 0
    # a second reply with the same id matches nothing
    (ev,) = ch.handle_reply(parse_reply(f'{{"result":null,"id":{a.id}}}'))
    assert isinstance(ev, Unmatched)


def test_refusal_is_split_until_each_refused_stream_is_known() -> None:
    ch = ControlChannel()
    streams = ids("s1", "s2", "bad", "s4")
    ch.subscribe(streams)
    refused, confirmed = [], []
    rounds = 0
    while ch.has_outgoing:
        rounds += 1
        req = ch.next_request(0.0)
        if any(s.symbol == "bad" for s in req.params):
            reply = f'{{"error":{{"code":2,"msg":"Invalid request: no"}},"id":{req.id}}}'
        else:
            reply = f'{{"result":null,"id":{req.id}}}'
        for ev in ch.handle_reply(parse_reply(reply)):
            if isinstance(ev, Refused):
                refused.append(ev.stream)
                assert ev.code == 2
            elif isinstance(ev, Subscribed):
                confirmed.extend(ev.streams)
            else:
                assert isinstance(ev, Split)
    assert refused == [StreamId("bad", StreamKind.BOOK_TICKER)]
    assert sorted(confirmed) == sorted(s for s in streams if s.symbol != "bad")
    assert rounds == 5  # [4] -> [2][2] -> [1][1] from the refused half
    assert ch.waiting == 0


def test_reply_without_id_goes_to_the_oldest_request() -> None:
    ch = ControlChannel(params_per_message=1)
    first, second = ch.subscribe(ids("s1", "s2"))
    ch.next_request(0.0)
    ch.next_request(0.1)
    (ev,) = ch.handle_reply(parse_reply('{"code":2,"msg":"Invalid request: nope"}'))
    assert ev == Refused(first.params[0], 2, "Invalid request: nope")
    (ev,) = ch.handle_reply(parse_reply(f'{{"result":null,"id":{second.id}}}'))
    assert ev == Subscribed(second.params)


def test_list_unsubscribe_and_other_failures() -> None:
    ch = ControlChannel()
    req = ch.list_subscriptions()
    ch.next_request(0.0)
    assert ch.handle_reply(parse_reply(f'{{"result":["a@trade"],"id":{req.id}}}')) == [
        Listed(("a@trade",))]
    (unsub,) = ch.unsubscribe(ids("s1"))
    ch.next_request(0.0)
    assert ch.handle_reply(parse_reply(f'{{"result":null,"id":{unsub.id}}}')) == [
        Unsubscribed(unsub.params)]
    (unsub,) = ch.unsubscribe(ids("s1"))
    ch.next_request(0.0)
    (ev,) = ch.handle_reply(parse_reply(f'{{"error":{{"code":2,"msg":"x"}},"id":{unsub.id}}}'))
    assert isinstance(ev, Failed)


def test_reply_timeouts() -> None:
    ch = ControlChannel(reply_timeout=10.0)
    ch.subscribe(ids("s1"))
    assert ch.next_deadline() is None
    req = ch.next_request(100.0)
    assert ch.next_deadline() == 110.0
    assert ch.expired(109.9) == []
    assert ch.expired(110.0) == [req]
    assert ch.waiting == 0


def test_rolling_window_allows_four_per_window_never_five() -> None:
    w = RollingWindow(4, 1.0)
    t = 0.0
    sent = []
    while len(sent) < 40:
        d = w.delay(t)
        if d > 0:
            t += d
            continue
        w.record(t)
        sent.append(t)
    # any window of length 1.0 contains at most 4 sends
    for i, start in enumerate(sent):
        inside = [x for x in sent[i:] if x < start + 1.0]
        assert len(inside) <= 4
    assert sent[-1] == pytest.approx(9.0)  # 40 sends at 4 per second


def test_pongs_and_control_messages_each_have_their_slots() -> None:
    b = OutgoingBudget()
    sent = 0
    while b.control_delay(0.0) == 0.0:
        b.record(0.0)
        sent += 1
    assert sent == DEFAULT_CONTROL_LIMIT
    assert b.pong_delay(0.0) == 0.0  # the control messages left the pong its slot
    b.record(0.0, pong=True)
    assert b.count(0.0) == b.limit == DEFAULT_MESSAGE_LIMIT < BINANCE_MESSAGE_LIMIT
    assert b.pong_delay(0.5) == pytest.approx(b.window - 0.5)  # one pong per window
    assert b.control_delay(0.5) == pytest.approx(b.window - 0.5)
    assert b.pong_delay(b.window) == b.control_delay(b.window) == 0.0


def test_window_longer_than_a_second_keeps_binance_count_under_5_with_jitter() -> None:
    # Everything a connection sends, paced by the default budget, each message delayed by
    # up to 90 ms of jitter on the way, never puts more than 4 messages into any 1-second
    # window at the server.
    import random

    rng = random.Random(7)
    b = OutgoingBudget()
    t, arrivals = 0.0, []
    while len(arrivals) < 200:
        pong = rng.random() < 0.3
        d = b.pong_delay(t) if pong else b.control_delay(t)
        if d > 0:
            t += d
            continue
        b.record(t, pong=pong)
        arrivals.append(t + rng.uniform(0.0, 0.09))
    arrivals.sort()
    for i, start in enumerate(arrivals):
        assert len([x for x in arrivals[i:] if x < start + 1.0]) <= DEFAULT_MESSAGE_LIMIT


def test_attempt_bucket_bursts_then_refills_under_binance_limit() -> None:
    b = TokenBucket()  # the defaults
    assert b.most_in(BINANCE_ATTEMPT_WINDOW) <= BINANCE_ATTEMPT_LIMIT - 50  # room for another
    for _ in range(b.burst):
        assert b.delay(0.0) == 0.0
        b.take(0.0)
    assert b.delay(0.0) == pytest.approx(1 / b.rate)
    b.take(1 / b.rate)
    assert b.delay(1 / b.rate) == pytest.approx(1 / b.rate)
    assert b.delay(100.0) == 0.0  # refilled, never beyond the burst
    for _ in range(b.burst):
        b.take(100.0)
    assert b.delay(100.0) > 0


def test_attempt_bucket_never_exceeds_its_worst_case_in_any_window() -> None:
    # attempts as fast as the bucket allows for 15 minutes: any 300 s hold at most
    # most_in(300) of them (the burst, then the rate)
    b = TokenBucket(burst=10, rate=0.8)
    t, attempts = 0.0, []
    while t < 900.0:
        d = b.delay(t)
        if d > 0:
            t += d
            continue
        b.take(t)
        attempts.append(t)
    worst = max(len([x for x in attempts[i:] if x <= s + 300.0])
                for i, s in enumerate(attempts))
    assert worst == b.most_in(300.0) == 250


def test_attempt_bucket_validates() -> None:
    with pytest.raises(ValueError, match="burst"):
        TokenBucket(0, 1.0)
    with pytest.raises(ValueError, match="rate"):
        TokenBucket(1, 0.0)


def test_rolling_window_validates() -> None:
    with pytest.raises(ValueError, match="limit"):
        RollingWindow(0, 1.0)
    with pytest.raises(ValueError, match="window"):
        RollingWindow(1, 0.0)
