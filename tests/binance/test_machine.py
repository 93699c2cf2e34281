"""One connection's state machine driven with frames and ticks: no socket, no event loop."""

from __future__ import annotations

import json
import random

import pytest

from binfeed.binance.control import Refused, Split, Subscribed
from binfeed.binance.events import (
    AllSubscribed,
    DataBuffered,
    Ended,
    Opcode,
    SendClose,
    SendPong,
    SendText,
    ShutdownAnnounced,
    Stalled,
)
from binfeed.binance.health import ABSENCE_SLACK
from binfeed.binance.machine import ConnectionMachine, Mode, State
from binfeed.binance.machine_types import ConnectionSettings
from binfeed.binance.pacing import (
    BINANCE_MESSAGE_LIMIT,
    DEFAULT_CONTROL_LIMIT,
    DEFAULT_MESSAGE_LIMIT,
    DEFAULT_MESSAGE_WINDOW,
)
from binfeed.binance.retry import Failure, FailureKind
from binfeed.binance.streams import StreamId
from binfeed.records import GapReason

from .machine_support import F, FakeParser, book, ids, reply


def sent_texts(frames: list) -> list[dict]:
    return [json.loads(f.text) for f in frames if isinstance(f, SendText)]


def machine(parser: FakeParser, *, in_url: list[StreamId] | None = None,
            to_subscribe: list[StreamId] | None = None, live: bool = True,
            **settings: float) -> ConnectionMachine:
    return ConnectionMachine(1, ids("btcusdt") if in_url is None else in_url,
                             to_subscribe or [], parser,
                             settings=ConnectionSettings(**settings), live=live)  # type: ignore[arg-type]


# -- frames -------------------------------------------------------------------------


def test_market_data_goes_to_the_parser_with_the_reads_receive_time() -> None:
    parser = FakeParser()
    m = machine(parser)
    m.opened(0.0)
    assert m.frames_to_send() == []
    assert m.receive_frames([book(1), book(2)], 111, 1.0) is False  # nothing else to do
    assert m.receive_frames([book(2), book(3)], 222, 2.0) is False
    assert parser.stored == [("btcusdt@bookTicker", 1, 111), ("btcusdt@bookTicker", 2, 111),
                             ("btcusdt@bookTicker", 3, 222)]
    assert m.counters.frames == 4
    assert m.counters.duplicates == 1
    assert m.last_rx == 2.0


def test_fragments_are_joined_into_one_message() -> None:
    parser = FakeParser()
    m = machine(parser)
    m.opened(0.0)
    whole = book(7).data
    parts = [F(Opcode.TEXT, whole[:10], fin=False), F(Opcode.CONT, whole[10:30], fin=False),
             F(Opcode.CONT, whole[30:])]
    m.receive_frames(parts, 5, 1.0)
    assert parser.stored == [("btcusdt@bookTicker", 7, 5)]
    m.receive_frames([F(Opcode.BINARY, book(8).data)], 6, 1.0)  # binary: same parser
    assert parser.seqs == [7, 8]


def test_malformed_frames_are_counted_and_nothing_else() -> None:
    parser = FakeParser()
    m = machine(parser)
    m.opened(0.0)
    m.receive_frames([F(Opcode.TEXT, b"not json"), book(1)], 1, 1.0)
    assert m.counters.malformed == 1
    assert parser.seqs == [1]
    assert m.state is State.OPEN
    assert m.failure is None


def test_server_shutdown_is_an_event_and_the_gap_reason() -> None:
    m = machine(FakeParser())
    m.opened(0.0)
    assert m.receive_frames([F(Opcode.TEXT, b'{"e":"serverShutdown","E":1}')], 1, 3.0)
    assert m.events_received() == [AllSubscribed(0.0), ShutdownAnnounced(3.0)]
    assert m.shutdown_announced
    assert m.gap_reason is GapReason.SERVER_SHUTDOWN


# -- control messages -----------------------------------------------------------------


