"""The websockets transport: TCP or TLS by anyio, frames by websockets' sans-I/O client core.

:func:`open_websocket` connects and handshakes; a :class:`WebSocketTransport` then yields
the frames of each socket read with one receive time (:meth:`~WebSocketTransport.receive`)
and sends the frames a :class:`~binfeed.binance.machine.ConnectionMachine` asks for
(:meth:`~WebSocketTransport.send`). It makes no decision about Binance: it only moves
frames, and says how the network failed in plain values (:class:`~binfeed.binance.retry.Failure`):
:func:`connect_failure` and :func:`receive_failure` map exceptions, as websockets'
``process_exception`` does, and are tested without a socket.

websockets' ``ClientProtocol`` answers every ping by itself. Binance counts pongs against
its 5 messages per second, so binfeed's pongs go through the machine's outgoing budget:
:class:`PongsLeftToCaller` hands pings out like any other frame and sends no pong of its own.
Everything else of the WebSocket protocol stays websockets': masking, size and UTF-8
checks, and the closing handshake (a received close frame is echoed here).
"""

from __future__ import annotations

import contextlib
import logging
import select
import socket
import ssl
import time
from collections.abc import Sequence
from typing import cast

import anyio
import anyio.abc
from websockets.client import ClientProtocol
from websockets.exceptions import InvalidHandshake, InvalidStatus
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.protocol import State
from websockets.typing import BytesLike
from websockets.uri import parse_uri

from binfeed import __version__
from binfeed.binance.endpoint import Endpoint
from binfeed.binance.events import OutgoingFrame, SendClose, SendPong, SendText
from binfeed.binance.retry import Failure, FailureKind
from binfeed.binance.tls import client_context

log = logging.getLogger("binfeed.record")

#: Bytes asked from the socket per read.
RECV_SIZE = 1 << 18

#: Exceptions of a socket that went away under a send or a receive.
_GONE = (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError)


class ConnectFailed(Exception):
    """A connection attempt failed before the handshake completed."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(str(failure))
        self.failure = failure


class TransportClosed(Exception):
    """The connection ended under the transport (EOF, reset, a protocol violation)."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(str(failure))
        self.failure = failure


class _ClosedInHandshake(Exception):
    """The server closed the TCP connection before answering the handshake."""


class PongsLeftToCaller(ClientProtocol):
    """websockets' client protocol, except that a received ping is not answered: the
    caller sends the pong (:meth:`send_pong`) when its budget allows.

    ``recv_frame`` queues its automatic pong through ``send_frame``; that pong is dropped
    there (``send_frame`` only runs when something is sent, so the frames of market data
    pay nothing for it), while pongs sent through :meth:`send_pong` go out.
    """

    _sending_pong = False

    def send_pong(self, data: BytesLike) -> None:
        self._sending_pong = True
        try:
            super().send_pong(data)
        finally:
            self._sending_pong = False

    def send_frame(self, frame: Frame) -> None:
        if frame.opcode is Opcode.PONG and not self._sending_pong:
            return  # websockets' own answer to a ping: the caller's to send
        super().send_frame(frame)


# -- exceptions as failures (pure) --------------------------------------------------------


