"""The websockets transport without a socket: pings left to the machine, exceptions as failures."""

from __future__ import annotations

import socket
import ssl

import anyio
import pytest
from websockets.client import ClientProtocol
from websockets.datastructures import Headers
from websockets.exceptions import InvalidHandshake, InvalidStatus
from websockets.frames import Close, Frame, Opcode
from websockets.http11 import Response
from websockets.protocol import State
from websockets.uri import parse_uri

from binfeed.binance.events import SendPong
from binfeed.binance.machine import ConnectionMachine
from binfeed.binance.retry import Failure, FailureKind
from binfeed.binance.transport import PongsLeftToCaller, connect_failure, receive_failure

from .machine_support import FakeParser, ids

URI = parse_uri("ws://127.0.0.1:9/stream")


def from_server(frame: Frame) -> bytes:
    return frame.serialize(mask=False)


def test_websockets_would_answer_pings_itself() -> None:
    # Why PongsLeftToCaller exists: the plain client protocol queues a pong on its own.
    plain = ClientProtocol(URI, state=State.OPEN)
    plain.receive_data(from_server(Frame(Opcode.PING, b"1")))
    assert plain.data_to_send() != []


def test_pings_are_handed_out_and_answered_by_the_machine_only() -> None:
    protocol = PongsLeftToCaller(URI, state=State.OPEN)
    protocol.receive_data(from_server(Frame(Opcode.PING, b"\x00\x07")))
    frames = [e for e in protocol.events_received() if isinstance(e, Frame)]
    assert [f.opcode for f in frames] == [Opcode.PING]
    assert protocol.data_to_send() == []  # nothing sent behind the budget's back
    machine = ConnectionMachine(1, ids("btcusdt"), [], FakeParser())
    machine.opened(0.0)
    machine.receive_frames(frames, 1, 0.0)
    (pong,) = machine.frames_to_send()
    assert pong == SendPong(b"\x00\x07")
    protocol.send_pong(pong.payload)  # what the transport does with it: it goes out
    (wire,) = protocol.data_to_send()
    assert wire[0] == 0x80 | Opcode.PONG  # FIN and the pong opcode (masked payload follows)


def test_close_frames_are_still_echoed_by_websockets() -> None:
    protocol = PongsLeftToCaller(URI, state=State.OPEN)
    protocol.receive_data(from_server(Frame(Opcode.CLOSE, Close(1001, "bye").serialize())))
    (frame,) = protocol.events_received()
    assert isinstance(frame, Frame) and frame.opcode is Opcode.CLOSE
    assert protocol.data_to_send()  # the echo
    assert protocol.close_rcvd == Close(1001, "bye")


def failure_of(exc: BaseException, streams_in_url: bool = False) -> Failure | None:
    return connect_failure(exc, host="stream.example", open_timeout=10.0,
                           streams_in_url=streams_in_url)


def test_http_statuses_keep_code_body_and_retry_after() -> None:
    response = Response(429, "Too Many Requests", Headers({"Retry-After": "7"}), b"slow down")
    failure = failure_of(InvalidStatus(response), streams_in_url=True)
    assert failure == Failure(FailureKind.HTTP, 429, "HTTP 429 slow down", 7.0, True)
    bad_header = Response(503, "Unavailable", Headers({"Retry-After": "soon"}))
    assert failure_of(InvalidStatus(bad_header)) == Failure(FailureKind.HTTP, 503, "HTTP 503")


def test_tls_verification_is_told_apart_from_other_tls_failures() -> None:
    verify = ssl.SSLCertVerificationError(1, "certificate verify failed")
    verify.verify_message = "self-signed certificate"
    assert failure_of(verify) == Failure(FailureKind.TLS_VERIFY, None, "self-signed certificate")
    failure = failure_of(ssl.SSLError(1, "handshake failure"))
    assert failure is not None and failure.kind is FailureKind.TLS


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (TimeoutError(), FailureKind.TIMEOUT),
        (socket.gaierror(-2, "Name or service not known"), FailureKind.DNS),
        (ConnectionRefusedError(111, "refused"), FailureKind.REFUSED),
        (OSError(113, "No route to host"), FailureKind.NETWORK),
        (anyio.EndOfStream(), FailureKind.DROPPED),
        (anyio.BrokenResourceError(), FailureKind.DROPPED),
        (InvalidHandshake("missing Upgrade header"), FailureKind.HANDSHAKE),
    ],
)
def test_connect_exceptions_as_failures(exc: BaseException, kind: FailureKind) -> None:
    failure = failure_of(exc)
    assert failure is not None and failure.kind is kind
    if kind is FailureKind.DNS:
        assert failure.detail == "stream.example: Name or service not known"
    if kind is FailureKind.TIMEOUT:
        assert failure.detail == "no handshake within 10.0 s"


def test_anyio_connect_errors_are_judged_by_their_cause() -> None:
    # anyio.connect_tcp raises an OSError caused by the last address's error
    try:
        raise OSError("All connection attempts failed") from ConnectionRefusedError(111, "no")
    except OSError as exc:
        failure = failure_of(exc)
    assert failure is not None and failure.kind is FailureKind.REFUSED


def test_a_bug_is_not_a_network_failure() -> None:
    assert failure_of(ValueError("oops")) is None


def test_receive_failures() -> None:
    eof = receive_failure(anyio.EndOfStream())
    assert eof == Failure(FailureKind.DROPPED, 1006,
                          "the server closed the TCP connection without a close frame")
    reset = receive_failure(ConnectionResetError(104, "reset"))
    assert reset.kind is FailureKind.DROPPED and reset.code == 1006
    assert "reset" in reset.detail