def test_subscriptions_are_sent_on_open_and_confirmed_by_replies() -> None:
    m = machine(FakeParser(), in_url=ids("btcusdt"), to_subscribe=ids("ethusdt", "xrpusdt"),
                params_per_message=1)
    m.opened(0.0)
    assert sent_texts(m.frames_to_send()) == [
        {"method": "SUBSCRIBE", "params": ["ethusdt@bookTicker"], "id": 1},
        {"method": "SUBSCRIBE", "params": ["xrpusdt@bookTicker"], "id": 2}]
    assert m.carried.confirmed == set(ids("btcusdt"))
    assert m.receive_frames([reply(1)], 1, 0.2)
    assert m.receive_frames([reply(2)], 1, 0.3)
    assert m.events_received() == [Subscribed(tuple(ids("ethusdt"))),
                                   Subscribed(tuple(ids("xrpusdt"))), AllSubscribed(0.3)]
    assert m.subscribed_at == 0.3
    assert m.counters.control_replies == 2


def test_a_refused_subscription_is_split_until_the_bad_stream_is_known() -> None:
    m = machine(FakeParser(), in_url=[], to_subscribe=ids("btcusdt", "badusdt"))
    m.opened(0.0)
    (first,) = sent_texts(m.frames_to_send())
    m.receive_frames([reply(first["id"], error=True)], 1, 0.1)
    halves = sent_texts(m.frames_to_send())
    assert [h["params"] for h in halves] == [["btcusdt@bookTicker"], ["badusdt@bookTicker"]]
    m.receive_frames([reply(halves[0]["id"]), reply(halves[1]["id"], error=True)], 1, 0.2)
    events = m.events_received()
    assert isinstance(events[0], Split)
    assert events[1] == Subscribed(tuple(ids("btcusdt")))
    assert isinstance(events[2], Refused) and events[2].stream == ids("badusdt")[0]
    assert events[3] == AllSubscribed(0.2)


# -- the outgoing budget: pongs and control messages ----------------------------------


def test_a_ping_is_answered_with_its_payload_at_once() -> None:
    m = machine(FakeParser())
    m.opened(0.0)
    assert m.receive_frames([F(Opcode.PING, b"\x00\x01")], 1, 1.0)
    assert m.frames_to_send() == [SendPong(b"\x00\x01")]
    assert m.outgoing.pongs == 1


def test_a_pong_goes_first_and_takes_no_slot_of_the_subscribes() -> None:
    m = machine(FakeParser(), in_url=[], to_subscribe=ids(*[f"s{i}usdt" for i in range(8)]),
                params_per_message=1)
    m.receive_frames([F(Opcode.PING, b"p")], 1, 0.0)  # before open: not answered yet
    m.opened(0.0)
    out = m.frames_to_send()
    assert out[0] == SendPong(b"p")  # the pong first
    assert len(sent_texts(out)) == DEFAULT_CONTROL_LIMIT
    assert len(out) == DEFAULT_MESSAGE_LIMIT < BINANCE_MESSAGE_LIMIT
    assert m.next_deadline(0.0) == pytest.approx(DEFAULT_MESSAGE_WINDOW)
    m.tick(DEFAULT_MESSAGE_WINDOW)
    assert len(sent_texts(m.frames_to_send())) == DEFAULT_CONTROL_LIMIT


def test_pongs_wait_when_the_window_is_full_and_answer_the_latest_ping() -> None:
    m = machine(FakeParser(), in_url=[], to_subscribe=ids(*[f"s{i}usdt" for i in range(8)]),
                params_per_message=1)
    m.opened(0.0)
    assert len(m.frames_to_send()) == DEFAULT_CONTROL_LIMIT  # SUBSCRIBEs
    m.receive_frames([F(Opcode.PING, b"1")], 1, 0.1)
    assert m.frames_to_send() == [SendPong(b"1")]  # the last message: the pong's slot
    # one more would leave no margin under Binance's limit: the next pongs wait, merged
    assert m.receive_frames([F(Opcode.PING, b"2")], 1, 0.2)
    assert m.receive_frames([F(Opcode.PING, b"3")], 1, 0.3)
    assert m.frames_to_send() == []
    assert m.next_deadline(0.3) == pytest.approx(DEFAULT_MESSAGE_WINDOW)
    m.tick(DEFAULT_MESSAGE_WINDOW)
    # the SUBSCRIBEs of t=0 left the window: three more go
    assert len(sent_texts(m.frames_to_send())) == DEFAULT_CONTROL_LIMIT
    # one pong per window: the next when the pong of t=0.1 leaves, for the latest ping
    assert m.next_deadline(DEFAULT_MESSAGE_WINDOW) == pytest.approx(0.1 + DEFAULT_MESSAGE_WINDOW)
    m.tick(0.1 + DEFAULT_MESSAGE_WINDOW)
    assert m.frames_to_send() == [SendPong(b"3")]
    assert m.counters.pings == 3 and m.outgoing.pongs == 2