def connect_failure(exc: BaseException, *, host: str, open_timeout: float,
                    streams_in_url: bool) -> Failure | None:
    """What a connection attempt's exception means; None for anything that is not a
    network or handshake failure (a bug: let it propagate)."""
    def failure(kind: FailureKind, code: int | None = None, detail: str = "",
                retry_after: float | None = None) -> Failure:
        return Failure(kind, code, detail, retry_after, streams_in_url)

    if isinstance(exc, _ClosedInHandshake):
        return failure(FailureKind.DROPPED, 1006, "closed during the handshake")
    if isinstance(exc, InvalidStatus):
        response = exc.response
        status = response.status_code
        text = (response.body or b"")[:200].decode("utf-8", "replace").strip()
        return failure(FailureKind.HTTP, status, f"HTTP {status} {text}".strip(),
                       _retry_after(response.headers.get("Retry-After")))
    if isinstance(exc, InvalidHandshake):
        return failure(FailureKind.HANDSHAKE, detail=str(exc))
    if isinstance(exc, TimeoutError):
        return failure(FailureKind.TIMEOUT, detail=f"no handshake within {open_timeout} s")
    if isinstance(exc, ssl.SSLCertVerificationError):
        return failure(FailureKind.TLS_VERIFY, detail=exc.verify_message or str(exc))
    if isinstance(exc, ssl.SSLError):
        return failure(FailureKind.TLS, detail=str(exc))
    if isinstance(exc, socket.gaierror):
        return failure(FailureKind.DNS, detail=f"{host}: {exc.strerror}")
    if isinstance(exc, (anyio.EndOfStream, anyio.BrokenResourceError)):
        return failure(FailureKind.DROPPED, 1006, f"closed during the handshake ({exc!r})")
    if isinstance(exc, OSError):
        cause = exc.__cause__ if isinstance(exc.__cause__, OSError) else exc
        kind = (FailureKind.REFUSED if isinstance(cause, ConnectionRefusedError)
                else FailureKind.NETWORK)
        return failure(kind, detail=str(cause))
    return None


def receive_failure(exc: BaseException) -> Failure:
    """What ended an open connection under a receive (a close frame, if one came, is the
    machine's to know and wins)."""
    if isinstance(exc, anyio.EndOfStream):
        return Failure(FailureKind.DROPPED, 1006,
                       "the server closed the TCP connection without a close frame")
    return Failure(FailureKind.DROPPED, 1006, f"connection lost: {exc!r}")


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


# -- the transport --------------------------------------------------------------------


