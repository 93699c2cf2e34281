"""The server's fault decisions (binfeed.binance.faults), the --fault options that name them,
and the report's accounts, without a socket."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import pytest

from binfeed.binance.faults import (
    DEFAULT_SHUTDOWN_GRACE,
    MALFORMED_KINDS,
    Fault,
    FaultSchedule,
    Injection,
    InjectionSchedule,
    PingEvery,
    apply_fault,
    malformed_message,
    sendable_close_code,
)
from binfeed.binance.server_config import ServerConfig
from binfeed.binance.server_report import SentLog, max_in_window
from binfeed.commands.params import FAULT_KINDS, parse_fault
from binfeed.errors import ConfigError
from binfeed.ingest import Ingestor
from binfeed.ingest_results import PARSE_ERRORS
from binfeed.queue import QueueWriter

pytestmark = pytest.mark.anyio


def test_a_connection_gets_its_own_faults_and_the_shared_ones_in_frame_order() -> None:
    faults = [Fault("close", 30, connection=2), Fault("stall", 10, connection=0),
              Fault("abort", 5, connection=1)]
    first, second = FaultSchedule(faults, 1), FaultSchedule(faults, 2)
    assert first.frames_until_next(0) == 5
    assert first.due(4) is None
    assert first.due(7) == faults[2]  # abort, late is still due
    assert first.frames_until_next(7) == 3
    assert first.due(10) == faults[1]
    assert first.due(10) is None and first.frames_until_next(10) == math.inf
    assert [second.due(100), second.due(100), second.due(100)] == [faults[1], faults[0], None]


class Target:
    def __init__(self) -> None:
        self.calls: list[tuple[object, ...]] = []

    async def abort(self, *, reset: bool) -> None:
        self.calls.append(("abort", reset))

    async def close(self, code: int, reason: str = "") -> None:
        self.calls.append(("close", code, reason))

    def stall(self) -> None:
        self.calls.append(("stall",))

    async def announce_shutdown(self, grace: float) -> None:
        self.calls.append(("shutdown", grace))


async def test_what_each_fault_does() -> None:
    target = Target()
    for fault in (Fault("abort"), Fault("reset"), Fault("close", code=1006),
                  Fault("close", code=1008, reason="x"), Fault("stall"),
                  Fault("shutdown", grace=0.5)):
        await apply_fault(target, fault)
    assert target.calls == [("abort", False), ("abort", True), ("abort", False),
                            ("close", 1008, "x"), ("stall",), ("shutdown", 0.5)]


def test_a_timed_fault_is_kept_apart_from_the_frame_counted_ones() -> None:
    faults = [Fault("shutdown", after_seconds=2.5, connection=0), Fault("abort", 10),
              Fault("shutdown", after_seconds=0.5, connection=2)]
    one, two = FaultSchedule(faults, 1), FaultSchedule(faults, 2)
    assert one.timed == [faults[0]] and one.frames_until_next(0) == 10
    assert two.timed == [faults[2], faults[0]] and two.frames_until_next(0) == math.inf
    assert faults[0].when == "seconds" and faults[1].when == "frames"


@pytest.mark.parametrize(("fault", "message"), [
    (lambda: Fault("close", 1, code=1005), "close code 1005 cannot be sent"),
    (lambda: Fault("close", 1, code=999), "close code 999 cannot be sent"),
    (lambda: Fault("abort", -1), "cannot be negative"),
    (lambda: Fault("shutdown", after_seconds=math.nan), "number of seconds >= 0"),
    (lambda: Injection("malformed", 0), "every >= 1"),
    (lambda: PingEvery(0.0), "number of seconds > 0"),
])
def test_impossible_faults_are_refused(fault, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        fault()


def test_close_codes_that_a_close_frame_can_carry() -> None:
    assert all(sendable_close_code(c) for c in (1000, 1001, 1008, 1011, 1014, 3000, 4999))
    assert sendable_close_code(1006)  # means: drop without a close frame
    assert not any(sendable_close_code(c) for c in (999, 1004, 1005, 1015, 2000, 5000))


def test_injections_fall_after_every_k_frames_once_each() -> None:
    mal, unsub = Injection("malformed", 3), Injection("unsubscribed", 5, connection=2)
    first, second = InjectionSchedule([mal, unsub], 1), InjectionSchedule([mal, unsub], 2)
    assert not first.wants_unsubscribed and second.wants_unsubscribed
    assert first.frames_until_next(0) == 3 and first.due(2) == []
    assert first.due(3) == [mal] and first.due(3) == []
    assert first.frames_until_next(3) == 3
    # frames sent in one go past several multiples give one insertion, then the next multiple
    assert first.due(10) == [mal] and first.frames_until_next(10) == 2
    assert second.due(5) == [mal, unsub]  # 5 >= 3 and 5 >= 5, in configuration order
    assert second.due(6) == [mal] and second.due(10) == [mal, unsub]  # 9 and 10
    assert InjectionSchedule([], 1).frames_until_next(0) == math.inf


def real_parser_verdict(tmp_path: Path, message: bytes) -> int:
    with QueueWriter(tmp_path / "q") as writer, Ingestor(writer) as ingestor:
        verdict = ingestor.ingest(message, 1)
        assert writer.stats().records_written == 0
    return verdict


BOOK = ('{"stream":"btcusdt@bookTicker","data":{"u":400900217,"s":"BTCUSDT",'
        '"b":"61837.63000000","B":"3.78826000","a":"61837.64000000","A":"1.54698000"}}')
TRADE = ('{"stream":"币安人生usdt@trade","data":{"e":"trade","E":1,"s":"币安人生USDT","t":7,'
         '"p":"0.10000000","q":"2.00000000","T":1,"m":true,"M":true}}')


@pytest.mark.parametrize("combined", [True, False])
@pytest.mark.parametrize(("name", "last"), [("btcusdt@bookTicker", BOOK),
                                            ("币安人生usdt@trade", TRADE)])
def test_every_malformed_kind_is_valid_utf8_and_refused_by_binfeeds_parser(
        tmp_path: Path, name: str, last: str, combined: bool) -> None:
    if not combined:
        last = last[last.index('"data":') + 7:-1]
    kinds = []
    for n in range(2 * len(MALFORMED_KINDS)):
        kind, message = malformed_message(n, last.encode(), name, combined)
        kinds.append(kind)
        message.decode("utf-8")  # a text frame must be UTF-8
        assert message != last.encode()
        verdict = real_parser_verdict(tmp_path / str(n), message)
        assert verdict in PARSE_ERRORS, (kind, message)
    assert kinds == list(MALFORMED_KINDS) * 2
    truncated = malformed_message(0, last.encode(), name, combined)[1]
    assert last.encode().startswith(truncated) and len(truncated) <= len(last.encode()) // 2
    if combined:
        mistyped = json.loads(malformed_message(2, last.encode(), name, combined)[1])
        assert mistyped["stream"] == name
        assert mistyped["data"]["s"] == json.loads(last)["data"]["s"]


def test_the_same_inputs_give_the_same_malformed_frames() -> None:
    a = [malformed_message(n, BOOK.encode(), "btcusdt@bookTicker", True) for n in range(8)]
    b = [malformed_message(n, BOOK.encode(), "btcusdt@bookTicker", True) for n in range(8)]
    assert a == b


@pytest.mark.parametrize(("text", "want"), [
    ("drop-every=1500", Fault("abort", 1500, connection=0, label="drop-every=1500")),
    ("reset-every=7", Fault("reset", 7, connection=0, label="reset-every=7")),
    ("2:stall-after=10", Fault("stall", 10, connection=2, label="2:stall-after=10")),
    ("close=1011@500", Fault("close", 500, connection=0, code=1011, label="close=1011@500")),
    ("close=1006@0", Fault("close", 0, connection=0, code=1006, label="close=1006@0")),
    ("shutdown-after=30", Fault("shutdown", connection=0, after_seconds=30.0,
                                grace=DEFAULT_SHUTDOWN_GRACE, label="shutdown-after=30")),
    ("3:shutdown-after=1.5+0.25", Fault("shutdown", connection=3, after_seconds=1.5,
                                        grace=0.25, label="3:shutdown-after=1.5+0.25")),
    ("malformed-every=50", Injection("malformed", 50, label="malformed-every=50")),
    ("1:unsubscribed-every=9", Injection("unsubscribed", 9, connection=1,
                                         label="1:unsubscribed-every=9")),
    ("ping-every=0.02", PingEvery(0.02, label="ping-every=0.02")),
])
def test_fault_options(text: str, want: object) -> None:
    assert parse_fault(text) == want


@pytest.mark.parametrize(("text", "message"), [
    ("flood=1", "invalid fault 'flood=1': give KIND=VALUE with KIND one of drop-every, "),
    ("drop-every", "give KIND=VALUE"),
    ("drop-every=-1", "invalid fault 'drop-every=-1': drop-every: '-1' is not a whole "
                      "number >= 0"),
    ("close=1011", "close: give CODE@N (e.g. close=1011@500), not '1011'"),
    ("close=1005@3", "close code 1005 cannot be sent: use 1000-1003, 1007-1014 or "
                     "3000-4999 (1006: a drop without a close frame)"),
    ("close=abc@3", "close: 'abc' is not a whole number >= 1000"),
    ("shutdown-after=soon", "shutdown-after: 'soon' is not a number of seconds"),
    ("malformed-every=0", "malformed-every: '0' is not a whole number >= 1"),
    ("ping-every=0", "ping-every: give a number of seconds > 0 (0.02 is 50 pings per second)"),
    ("2:ping-every=1", "ping-every applies to every connection: drop the 2: prefix"),
    ("0:drop-every=5", "connections count from 1"),
])
def test_bad_fault_options_say_what_to_write(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_fault(text)
    assert message in str(raised.value)


def test_every_fault_kind_parses_and_is_in_the_help_table() -> None:
    examples = {"drop-every": "1", "reset-every": "1", "stall-after": "1", "close": "1000@1",
                "shutdown-after": "1", "malformed-every": "1", "unsubscribed-every": "1",
                "ping-every": "1"}
    assert set(examples) == set(FAULT_KINDS)
    for kind, value in examples.items():
        parse_fault(f"{kind}={value}")


def test_a_server_config_takes_the_fault_options() -> None:
    options = [parse_fault(t) for t in ("drop-every=5", "malformed-every=3", "ping-every=1",
                                        "ping-every=0.5", "close=1000@2")]
    config = ServerConfig().with_faults(options)
    assert [f.label for f in config.faults] == ["drop-every=5", "close=1000@2"]
    assert [i.label for i in config.injections] == ["malformed-every=3"]
    assert config.ping_interval == 0.5  # the last one given wins
    assert ServerConfig().with_faults([]) == ServerConfig()


def test_runs_of_sent_frames() -> None:
    @dataclass
    class Sent:
        name: str
        index: int
        ordinal: int

    log = SentLog()
    log.add([Sent("a", 0, 0), Sent("b", 1, 0), Sent("a", 2, 1)])
    log.add([Sent("a", 5, 2), Sent("b", 7, 3)])  # b skipped ordinals 1 and 2: a new run
    assert log.as_json() == [{"stream": "a", "first": 0, "last": 5, "frames": 3},
                             {"stream": "b", "first": 1, "last": 1, "frames": 1},
                             {"stream": "b", "first": 7, "last": 7, "frames": 1}]
    assert log.total == 5


def test_the_most_messages_in_any_rolling_second() -> None:
    assert max_in_window([], 1.0) == 0
    assert max_in_window([0.0, 0.5, 0.99, 1.0, 1.5], 1.0) == 3  # (0.0, 1.0] holds 3
    assert max_in_window([2.0, 0.0, 1.0], 1.0) == 1  # windows are half-open: 1.0 s apart
    assert max_in_window([0.1 * k for k in range(6)], 1.0) == 6
