"""The machine's two parts that follow RFC 6455 alone: fragments joined into a message,
and the closing handshake (our close frame's timeout, the server's close frame)."""

from __future__ import annotations

from binfeed.binance.closing import Closing
from binfeed.binance.events import Opcode
from binfeed.binance.fragments import Fragments
from binfeed.binance.retry import Failure, FailureKind

from .machine_support import F


def test_a_fragmented_binary_message_is_joined_and_the_next_one_starts_afresh() -> None:
    parts = Fragments()
    assert parts.join(F(Opcode.BINARY, b"ab", fin=False)) is None
    assert parts.join(F(Opcode.CONT, b"cd", fin=False)) is None
    assert parts.join(F(Opcode.CONT, b"ef")) == b"abcdef"
    assert parts.join(F(Opcode.TEXT, b"x", fin=False)) is None
    assert parts.join(F(Opcode.CONT, b"y")) == b"xy"


def test_a_continuation_without_a_start_and_a_pong_are_no_message() -> None:
    parts = Fragments()
    assert parts.join(F(Opcode.CONT, b"orphan")) is None
    assert parts.join(F(Opcode.PONG, b"p")) is None
    assert parts.join(F(Opcode.TEXT, b"a", fin=False)) is None
    assert parts.join(F(Opcode.PONG, b"p")) is None  # a control frame between fragments
    assert parts.join(F(Opcode.CONT, b"b")) == b"ab"


def test_our_close_frame_waits_for_the_timeout_then_the_transport_closes() -> None:
    closing = Closing(timeout=2.0)
    assert closing.deadline() is None and not closing.overdue(100.0)
    closing.started(10.0)
    assert closing.deadline() == 12.0
    assert not closing.overdue(11.9) and not closing.done
    assert closing.overdue(12.0) and closing.done


def test_the_servers_close_frame_is_the_failure_with_its_code_and_reason() -> None:
    closing = Closing(timeout=2.0)
    failure = closing.receive((1001).to_bytes(2, "big") + "going away \u2013 bye".encode())
    assert failure == Failure(FailureKind.CLOSED, 1001, "going away \u2013 bye")
    assert closing.done
    # RFC 6455 section 7.1.5: a close frame without a code is read as 1005.
    assert Closing(1.0).receive(b"") == Failure(FailureKind.CLOSED, 1005, "")
    assert Closing(1.0).receive(b"\x03\xe8\xff") == Failure(FailureKind.CLOSED, 1000, "\ufffd")


def test_ending_now_closes_the_transport_without_a_handshake() -> None:
    closing = Closing(timeout=2.0)
    closing.end_now()
    assert closing.done and closing.deadline() is None and not closing.overdue(100.0)