def test_a_ping_flood_cannot_starve_control_messages() -> None:
    # 50 pings per second from the start: the SUBSCRIBEs still go at 3 per window.
    m = machine(FakeParser(), in_url=[], to_subscribe=ids(*[f"s{i}usdt" for i in range(12)]),
                params_per_message=1, stall_timeout=1e9, reply_timeout=1e9)
    texts: list[float] = []
    m.opened(0.0)
    texts += [0.0 for f in m.frames_to_send() if isinstance(f, SendText)]
    t = 0.0
    while t < 6.0:
        t = round(t + 0.02, 6)
        deadline = m.next_deadline(t)
        if deadline is not None and deadline <= t:
            m.tick(t)
        m.receive_frames([F(Opcode.PING, b"p")], 1, t)
        texts += [t for f in m.frames_to_send() if isinstance(f, SendText)]
    assert len(texts) == 12
    assert texts[-1] < 3 * DEFAULT_MESSAGE_WINDOW + 0.1  # four windows of three


@pytest.mark.parametrize("seed", range(5))
def test_no_window_ever_holds_more_than_four_messages(seed: int) -> None:
    # Pings at random (often far more than Binance's 20 s), SUBSCRIBEs queued: whatever
    # the mix, what the machine sends stays within 4 messages per 1.1 s window, one under
    # Binance's 5 per second.
    rng = random.Random(seed)
    m = machine(FakeParser(), in_url=[], to_subscribe=ids(*[f"s{i}usdt" for i in range(60)]),
                params_per_message=1, stall_timeout=1e9, reply_timeout=1e9)
    sent: list[float] = []
    m.opened(0.0)
    sent += [0.0] * len(m.frames_to_send())
    t = 0.0
    while t < 30.0:
        t += rng.expovariate(8.0)
        deadline = m.next_deadline(t)
        if deadline is not None and deadline < t:
            m.tick(deadline)
            sent += [deadline] * len(m.frames_to_send())
        m.receive_frames([F(Opcode.PING, str(t).encode())], 1, t)
        sent += [t] * len(m.frames_to_send())
    assert len(sent) > 60
    assert DEFAULT_MESSAGE_LIMIT < BINANCE_MESSAGE_LIMIT
    for i, start in enumerate(sent):
        assert len([x for x in sent[i:] if x < start + DEFAULT_MESSAGE_WINDOW]) <= 4


def run_flood(m: ConnectionMachine, pings: list[float], until: float) -> list[tuple[float, bytes]]:
    """Drives ``m`` as the glue does, pings at the given times: the pongs sent, (time,
    payload)."""
    pongs: list[tuple[float, bytes]] = []

    def collect(t: float) -> None:
        pongs.extend((t, f.payload) for f in m.frames_to_send() if isinstance(f, SendPong))

    m.opened(0.0)
    collect(0.0)
    queue = sorted(pings)
    t = 0.0
    while t < until:
        deadline = m.next_deadline(t)
        nxt = queue[0] if queue else until
        if deadline is not None and deadline < nxt:
            t = deadline
            m.tick(t)
        else:
            t = nxt
            if queue:
                queue.pop(0)
                m.receive_frames([F(Opcode.PING, repr(t).encode())], 1, t)
        collect(t)
    return pongs