class WebSocketTransport:
    """One open WebSocket (made by :func:`open_websocket`)."""

    def __init__(self, stream: anyio.abc.ByteStream, protocol: PongsLeftToCaller) -> None:
        self._stream = stream
        self._protocol = protocol
        self._send_lock = anyio.Lock()
        self._pending: tuple[list[Frame], int, float] | None = None

    async def _handshake(self, user_agent: str) -> None:
        protocol = self._protocol
        request = protocol.connect()
        request.headers["User-Agent"] = user_agent
        protocol.send_request(request)
        await self._write(protocol.data_to_send())
        while True:
            try:
                data = await self._stream.receive(RECV_SIZE)
            except anyio.EndOfStream:
                protocol.receive_eof()
                raise _ClosedInHandshake from None
            recv_ns, now = time.time_ns(), time.monotonic()
            protocol.receive_data(data)
            events = protocol.events_received()
            for i, event in enumerate(events):
                if isinstance(event, Response):
                    if protocol.handshake_exc is not None:
                        raise protocol.handshake_exc
                    # frames that came with the response: the first read's
                    # after the response, the protocol yields only frames
                    self._pending = (cast(list[Frame], events[i + 1 :]), recv_ns, now)
                    return
            if protocol.handshake_exc is not None:
                raise protocol.handshake_exc

    async def receive(self) -> tuple[list[Frame], int, float]:
        """The frames of the next read, its receive time (``time.time_ns()``) and the
        monotonic time (``time.monotonic()``), both taken once right after the read.

        Raises:
            TransportClosed: the connection ended (EOF, reset, a protocol violation).
        """
        if self._pending is not None:
            pending, self._pending = self._pending, None
            return pending
        protocol = self._protocol
        try:
            data = await self._stream.receive(RECV_SIZE)
        except (anyio.EndOfStream, *_GONE) as exc:
            protocol.receive_eof()
            raise TransportClosed(receive_failure(exc)) from None
        recv_ns, now = time.time_ns(), time.monotonic()
        protocol.receive_data(data)
        events = protocol.events_received()
        if not events and protocol.parser_exc is not None:
            await self.send(())  # websockets' close frame for the violation
            raise TransportClosed(Failure(FailureKind.PROTOCOL, protocol.close_code,
                                          str(protocol.parser_exc)))
        return cast(list[Frame], events), recv_ns, now  # an open protocol yields frames

    def has_unread(self) -> bool:
        """Whether the socket holds bytes not read yet (or its end: EOF, an error), asked
        the kernel with a zero timeout, taking nothing: the proof a stall needs that the
        peer, not this process, was silent."""
        sock = self._stream.extra(anyio.abc.SocketAttribute.raw_socket)
        poller = select.poll()  # asyncio's socket wrapper cannot recv(); its fd can poll
        poller.register(sock.fileno(), select.POLLIN | select.POLLPRI)
        return bool(poller.poll(0))  # readable, or POLLHUP / POLLERR: the end is unread

    async def send(self, frames: Sequence[OutgoingFrame]) -> None:
        """Sends ``frames``, and what websockets itself has to send (a close frame's echo).
        A socket that went away is not an error here: the next receive says how it ended."""
        protocol = self._protocol
        for frame in frames:
            if isinstance(frame, SendText):
                if protocol.state is State.OPEN:
                    protocol.send_text(frame.text.encode())
            elif isinstance(frame, SendPong):
                if protocol.state in (State.OPEN, State.CLOSING):
                    protocol.send_pong(frame.payload)
            elif isinstance(frame, SendClose) and protocol.state is State.OPEN:
                protocol.send_close(frame.code, frame.reason)
        if not protocol.writes:
            return
        try:
            async with self._send_lock:
                await self._write(protocol.data_to_send())
        except _GONE as exc:
            log.debug("send failed: %r", exc)

    async def _write(self, chunks: list[bytes]) -> None:
        stream = self._stream
        for chunk in chunks:
            if chunk:
                await stream.send(chunk)
            else:  # websockets' SEND_EOF: half-close our side
                with contextlib.suppress(NotImplementedError, *_GONE):  # TLS: not supported
                    await stream.send_eof()

    async def aclose(self) -> None:
        """Closes the socket now (no waiting for the server)."""
        await anyio.aclose_forcefully(self._stream)


async def open_websocket(endpoint: Endpoint, url: str, *, open_timeout: float, max_frame: int,
                         ssl_context: ssl.SSLContext | None,
                         streams_in_url: bool) -> WebSocketTransport:
    """Connects to ``url`` (TCP, TLS for wss://: ``ssl_context`` from
    :func:`binfeed.binance.tls.client_context`, made here when None) and completes the
    WebSocket handshake, within ``open_timeout`` seconds.

    Raises:
        ConnectFailed: the attempt failed (its :class:`Failure` says how).
    """
    stream: anyio.abc.ByteStream | None = None
    try:
        with anyio.fail_after(open_timeout):
            if endpoint.secure:
                context = ssl_context or client_context()
                stream = await anyio.connect_tcp(
                    endpoint.host, endpoint.effective_port, ssl_context=context,
                    tls_hostname=endpoint.host, tls_standard_compatible=False)
            else:
                stream = await anyio.connect_tcp(endpoint.host, endpoint.effective_port)
            transport = WebSocketTransport(
                stream, PongsLeftToCaller(parse_uri(url), max_size=max_frame))
            await transport._handshake(f"binfeed/{__version__}")
            return transport
    except Exception as exc:
        failure = connect_failure(exc, host=endpoint.host, open_timeout=open_timeout,
                                  streams_in_url=streams_in_url)
        if failure is None:
            raise
        await _abort(stream)
        raise ConnectFailed(failure) from None


async def _abort(stream: anyio.abc.ByteStream | None) -> None:
    if stream is not None:
        with anyio.CancelScope(shield=True):
            await anyio.aclose_forcefully(stream)
