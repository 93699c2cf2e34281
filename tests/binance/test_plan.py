"""The shard's plan driven with machines, frames and times: reconnects, stalls, rotation."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from binfeed.binance.endpoint import Endpoint
from binfeed.binance.events import Audit, Close, Done, Opcode, Open, SendText, StreamLost, Wait
from binfeed.binance.machine import ConnectionMachine, Mode
from binfeed.binance.plan import RecorderPlan
from binfeed.binance.retry import Failure, FailureKind
from binfeed.binance.settings import RecorderConfig
from binfeed.binance.shard_plan import ShardPlan
from binfeed.binance.streams import StreamKind, stream_ids
from binfeed.errors import EndpointError, SubscriptionError
from binfeed.ingest import Ingestor
from binfeed.queue import QueueReader, QueueWriter
from binfeed.records import BookTicker, ConnectionEvent, Gap, GapReason, Stream, Trade

from .machine_support import F, FakeParser, book, ids, reply

BTC = ids("btcusdt")


def plan(parser: FakeParser, streams: list | None = None, **options: object) -> RecorderPlan:
    config = RecorderConfig(Endpoint.parse("ws://127.0.0.1:9"),
                            BTC if streams is None else streams, **options)  # type: ignore[arg-type]
    return RecorderPlan(config, lambda: parser)


def open_next(shard: ShardPlan, now: float) -> ConnectionMachine:
    """Runs the next Open as the supervisor does, the handshake succeeding at ``now``."""
    action = shard.next_action(now)
    assert isinstance(action, Open), action
    action.machine.opened(now)
    shard.opened(action.machine, now)
    return action.machine


def audits(rec: RecorderPlan) -> list[tuple[ConnectionEvent, int]]:
    return [(r.event, r.conn_id) for r in rec.records_to_append() if isinstance(r, Audit)]


def test_connects_and_records_the_connection() -> None:
    parser = FakeParser()
    rec = plan(parser, max_age=100.0)
    (shard,) = rec.shards
    live = open_next(shard, 0.0)
    assert live.carried.in_url == BTC
    # written by the machine as it opened, before any frame
    assert parser.events() == [(ConnectionEvent.CONNECTED, 1), (ConnectionEvent.SUBSCRIBED, 1)]
    assert audits(rec) == []
    assert rec.stats.confirmed == {"btcusdt@bookTicker"}
    assert shard.next_action(1.0) == Wait(100.0)  # nothing to do before the rotation
    assert rec.connections == [live]


def test_a_lost_connection_marks_its_streams_and_reconnects_after_a_backoff() -> None:
    rec = plan(FakeParser(), backoff_base=2.0, backoff_cap=2.0)
    (shard,) = rec.shards
    first = open_next(shard, 0.0)
    rec.records_to_append()
    first.connection_lost(Failure(FailureKind.DROPPED, 1006, "reset"), 5.0)
    action = shard.next_action(5.0)
    records = rec.records_to_append()
    assert records[0] == Audit(ConnectionEvent.DISCONNECTED, 1, 1006, "dropped 1006: reset")
    assert records[1] == StreamLost("btcusdt", int(Stream.BOOK_TICKER),
                                    int(GapReason.DISCONNECTED))
    assert rec.stats.reconnects == 1
    assert isinstance(action, Wait) and 5.0 <= action.until <= 7.0  # full jitter in [0, 2]
    second = open_next(shard, action.until)
    assert second.conn_id == 2 and shard.live is second


def test_a_fatal_failure_raises_after_recording_the_attempt() -> None:
    rec = plan(FakeParser())
    (shard,) = rec.shards
    action = shard.next_action(0.0)
    assert isinstance(action, Open)
    failure = Failure(FailureKind.TLS_VERIFY, detail="self-signed certificate")
    action.machine.connect_failed(failure, 0.1)
    with pytest.raises(EndpointError, match="certificate"):
        shard.open_failed(action.machine, failure, 0.1)
    assert audits(rec) == [(ConnectionEvent.DISCONNECTED, 1)]


def test_http_400_for_streams_in_the_url_retries_with_subscribe_only() -> None:
    rec = plan(FakeParser())
    (shard,) = rec.shards
    action = shard.next_action(0.0)
    assert isinstance(action, Open) and action.machine.carried.in_url == BTC
    shard.open_failed(action.machine, Failure(FailureKind.HTTP, 400, streams_in_url=True), 0.0)
    retry = open_next(shard, 0.0)  # at once
    assert retry.carried.in_url == [] and retry.carried.to_subscribe == BTC


def test_a_stall_is_recorded_then_the_connection_is_replaced() -> None:
    rec = plan(FakeParser(), stall_timeout=5.0)
    (shard,) = rec.shards
    live = open_next(shard, 0.0)
    rec.records_to_append()
    live.receive_frames([book(1)], 1, 1.0)
    live.tick(6.0)  # the connection's clock: 5 s without a frame
    live.socket_checked(False, 6.0)  # and nothing waiting in the socket
    assert live.transport_done
    live.connection_lost(None, 6.0)  # the glue closed the transport
    action = shard.next_action(6.0)
    records = rec.records_to_append()
    assert records[0] == Audit(ConnectionEvent.STALLED, 1, 5000, "no frame for 5.0 s")
    assert isinstance(records[1], Audit) and records[1].event is ConnectionEvent.DISCONNECTED
    assert records[2] == StreamLost("btcusdt", int(Stream.BOOK_TICKER), int(GapReason.STALLED))
    assert rec.stats.stalls == 1
    assert isinstance(action, Wait | Open)


def test_no_rotation_is_started_for_a_connection_that_is_ending() -> None:
    rec = plan(FakeParser(), max_age=10.0, stall_timeout=10.0)
    (shard,) = rec.shards
    live = open_next(shard, 0.0)
    live.tick(10.0)  # stalled, at the moment the rotation is due
    live.socket_checked(False, 10.0)
    assert live.transport_done and not live.ended
    assert shard.next_action(10.0) == Wait(math.inf)  # until its connection has ended
    live.connection_lost(None, 10.1)
    assert isinstance(shard.next_action(10.1), Wait | Open)
    assert shard.live is None  # lost and reconnecting, not rotating


def rotate(parser: FakeParser, **options: object) -> tuple[RecorderPlan, ShardPlan,
                                                          ConnectionMachine, ConnectionMachine]:
    """A live connection at t=0 that recorded seqs 1-3, and its replacement opened at t=10
    (rotation due at max_age=10)."""
    rec = plan(parser, max_age=10.0, overlap=1.0, **options)
    (shard,) = rec.shards
    old = open_next(shard, 0.0)
    old.receive_frames([book(1), book(2), book(3)], 1, 9.0)
    assert shard.next_action(9.0) == Wait(10.0)
    new = open_next(shard, 10.0)
    assert new.mode is Mode.BUFFERING and old.mode is Mode.LIVE
    rec.records_to_append()
    return rec, shard, old, new


def test_planned_rotation_overlaps_then_cuts_over_losing_and_doubling_nothing() -> None:
    parser = FakeParser()
    rec, shard, old, new = rotate(parser)
    new.receive_frames([book(3), book(4)], 2, 10.2)  # buffered
    old.receive_frames([book(4)], 3, 10.3)
    assert shard.next_action(10.3) == Wait(11.2)  # overlap: 1 s after the first frame
    old.receive_frames([book(5)], 4, 11.0)
    new.receive_frames([book(5), book(6)], 5, 11.1)
    action = shard.next_action(11.2)
    assert action == Close(old)  # the plan told it: close frame 1000 "rotated"
    assert old.mode is Mode.DETACHED and new.mode is Mode.LIVE
    assert shard.live is new and shard.replacement is None
    assert parser.seqs == [1, 2, 3, 4, 5, 6]
    assert audits(rec) == [(ConnectionEvent.ROTATED, 1)]
    assert parser.lost == []  # both carried the stream from 10.2 to 11.0
    assert rec.stats.rotations == 1
    old.receive_frames([book(7)], 6, 11.3)  # the old one is dropped from now on
    new.receive_frames([book(7)], 7, 11.3)
    assert parser.stored[-1] == ("btcusdt@bookTicker", 7, 7)
    assert shard.next_action(11.3) == Wait(20.0)  # the next rotation: max_age after it opened


def test_server_shutdown_rotates_at_once_and_is_recorded_once() -> None:
    rec = plan(FakeParser())
    (shard,) = rec.shards
    live = open_next(shard, 0.0)
    rec.records_to_append()
    live.receive_frames([F(Opcode.TEXT, b'{"e":"serverShutdown","E":1}')], 1, 5.0)
    action = shard.next_action(5.0)
    assert isinstance(action, Open) and action.machine.mode is Mode.BUFFERING
    shard.open_failed(action.machine, Failure(FailureKind.REFUSED), 5.0)  # try again in 1 s
    assert shard.next_action(5.5) == Wait(6.0)
    assert isinstance(shard.next_action(6.0), Open)
    events = [e for e, _ in audits(rec)]
    assert events == [ConnectionEvent.SERVER_SHUTDOWN, ConnectionEvent.DISCONNECTED]
    assert rec.stats.server_shutdowns == 1


def test_a_replacement_never_ready_is_given_up_and_tried_again_later() -> None:
    _, shard, old, new = rotate(FakeParser(), handover_timeout=5.0, rotation_retry=60.0,
                                max_url_length=0)
    # its SUBSCRIBE is never answered, so it never delivers
    assert shard.next_action(14.9) == Wait(15.0)
    action = shard.next_action(15.0)
    assert action == Close(new)
    assert new.mode is Mode.DETACHED and shard.live is old
    assert shard.next_action(15.0) == Wait(75.0)


def test_the_old_connection_lost_before_the_replacement_was_subscribed_marks_a_gap() -> None:
    parser = FakeParser()
    rec, shard, old, new = rotate(parser, max_url_length=0)
    old.connection_lost(Failure(FailureKind.DROPPED, 1006, "reset"), 10.5)
    action = shard.next_action(10.5)
    assert isinstance(action, Wait | Open)  # cut over, then nothing to close
    assert parser.lost == [(BTC[0], GapReason.DISCONNECTED)]  # through the new one's sink
    assert rec.stats.streams_lost == 1
    records = rec.records_to_append()
    assert [r.event for r in records if isinstance(r, Audit)] == [
        ConnectionEvent.ROTATED, ConnectionEvent.DISCONNECTED]
    assert shard.live is new and new.mode is Mode.LIVE


def test_an_old_connection_dropped_unnoticed_before_the_overlap_marks_a_gap() -> None:
    """Its end is noticed only after the replacement was subscribed (the recorder was
    stopped meanwhile), but its last market data came before the replacement began."""
    parser = FakeParser()
    _, shard, old, new = rotate(parser)
    new.receive_frames([book(6)], 2, 12.0)
    old.connection_lost(Failure(FailureKind.DROPPED, 1006, "reset"), 12.0)
    shard.next_action(12.0)
    assert parser.lost == [(BTC[0], GapReason.DISCONNECTED)]
    assert parser.seqs == [1, 2, 3, 6] and shard.live is new


def test_a_rotation_away_from_a_silent_connection_puts_a_gap_before_the_buffer(
        tmp_path: Path) -> None:
    """The old connection stops delivering (its socket stays open) before its rotation;
    the replacement is taken over 0.5 s after its first frame: what played between went
    to nobody, and the GAP stands between the old one's last record and the buffer's
    first, for each stream."""
    from binfeed.binance.sink import ConnectionSink

    streams = stream_ids(["btcusdt"], [StreamKind.BOOK_TICKER, StreamKind.TRADE])
    trades = [F(Opcode.TEXT, json.dumps({"stream": "btcusdt@trade", "data": {
        "e": "trade", "E": 1000 + t, "s": "BTCUSDT", "t": t, "p": "1.0", "q": "1",
        "T": 1000 + t, "m": False, "M": True}}).encode()) for t in range(1, 9)]
    with QueueWriter(tmp_path / "q") as writer, Ingestor(writer) as ingestor:
        config = RecorderConfig(Endpoint.parse("ws://127.0.0.1:9"), streams, max_age=10.0,
                                overlap=0.5)
        rec = RecorderPlan(config, lambda: ConnectionSink(ingestor, writer))
        (shard,) = rec.shards
        old = open_next(shard, 0.0)
        old.receive_frames([book(1), book(2), trades[0], trades[1]], 1, 1.0)  # then silence
        new = open_next(shard, 10.0)
        new.receive_frames([book(7), trades[5], book(8), trades[6]], 2, 10.1)
        assert shard.next_action(10.6) == Close(old)
        assert rec.stats.streams_lost == 2
        new.receive_frames([book(9), trades[7]], 3, 10.7)
    with QueueReader(tmp_path / "q") as reader:
        got = [(type(r).__name__, getattr(r, "update_id", None) or getattr(r, "trade_id", None)
                or (r.last_seq, r.next_seq)) for r in reader.records()
               if isinstance(r, BookTicker | Trade | Gap)]
    assert got == [("BookTicker", 1), ("BookTicker", 2), ("Trade", 1), ("Trade", 2),
                   ("Gap", (2, 7)), ("BookTicker", 7), ("Gap", (2, 6)), ("Trade", 6),
                   ("BookTicker", 8), ("Trade", 7), ("BookTicker", 9), ("Trade", 8)]
    with QueueReader(tmp_path / "q") as reader:
        reasons = {r.reason for r in reader.records() if isinstance(r, Gap)}
    assert reasons == {GapReason.DISCONNECTED}


def test_refusals_end_a_shard_and_all_of_them_the_recorder() -> None:
    streams = ids("btcusdt", "badusdt")
    rec = plan(FakeParser(), streams, streams_per_connection=1, max_url_length=0)
    first, second = rec.shards
    good, bad = open_next(first, 0.0), open_next(second, 0.0)
    (sub,) = bad.frames_to_send()
    assert isinstance(sub, SendText)
    bad.receive_frames([reply(json.loads(sub.text)["id"], error=True)], 1, 0.5)
    action = second.next_action(0.5)
    assert action == Close(bad, wait=True)
    assert second.next_action(0.6) == Done()
    assert rec.stats.refused == ["badusdt@bookTicker"]
    assert isinstance(first.next_action(0.6), Wait)  # the other shard goes on
    assert first.live is good and not good.transport_done


def test_every_stream_refused_raises() -> None:
    parser = FakeParser()
    rec = plan(parser, ids("badusdt"), max_url_length=0)
    (shard,) = rec.shards
    m = open_next(shard, 0.0)
    m.receive_frames([reply(1, error=True)], 1, 0.5)
    with pytest.raises(SubscriptionError, match="refused every stream"):
        shard.next_action(0.5)
    assert parser.events() == [(ConnectionEvent.CONNECTED, 1),
                               (ConnectionEvent.SUBSCRIBE_REFUSED, 1)]


def test_connection_attempts_wait_for_the_attempt_budget() -> None:
    rec = plan(FakeParser(), connect_burst=2, connect_rate=0.5)
    for _ in range(2):
        rec.attempts.take(0.0)
    action = rec.shards[0].next_action(0.5)
    assert action == Wait(2.0)  # one token per 2 s, a quarter of it there at 0.5 s


def test_the_attempt_budget_is_shared_by_every_shard_and_rotation() -> None:
    streams = ids(*[f"s{i}usdt" for i in range(6)])
    rec = plan(FakeParser(), streams, streams_per_connection=2, connect_burst=3,
               connect_rate=0.5, max_age=2.0, reconnect_jitter=0.0)
    first, second, third = rec.shards
    a = open_next(first, 0.0)
    open_next(second, 0.0)
    open_next(third, 0.0)  # the burst is used up
    a.receive_frames([book(1, "s0usdt")], 1, 0.1)
    a.connection_lost(Failure(FailureKind.DROPPED, 1006), 0.2)
    assert first.next_action(0.3) == Wait(2.0)  # proven, but the bucket is empty
    assert isinstance(first.next_action(2.0), Open)
    first.open_failed(first._opening, Failure(FailureKind.REFUSED), 2.0)  # type: ignore[arg-type]
    assert second.next_action(2.0) == Wait(4.0)  # its rotation waits for the next token


def test_a_proven_connection_is_replaced_at_once_and_the_downtime_measured() -> None:
    rec = plan(FakeParser(), backoff_base=2.0, backoff_cap=2.0, reconnect_jitter=0.01)
    (shard,) = rec.shards
    first = open_next(shard, 0.0)
    first.receive_frames([book(1)], 1, 0.5)  # subscribed (URL) and stored: proven
    assert first.proven_at == 0.5
    first.connection_lost(Failure(FailureKind.DROPPED, 1006, "reset"), 5.0)
    action = shard.next_action(5.0)
    assert isinstance(action, Wait) and 5.0 <= action.until <= 5.01
    second = open_next(shard, action.until)  # subscribed by its URL at once
    shard.next_action(5.03)  # the plan hears of it
    down = rec.downtime(6.0)
    assert down.last == pytest.approx(action.until - 5.0)
    assert (down.max, down.total, down.down_now) == (down.last, down.last, 0)
    assert rec.stats.recovered == 1
    # an attempt that never got that far backs off, and its outage is counted as it goes
    second.connection_lost(Failure(FailureKind.DROPPED, 1006, "reset"), 8.0)
    action = shard.next_action(8.0)
    assert isinstance(action, Wait) and 8.0 <= action.until <= 10.0
    assert rec.downtime(9.0).down_now == 1
    assert rec.downtime(9.0).total == pytest.approx(down.last + 1.0)
    assert rec.downtime(9.0).max == pytest.approx(1.0)


def test_trade_streams_are_marked_with_the_parsers_trade_code() -> None:
    streams = stream_ids(["btcusdt"], [StreamKind.BOOK_TICKER, StreamKind.TRADE])
    rec = plan(FakeParser(), streams)
    (shard,) = rec.shards
    m = open_next(shard, 0.0)
    m.connection_lost(None, 1.0)
    shard.next_action(1.0)
    lost = [r for r in rec.records_to_append() if isinstance(r, StreamLost)]
    assert [r.stream for r in lost] == [int(Stream.BOOK_TICKER), int(Stream.TRADE)]


def test_rotation_with_the_real_parser_stores_each_frame_once(tmp_path: Path) -> None:
    from binfeed.binance.sink import ConnectionSink

    from .recorder_support import capture_frames

    frames = [f for f in capture_frames() if f.name == "btcusdt@bookTicker"][:300]
    wire = [F(Opcode.TEXT, f'{{"stream":"{f.name}","data":{f.payload}}}'.encode())
            for f in frames]
    with QueueWriter(tmp_path / "q") as writer, Ingestor(writer) as ingestor:
        config = RecorderConfig(Endpoint.parse("ws://127.0.0.1:9"), BTC, max_age=10.0,
                                overlap=0.5)
        rec = RecorderPlan(config, lambda: ConnectionSink(ingestor, writer))
        (shard,) = rec.shards
        old = open_next(shard, 0.0)
        old.receive_frames(wire[:100], 1, 1.0)
        new = open_next(shard, 10.0)
        new.receive_frames(wire[80:150], 2, 10.1)  # overlaps frames 80-99 and more
        old.receive_frames(wire[100:160], 3, 10.2)
        new.receive_frames(wire[150:200], 4, 10.3)
        assert shard.next_action(10.6) == Close(old)
        old.receive_frames(wire[160:220], 5, 10.7)  # dropped
        new.receive_frames(wire[200:300], 6, 10.7)
    with QueueReader(tmp_path / "q") as reader:
        stored = [r.update_id for r in reader.records() if hasattr(r, "update_id")]
    assert stored == [int(f.payload.split('"u":')[1].split(",")[0]) for f in frames]


# -- the streams change (--symbols all refreshed) -------------------------------------


def sent(machine: ConnectionMachine) -> list[tuple[str, list[str]]]:
    """(method, stream names) of the control messages the machine sends now."""
    out = []
    for frame in machine.frames_to_send():
        if isinstance(frame, SendText):
            msg = json.loads(frame.text)
            out.append((msg["method"], msg.get("params", [])))
    return out


def names(streams: list) -> list[str]:
    return [s.name for s in streams]


def test_added_streams_fill_the_shards_then_make_new_ones() -> None:
    parser = FakeParser()
    rec = plan(parser, ids("a1", "a2", "a3", "b1", "b2"), streams_per_connection=3)
    first, second = rec.shards
    m1, m2 = open_next(first, 0.0), open_next(second, 0.0)
    sent(m1), sent(m2)
    new = rec.change_streams(ids("b3", "c1", "c2", "c3", "d1", "a1"), [], 1.0)
    assert names(first.streams) == ["a1@bookTicker", "a2@bookTicker", "a3@bookTicker"]
    assert names(second.streams) == ["b1@bookTicker", "b2@bookTicker", "b3@bookTicker"]
    assert sent(m1) == [] and sent(m2) == [("SUBSCRIBE", ["b3@bookTicker"])]
    assert [names(s.streams) for s in new] == [
        ["c1@bookTicker", "c2@bookTicker", "c3@bookTicker"], ["d1@bookTicker"]]
    assert [s.index for s in new] == [3, 4] and rec.shards[2:] == new
    assert isinstance(new[0].next_action(1.0), Open)  # the supervisor runs them
    assert len(rec.streams) == 10  # a1 was there already


def test_removed_streams_are_unsubscribed_and_an_emptied_shard_closes() -> None:
    parser = FakeParser()
    rec = plan(parser, ids("a1", "a2", "b1"), streams_per_connection=2)
    first, second = rec.shards
    m1, m2 = open_next(first, 0.0), open_next(second, 0.0)
    rec.records_to_append()
    assert rec.change_streams([], ids("a2", "b1", "zz"), 1.0) == []
    assert sent(m1) == [("UNSUBSCRIBE", ["a2@bookTicker"])]
    assert sent(m2) == [("UNSUBSCRIBE", ["b1@bookTicker"])]
    assert [(a.event, a.conn_id, a.code, a.detail) for a in parser.audits[-2:]] == [
        (ConnectionEvent.UNSUBSCRIBED, 1, 1, "a2@bookTicker"),
        (ConnectionEvent.UNSUBSCRIBED, 2, 1, "b1@bookTicker")]
    assert names(m1.carried.streams) == ["a1@bookTicker"] and names(rec.removed) == [
        "a2@bookTicker", "b1@bookTicker"]
    assert isinstance(first.next_action(1.0), Wait)
    assert second.next_action(1.0) == Close(m2, wait=True)
    assert m2.failure is not None and "no stream left" in str(m2.failure)
    assert audits(rec) == [(ConnectionEvent.DISCONNECTED, 2)]
    m2.connection_lost(None, 1.1)
    assert second.next_action(1.1) == Done() and second.done
    # a shard that is done takes no new streams: they go to the one with room, or a new one
    assert [names(s.streams) for s in rec.change_streams(ids("c1", "c2"), [], 2.0)] == [
        ["c2@bookTicker"]]
    assert names(first.streams) == ["a1@bookTicker", "c1@bookTicker"]


def test_a_shard_that_is_down_takes_the_change_at_its_next_connect() -> None:
    rec = plan(FakeParser(), ids("a1", "a2"), max_url_length=0, backoff_base=2.0,
               backoff_cap=2.0)
    (shard,) = rec.shards
    live = open_next(shard, 0.0)
    live.connection_lost(Failure(FailureKind.DROPPED, 1006), 1.0)
    assert isinstance(shard.next_action(1.0), Wait)
    rec.change_streams(ids("a3"), ids("a1"), 1.5)
    nxt = open_next(shard, 5.0)
    assert sent(nxt) == [("SUBSCRIBE", ["a2@bookTicker", "a3@bookTicker"])]


def test_a_change_while_connecting_is_applied_when_the_connection_opens() -> None:
    parser = FakeParser()
    rec = plan(parser, ids("a1", "a2"))
    (shard,) = rec.shards
    action = shard.next_action(0.0)
    assert isinstance(action, Open)
    machine = action.machine  # the supervisor is connecting it: the URL names a1 and a2
    rec.change_streams(ids("a3"), ids("a1"), 0.1)
    machine.opened(0.2)
    shard.opened(machine, 0.2)
    assert sent(machine) == [("SUBSCRIBE", ["a3@bookTicker"]),
                             ("UNSUBSCRIBE", ["a1@bookTicker"])]
    assert names(machine.carried.streams) == ["a2@bookTicker", "a3@bookTicker"]


def test_a_change_during_a_rotation_reaches_both_connections() -> None:
    parser = FakeParser()
    rec, shard, old, new = rotate(parser, max_url_length=0)
    sent(old), sent(new)
    rec.change_streams(ids("ethusdt"), ids("btcusdt"), 10.2)
    for machine in (old, new):
        assert sent(machine) == [("UNSUBSCRIBE", ["btcusdt@bookTicker"]),
                                 ("SUBSCRIBE", ["ethusdt@bookTicker"])]
    assert names(shard.streams) == ["ethusdt@bookTicker"]
    # emptied during the rotation: the replacement closes first, then the live one
    rec.change_streams([], ids("ethusdt"), 10.3)
    assert shard.next_action(10.3) == Close(new)
    assert new.mode is Mode.DETACHED and shard.replacement is None
    assert shard.next_action(10.3) == Close(old, wait=True)


def test_a_large_change_keeps_within_each_connections_budget() -> None:
    """Binance allows 5 messages a second per connection; the machine's budget is 3 control
    messages in any 1.1 s (pacing.OutgoingBudget): a change of 200 streams in messages of
    10 streams (20 SUBSCRIBEs) takes about 7 s on one connection."""
    rec = plan(FakeParser(), ids("a0"), streams_per_connection=1024, params_per_message=10)
    (shard,) = rec.shards
    live = open_next(shard, 0.0)
    sent(live)
    symbols = [f"s{i}" for i in range(200)]
    rec.change_streams(ids(*symbols), [], 1.0)
    times, subscribed = [], []
    now = 1.0
    while now < 20.0:
        live.tick(now)
        for method, params in sent(live):
            assert method == "SUBSCRIBE" and len(params) <= 10
            times.append(now)
            subscribed += params
        now = round(now + 0.05, 2)
    assert subscribed == names(ids(*symbols))
    assert len(times) == 20
    assert all(sum(1 for t in times if s <= t < s + 1.1) <= 3 for s in times)
    assert times[-1] - times[0] > 6.0