def test_binance_pings_every_20_s_are_answered_at_once_even_while_subscribing() -> None:
    # 300 streams one per SUBSCRIBE: control messages want every slot for 100 s; each of
    # Binance's pings is still answered at once (the pong's slot), far inside its 60 s.
    m = machine(FakeParser(), in_url=[], to_subscribe=ids(*[f"s{i}usdt" for i in range(300)]),
                params_per_message=1, stall_timeout=1e9, reply_timeout=1e9)
    pings = [20.0 * k + 0.37 for k in range(5)]
    pongs = run_flood(m, pings, 101.0)
    assert [p for _, p in pongs] == [repr(t).encode() for t in pings]
    assert all(sent == ping for (sent, _), ping in zip(pongs, pings, strict=True))
    assert m.channel.has_outgoing  # the SUBSCRIBEs were still going


def test_a_ping_flood_gets_pongs_for_the_latest_ping_within_the_window() -> None:
    # 50 pings per second for 10 s while subscribing: at most 4 messages per 1.1 s, each
    # pong carries the latest ping's payload, and no ping waits longer than one window
    # for a pong of it or of a later ping.
    m = machine(FakeParser(), in_url=[], to_subscribe=ids(*[f"s{i}usdt" for i in range(50)]),
                params_per_message=1, stall_timeout=1e9, reply_timeout=1e9)
    pings = [0.02 * k for k in range(1, 500)]
    pongs = run_flood(m, pings, 10.0)
    assert len(pongs) >= 10.0 / DEFAULT_MESSAGE_WINDOW
    for sent_at, payload in pongs:
        latest = max(t for t in pings if t <= sent_at)
        assert payload == repr(latest).encode()
    for ping in pings[:-60]:
        answered = min(t for t, p in pongs if float(p) >= ping)
        assert answered - ping <= DEFAULT_MESSAGE_WINDOW + 1e-9


# -- watchdogs ------------------------------------------------------------------------


def test_a_live_connection_without_frames_for_the_stall_timeout_ends() -> None:
    m = machine(FakeParser(), stall_timeout=5.0)
    m.opened(0.0)
    m.receive_frames([book(1)], 1, 2.0)
    assert m.next_deadline(2.0) == 7.0
    m.tick(6.9)
    assert not m.transport_done and not m.stall_suspected
    m.tick(7.0)
    assert m.stall_suspected and not m.transport_done  # the socket first
    m.socket_checked(False, 7.0)  # empty: the peer sent nothing
    assert m.transport_done
    assert m.failure == Failure(FailureKind.STALLED, None, "no frame for 5.0 s")
    assert Stalled(5.0) in m.events_received()
    assert m.gap_reason is GapReason.STALLED
    m.connection_lost(None, 7.1)
    assert m.ended
    assert m.events_received() == [Ended(m.failure, 7.1)]


def test_unread_bytes_in_the_socket_are_no_stall() -> None:
    # The deadline passed, but the kernel holds bytes the receive task has not read yet
    # (the process was busy or stopped): not a stall; the silence is counted anew.
    m = machine(FakeParser(), stall_timeout=5.0)
    m.opened(0.0)
    assert m.next_deadline(0.0) == 5.0
    m.tick(5.1)
    assert m.stall_suspected
    m.socket_checked(True, 5.1)
    assert not m.stall_suspected and not m.transport_done and m.failure is None
    assert m.next_deadline(5.1) == pytest.approx(10.1)
    m.receive_frames([book(1)], 1, 5.2)  # the receive task read them
    assert m.next_deadline(5.2) == pytest.approx(10.2)
    m.tick(10.25)
    m.socket_checked(False, 10.25)  # then truly nothing for 5 s
    assert m.failure == Failure(FailureKind.STALLED, None, "no frame for 5.0 s")


def test_a_late_clock_means_the_recorder_was_away_and_judges_nothing() -> None:
    # SIGSTOP, swap, a paused VM: the clock wakes long after its deadline. The peer may have
    # sent plenty meanwhile (in the kernel's buffer): no stall, no overdue reply, until the
    # recorder has listened for a whole timeout again, counted from `late` seconds after the
    # return (the peer's TCP may wait that long to send again, StallWatch).
    m = machine(FakeParser(), in_url=ids("btcusdt"), to_subscribe=ids("ethusdt"),
                stall_timeout=3.0, reply_timeout=2.0)
    m.opened(0.0)
    m.frames_to_send()
    m.receive_frames([book(1)], 1, 1.5)
    assert m.next_deadline(1.5) == 2.0  # the reply's
    m.tick(2.0 + ABSENCE_SLACK + 5.0)  # stopped for 5 s
    assert not m.stall_suspected and not m.transport_done and m.failure is None
    now = 7.0 + ABSENCE_SLACK
    assert m.next_deadline(now) == pytest.approx(now + 2.0)  # the reply's timeout restarted
    m.receive_frames([reply(1), book(2)], 2, now + 0.01)  # what the kernel kept
    assert m.subscribed_at == pytest.approx(now + 0.01)
    late = 5.0 + ABSENCE_SLACK
    assert m.next_deadline(now + 0.01) == pytest.approx(now + late + 3.0)
    m.tick(now + 0.5)
    assert m.failure is None
    m.tick(now + late + 2.9)  # frames that came after the return do not end the grace
    assert not m.stall_suspected and m.failure is None
    m.tick(now + late + 3.0)
    assert m.stall_suspected


def test_a_clock_on_time_is_not_taken_for_an_absence() -> None:
    m = machine(FakeParser(), stall_timeout=3.0)
    m.opened(0.0)
    assert m.next_deadline(0.0) == 3.0
    m.tick(3.0 + ABSENCE_SLACK)  # late, but within the slack: judged
    assert m.stall_suspected


def test_a_connection_is_proven_once_subscribed_and_storing() -> None:
    parser = FakeParser()
    m = machine(parser, in_url=ids("btcusdt"), to_subscribe=ids("ethusdt"))
    m.opened(0.0)
    (sub,) = sent_texts(m.frames_to_send())
    m.receive_frames([book(1)], 1, 0.1)  # data, but not every stream confirmed yet
    assert m.proven_at is None
    m.receive_frames([reply(sub["id"]), F(Opcode.PING, b"")], 1, 0.2)
    assert m.subscribed_at == 0.2 and m.proven_at is None  # a ping proves nothing
    m.receive_frames([book(1)], 1, 0.3)  # a duplicate stores nothing either
    assert m.proven_at is None
    m.receive_frames([book(2), book(3)], 1, 0.4)
    assert m.proven_at == 0.4
    m.receive_frames([book(4)], 1, 0.5)
    assert m.proven_at == 0.4
    assert parser.seqs == [1, 2, 3, 4]


def test_a_buffering_or_detached_connection_is_not_judged_by_stalls() -> None:
    m = machine(FakeParser(), stall_timeout=5.0, live=False)
    m.opened(0.0)
    m.tick(100.0)
    assert not m.transport_done
    m.detach()
    m.tick(200.0)
    assert not m.transport_done


def test_an_overdue_reply_ends_the_connection() -> None:
    m = machine(FakeParser(), in_url=[], to_subscribe=ids("ethusdt"), reply_timeout=3.0,
                stall_timeout=100.0)
    m.opened(0.0)
    m.frames_to_send()
    assert m.next_deadline(0.0) == 3.0
    m.receive_frames([F(Opcode.PING, b"")], 1, 2.0)  # frames flow, but no reply
    m.tick(3.0)
    assert m.transport_done
    assert m.failure == Failure(FailureKind.CONTROL, None, "control reply overdue")


# -- closing --------------------------------------------------------------------------


def test_a_close_frame_ends_the_connection_with_its_code() -> None:
    m = machine(FakeParser())
    m.opened(0.0)
    payload = (1008).to_bytes(2, "big") + b"Too many requests"
    assert m.receive_frames([F(Opcode.CLOSE, payload)], 1, 1.0)
    assert m.frames_to_send() == []  # the transport echoes close frames, not the machine
    assert m.transport_done
    # the TCP close that follows does not change why it ended
    m.connection_lost(Failure(FailureKind.DROPPED, 1006, "EOF"), 1.1)
    assert m.failure == Failure(FailureKind.CLOSED, 1008, "Too many requests")


def test_close_sends_a_close_frame_and_gives_up_waiting_after_the_close_timeout() -> None:
    m = machine(FakeParser(), close_timeout=2.0)
    m.opened(0.0)
    m.close(Failure(FailureKind.CLOSED, 1000, "rotated"), 10.0, 1000, "rotated")
    assert m.frames_to_send() == [SendClose(1000, "rotated")]
    assert m.next_deadline(10.0) == 12.0
    m.tick(11.9)
    assert not m.transport_done
    m.tick(12.0)
    assert m.transport_done
    m.connection_lost(None, 12.0)
    assert m.failure == Failure(FailureKind.CLOSED, 1000, "rotated")


def test_cancel_closes_politely_only_a_healthy_connection() -> None:
    m = machine(FakeParser())
    m.opened(0.0)
    m.cancel()
    assert m.frames_to_send() == [SendClose(1000, "")]
    m.connection_lost(None, 1.0)
    assert m.failure == Failure(FailureKind.DROPPED, 1006, "connection ended")
    stalled = machine(FakeParser(), stall_timeout=1.0)
    stalled.opened(0.0)
    stalled.tick(1.0)
    stalled.socket_checked(False, 1.0)
    stalled.cancel()
    assert stalled.frames_to_send() == []


# -- rotation buffering ---------------------------------------------------------------


def test_a_replacement_buffers_market_data_and_feeds_it_on_go_live() -> None:
    parser = FakeParser()
    old = machine(parser)
    new = machine(parser, in_url=[], to_subscribe=ids("btcusdt"), live=False)
    old.opened(0.0)
    new.opened(1.0)
    (sub,) = sent_texts(new.frames_to_send())
    old.receive_frames([book(1), book(2)], 10, 1.1)
    # the replacement's reply is handled at once; its market data waits
    new.receive_frames([reply(sub["id"]), book(2), book(3)], 20, 1.2)
    assert DataBuffered(1.2) in new.events_received()
    assert new.first_data_at == 1.2 and new.subscribed_at == 1.2
    old.receive_frames([book(3), book(4)], 30, 1.3)
    new.receive_frames([book(4), book(5)], 40, 1.4)
    assert parser.seqs == [1, 2, 3, 4]
    old.detach()
    old.receive_frames([book(5)], 50, 1.5)  # dropped: the replacement carries it
    assert new.go_live(1.5) == 4
    assert new.mode is Mode.LIVE
    new.receive_frames([book(6)], 60, 1.6)
    # nothing lost, nothing doubled, exchange order, each with its own receive time
    assert parser.stored == [("btcusdt@bookTicker", s, ns) for s, ns in
                             [(1, 10), (2, 10), (3, 30), (4, 30), (5, 40), (6, 60)]]
    assert new.counters.duplicates == 3  # 2, 3 and 4 were already stored by the old one


def test_the_latest_market_data_is_timed_whatever_became_of_it() -> None:
    """``last_data_at``: what the handover compares (stored, duplicate or buffered market
    data; not pings or replies)."""
    parser = FakeParser()
    m = machine(parser, in_url=[], to_subscribe=ids("btcusdt"))
    m.opened(0.0)
    (sub,) = sent_texts(m.frames_to_send())
    m.receive_frames([reply(sub["id"]), F(Opcode.PING, b"x")], 1, 0.5)
    assert m.last_data_at is None
    m.receive_frames([book(1)], 2, 1.0)
    assert m.last_data_at == 1.0
    m.receive_frames([book(1)], 3, 2.0)  # a duplicate is data delivered too
    assert m.last_data_at == 2.0
    m.receive_frames([F(Opcode.PING, b"y")], 4, 3.0)
    assert m.last_data_at == 2.0
    buffering = machine(parser, live=False)
    buffering.opened(0.0)
    buffering.receive_frames([book(2)], 5, 4.0)
    assert buffering.last_data_at == 4.0 and parser.seqs == [1]
