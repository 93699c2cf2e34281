"""One WebSocket connection of the recorder: bytes from the socket, through websockets'
protocol core (sans-I/O), to the C parser.

The hot path per received chunk of bytes is: ``stream.receive()``, one ``time.time_ns()``,
``protocol.receive_data()``, and for each text frame in it one ``ingest(frame, recv_ns)``
C call that parses and appends the record. Nothing on that path waits on the disk or on a
consumer: the queue is a memory map (segments are prefaulted ahead by the supervisor) and
readers never slow the writer down. Frames of one TCP read share its receive time, the
moment binfeed got them from the kernel.

Everything else is rare and handled off the fast path: control replies (parsed here in
Python and matched by id, :mod:`binfeed.binance.control`), ``serverShutdown``, pings
(websockets' core queues the pong; it counts against the control budget, since Binance
counts pongs too), malformed frames (counted, logged, the connection kept), close frames.

Structured concurrency: :meth:`Connection.run` is started with ``await tg.start(conn.run)``;
it calls ``task_status.started()`` after the handshake, so a failed attempt raises
:class:`ConnectFailed` to the caller, and a connection that ends later records why in
:attr:`Connection.failure` and sets :attr:`Connection.closed`. Exceptions from the queue
(disk full, I/O errors) are not caught here: they end the recorder.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import anyio
import anyio.abc
from anyio.abc import TaskStatus
from websockets.client import ClientProtocol
from websockets.exceptions import InvalidStatus
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.protocol import State
from websockets.uri import parse_uri

from binfeed import __version__
from binfeed.binance import control
from binfeed.binance.control import ControlChannel
from binfeed.binance.endpoint import DEFAULT_PARAMS_PER_MESSAGE, Endpoint
from binfeed.binance.pacing import RollingWindow, control_budget
from binfeed.binance.retry import Failure, FailureKind
from binfeed.binance.streams import StreamId
from binfeed.errors import ProtocolError

log = logging.getLogger("binfeed.record")

#: Bytes asked from the socket per read.
RECV_SIZE = 1 << 18
#: What the parser's ingest() returns (binfeed.h, BF_FRAME_*): kinds 1 and 2 are the fast
#: path (a record was stored); anything else goes to Connection._special.
FRAME_STORED_MAX = 2
FRAME_DUPLICATE = 3
FRAME_UNSTORED = 4
FRAME_CONTROL = 5
FRAME_SERVER_SHUTDOWN = 6
#: Returned by the buffering ingest of a connection that is not live yet.
FRAME_BUFFERED = 0

_ENVELOPE = b'{"stream"'


class FrameSink(Protocol):
    """Where frames go: binfeed.ingest.Ingestor."""

    def ingest(self, frame: bytes, recv_ts_ns: int) -> int: ...


class ConnectFailed(Exception):
    """A connection attempt failed before the handshake completed."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(str(failure))
        self.failure = failure


@dataclass
class ConnectionOptions:
    """Timeouts and limits of one connection."""

    open_timeout: float = 10.0
    close_timeout: float = 2.0
    max_frame: int = 1 << 20
    reply_timeout: float = control.DEFAULT_REPLY_TIMEOUT
    params_per_message: int = DEFAULT_PARAMS_PER_MESSAGE
    ssl_context: ssl.SSLContext | None = None


@dataclass
class ConnectionCounters:
    """Per-connection counters (rare events; market data is counted by the parser)."""

    frames: int = 0
    duplicates: int = 0
    unstored: int = 0
    malformed: int = 0
    control_replies: int = 0
    pongs: int = 0


class Connection:
    """One combined-stream connection.

    Args:
        conn_id: recorder-local number (CONNECTION records, logs).
        endpoint: where to connect.
        in_url: streams named in the connect URL.
        to_subscribe: streams to SUBSCRIBE after the handshake (paced, 4 per second).
        sink: the parser (``ingest(frame, recv_ns) -> kind``).
        on_change: called (synchronously) whenever something the supervisor watches
            changes: subscriptions confirmed or refused, serverShutdown, end of connection.
        live: ingest frames at once (True) or keep market data in a buffer until
            :meth:`go_live` (a replacement connection during a rotation).
    """

    def __init__(
        self,
        conn_id: int,
        endpoint: Endpoint,
        in_url: list[StreamId],
        to_subscribe: list[StreamId],
        sink: FrameSink,
        on_change: Callable[[], None],
        *,
        options: ConnectionOptions | None = None,
        live: bool = True,
    ) -> None:
        self.conn_id = conn_id
        self.endpoint = endpoint
        self.in_url = list(in_url)
        self.to_subscribe = list(to_subscribe)
        self.url = endpoint.combined_url(self.in_url)
        self.options = options or ConnectionOptions()
        self._sink_ingest = sink.ingest
        self._on_change = on_change
        self._ingest: Callable[[bytes, int], int] = (
            self._sink_ingest if live else self._buffer_frame)
        self._buffer: list[tuple[bytes, int]] = []
        self.counters = ConnectionCounters()
        self.channel = ControlChannel(reply_timeout=self.options.reply_timeout,
                                      params_per_message=self.options.params_per_message)
        self.budget: RollingWindow = control_budget()
        # state the supervisor reads
        self.connected_at = 0.0  # monotonic
        self.last_rx = 0.0  # monotonic time of the last received chunk
        self.first_data_at: float | None = None  # monotonic, first market data (buffered)
        self.subscribed_at: float | None = None  # monotonic, every stream confirmed/refused
        self.ended_at: float | None = None  # monotonic, when the connection was over
        self.confirmed: set[StreamId] = set()
        self.refused: list[control.Refused] = []
        self.control_events: list[control.ControlEvent] = []
        self.shutdown_announced = False
        self.failure: Failure | None = None
        self.closed = anyio.Event()
        # I/O
        self._stream: anyio.abc.ByteStream | None = None
        self._protocol: ClientProtocol | None = None
        self._send_lock = anyio.Lock()
        self._control_wake = anyio.Event()
        self._tg: anyio.abc.TaskGroup | None = None
        self._leftover: list[object] = []
        self._leftover_ns = 0
        self._fragments: list[bytes] | None = None
        self._closing = False

    # -- state --------------------------------------------------------------------------
    @property
    def streams(self) -> list[StreamId]:
        """Every stream this connection carries (URL and SUBSCRIBE)."""
        return self.in_url + self.to_subscribe

    @property
    def fully_subscribed(self) -> bool:
        """Every stream confirmed or refused, nothing waiting."""
        return self.channel.waiting == 0 and len(self.confirmed) + len(self.refused) >= len(
            set(self.streams))

    @property
    def ended(self) -> bool:
        return self.closed.is_set()

    # -- lifecycle ----------------------------------------------------------------------
    async def run(self, *, task_status: TaskStatus[Connection] = anyio.TASK_STATUS_IGNORED,
                  ) -> None:
        """Connects, handshakes, then receives until the connection ends.

        Raises:
            ConnectFailed: before ``task_status.started()``: the attempt failed.
        """
        try:
            await self._open()
        except ConnectFailed:
            self.ended_at = time.monotonic()
            self.closed.set()
            raise
        self.connected_at = self.last_rx = time.monotonic()
        self.confirmed.update(self.in_url)
        if self.to_subscribe:
            self.channel.subscribe(self.to_subscribe)
        else:
            self.subscribed_at = self.connected_at
        task_status.started(self)
        try:
            async with anyio.create_task_group() as tg:
                self._tg = tg
                tg.start_soon(self._control_sender)
                await self._receive_loop()
                tg.cancel_scope.cancel()
        finally:
            self._tg = None
            with anyio.CancelScope(shield=True):
                await self._shutdown_stream()
            if self.failure is None:
                self.failure = Failure(FailureKind.DROPPED, 1006, "connection ended")
            self.ended_at = time.monotonic()
            self.closed.set()
            self._on_change()

    async def _open(self) -> None:
        ep = self.endpoint
        try:
            with anyio.fail_after(self.options.open_timeout):
                if ep.secure:
                    context = self.options.ssl_context or ssl.create_default_context()
                    stream: anyio.abc.ByteStream = await anyio.connect_tcp(
                        ep.host, ep.effective_port, ssl_context=context, tls_hostname=ep.host,
                        tls_standard_compatible=False)
                else:
                    stream = await anyio.connect_tcp(ep.host, ep.effective_port)
                self._stream = stream
                await self._handshake(stream)
        except ConnectFailed:
            await self._abort_stream()
            raise
        except TimeoutError:
            await self._abort_stream()
            raise ConnectFailed(self._attempt_failure(
                FailureKind.TIMEOUT, detail=f"no handshake within {self.options.open_timeout} s"
            )) from None
        except ssl.SSLCertVerificationError as exc:
            await self._abort_stream()
            raise ConnectFailed(self._attempt_failure(FailureKind.TLS_VERIFY,
                                                      detail=exc.verify_message or str(exc))
                                ) from None
        except ssl.SSLError as exc:
            await self._abort_stream()
            raise ConnectFailed(self._attempt_failure(FailureKind.TLS, detail=str(exc))) from None
        except socket.gaierror as exc:
            raise ConnectFailed(self._attempt_failure(
                FailureKind.DNS, detail=f"{ep.host}: {exc.strerror}")) from None
        except (anyio.EndOfStream, anyio.BrokenResourceError) as exc:
            await self._abort_stream()
            raise ConnectFailed(self._attempt_failure(
                FailureKind.DROPPED, 1006, f"closed during the handshake ({exc!r})")) from None
        except OSError as exc:
            await self._abort_stream()
            cause = exc.__cause__ if isinstance(exc.__cause__, OSError) else exc
            kind = (FailureKind.REFUSED if isinstance(cause, ConnectionRefusedError)
                    else FailureKind.NETWORK)
            raise ConnectFailed(self._attempt_failure(kind, detail=str(cause))) from None

    def _attempt_failure(self, kind: FailureKind, code: int | None = None, detail: str = "",
                         retry_after: float | None = None) -> Failure:
        self.failure = Failure(kind, code, detail, retry_after, bool(self.in_url))
        return self.failure

    async def _handshake(self, stream: anyio.abc.ByteStream) -> None:
        protocol = ClientProtocol(parse_uri(self.url), max_size=self.options.max_frame)
        self._protocol = protocol
        request = protocol.connect()
        request.headers["User-Agent"] = f"binfeed/{__version__}"
        protocol.send_request(request)
        await self._send(protocol.data_to_send())
        while True:
            try:
                data = await stream.receive(RECV_SIZE)
            except anyio.EndOfStream:
                protocol.receive_eof()
                raise ConnectFailed(self._attempt_failure(
                    FailureKind.DROPPED, 1006, "closed during the handshake")) from None
            now_ns = time.time_ns()
            protocol.receive_data(data)
            events = protocol.events_received()
            for i, event in enumerate(events):
                if isinstance(event, Response):
                    self._check_response(protocol, event)
                    self._leftover = events[i + 1 :]
                    self._leftover_ns = now_ns
                    return
            if protocol.handshake_exc is not None:
                raise ConnectFailed(self._attempt_failure(
                    FailureKind.HANDSHAKE, detail=str(protocol.handshake_exc)))

    def _check_response(self, protocol: ClientProtocol, response: Response) -> None:
        exc = protocol.handshake_exc
        if exc is None:
            return
        if isinstance(exc, InvalidStatus):
            status = exc.response.status_code
            retry_after = _retry_after(exc.response.headers.get("Retry-After"))
            body = exc.response.body or b""
            text = body[:200].decode("utf-8", "replace").strip()
            raise ConnectFailed(self._attempt_failure(
                FailureKind.HTTP, status, f"HTTP {status} {text}".strip(), retry_after))
        raise ConnectFailed(self._attempt_failure(FailureKind.HANDSHAKE, detail=str(exc)))

    # -- receiving (the hot path) -----------------------------------------------------
    async def _receive_loop(self) -> None:
        stream = self._stream
        protocol = self._protocol
        assert stream is not None
        assert protocol is not None
        receive = stream.receive
        time_ns = time.time_ns
        monotonic = time.monotonic
        text = Opcode.TEXT
        counters = self.counters
        events: list = self._leftover
        now = self._leftover_ns
        self._leftover = []
        while True:
            if events:
                ingest = self._ingest
                counters.frames += len(events)
                for event in events:
                    if event.opcode is text and event.fin and self._fragments is None:
                        # websockets hands out bytearray; bytes() is the cheapest way into
                        # the C call (cffi takes bytes without a conversion).
                        frame = bytes(event.data)
                        kind = ingest(frame, now)
                        if not 0 < kind <= FRAME_STORED_MAX:
                            self._special(kind, frame, now)
                    else:
                        self._other(event, now)
                out = protocol.data_to_send()
                if out:
                    await self._send_locked(out)
                if protocol.close_rcvd is not None or protocol.state is State.CLOSED:
                    # A close frame arrived (and was answered): done. Closing the socket
                    # ourselves instead of waiting for the server's TCP close is harmless.
                    self._close_frame_received(protocol)
                    return
            try:
                data = await receive(RECV_SIZE)
            except anyio.EndOfStream:
                self._eof(protocol, "the server closed the TCP connection without a close "
                                    "frame")
                return
            except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError) as exc:
                self._eof(protocol, f"connection lost: {exc!r}")
                return
            now = time_ns()
            self.last_rx = monotonic()
            protocol.receive_data(data)
            events = protocol.events_received()
            if not events and protocol.parser_exc is not None:
                self.failure = Failure(FailureKind.PROTOCOL, protocol.close_code,
                                       str(protocol.parser_exc))
                await self._send_locked(protocol.data_to_send())
                return

    def _special(self, kind: int, frame: bytes, now: int) -> None:
        """Everything but a stored record (rare)."""
        c = self.counters
        if kind == FRAME_BUFFERED:
            if self.first_data_at is None:
                self.first_data_at = time.monotonic()
                self._on_change()
        elif kind == FRAME_DUPLICATE:
            c.duplicates += 1
        elif kind == FRAME_UNSTORED:
            c.unstored += 1
        elif kind == FRAME_CONTROL:
            c.control_replies += 1
            self._control_reply(frame)
        elif kind == FRAME_SERVER_SHUTDOWN:
            if not self.shutdown_announced:
                log.warning("connection %d: the server announced a shutdown (serverShutdown); "
                            "rotating to a new connection", self.conn_id)
                self.shutdown_announced = True
                self._on_change()
        elif kind < 0:
            c.malformed += 1
            if c.malformed <= 10 or c.malformed % 1000 == 0:
                preview = bytes(frame[:120]).decode("utf-8", "replace")
                log.warning("connection %d: malformed frame #%d skipped (status %d): %s",
                            self.conn_id, c.malformed, kind, preview)
        else:
            raise ProtocolError(f"the parser returned an unknown frame kind {kind}")

    def _other(self, frame: Frame, now: int) -> None:
        """Control frames and fragmented messages."""
        op = frame.opcode
        if op is Opcode.PING:
            # websockets' core already queued the pong; Binance counts it.
            self.budget.record(time.monotonic())
            self.counters.pongs += 1
        elif op in (Opcode.TEXT, Opcode.BINARY) and not frame.fin:
            self._fragments = [bytes(frame.data)]
        elif op is Opcode.CONT and self._fragments is not None:
            self._fragments.append(bytes(frame.data))
            if frame.fin:
                message = b"".join(self._fragments)
                self._fragments = None
                kind = self._ingest(message, now)
                if not 0 < kind <= FRAME_STORED_MAX:
                    self._special(kind, message, now)
        elif op is Opcode.BINARY:
            kind = self._ingest(bytes(frame.data), now)
            if not 0 < kind <= FRAME_STORED_MAX:
                self._special(kind, bytes(frame.data), now)

    def _buffer_frame(self, frame: bytes, now: int) -> int:
        """The ingest of a replacement connection before its cut-over: market data waits
        in a buffer; replies and events are handled at once."""
        if frame[:9] == _ENVELOPE:
            self._buffer.append((frame, now))
            return FRAME_BUFFERED
        return self._sink_ingest(frame, now)

    def go_live(self) -> int:
        """Feeds the buffered market data to the parser (which drops what the old
        connection already stored) and ingests directly from now on. Returns the number of
        frames fed."""
        buffered, self._buffer = self._buffer, []
        self._ingest = self._sink_ingest
        for frame, now in buffered:
            kind = self._sink_ingest(frame, now)
            if not 0 < kind <= FRAME_STORED_MAX:
                self._special(kind, frame, now)
        return len(buffered)

    def detach(self) -> None:
        """Stops ingesting (a connection being replaced): what it still receives is
        dropped; the replacement carries the same streams."""
        self._ingest = _drop

    # -- control messages ------------------------------------------------------------
    def _control_reply(self, frame: bytes) -> None:
        reply = control.parse_reply(bytes(frame))
        if reply is None:
            log.warning("connection %d: unrecognised control message: %r", self.conn_id,
                        bytes(frame[:200]))
            return
        for event in self.channel.handle_reply(reply):
            if isinstance(event, control.Subscribed):
                self.confirmed.update(event.streams)
            elif isinstance(event, control.Refused):
                self.refused.append(event)
            elif isinstance(event, control.Split):
                log.info("connection %d: SUBSCRIBE of %d streams refused (%s %s); retrying "
                         "in halves to find the refused ones", self.conn_id,
                         len(event.streams), event.code, event.msg)
                self._control_wake.set()
            elif isinstance(event, control.Unmatched):
                log.warning("connection %d: reply matches no request: %r", self.conn_id,
                            event.reply)
            self.control_events.append(event)
        if self.subscribed_at is None and self.fully_subscribed:
            self.subscribed_at = time.monotonic()
        self._on_change()

    def request(self, method: str, streams: list[StreamId]) -> None:
        """Queues a SUBSCRIBE / UNSUBSCRIBE (sent paced)."""
        if method == "SUBSCRIBE":
            self.channel.subscribe(streams)
            self.to_subscribe.extend(s for s in streams if s not in self.to_subscribe)
        else:
            self.channel.unsubscribe(streams)
        self._control_wake.set()

    async def _control_sender(self) -> None:
        """Sends queued control messages, at most 4 per rolling window (pongs included)."""
        protocol = self._protocol
        assert protocol is not None
        while True:
            while not self.channel.has_outgoing:
                self._control_wake = anyio.Event()
                if self.channel.has_outgoing:
                    break
                await self._control_wake.wait()
            delay = self.budget.delay(time.monotonic())
            if delay > 0:
                await anyio.sleep(delay)
                continue
            now = time.monotonic()
            req = self.channel.next_request(now)
            if req is None:
                continue
            self.budget.record(now)
            log.debug("connection %d: -> %s", self.conn_id, req.encode())
            async with self._send_lock:
                if self._closing or protocol.state is not State.OPEN:
                    return
                protocol.send_text(req.encode().encode())
                await self._send(protocol.data_to_send())

    def overdue_requests(self, now: float) -> list[control.ControlRequest]:
        """Sent control messages without a reply for reply_timeout (they are dropped)."""
        return self.channel.expired(now)

    def next_reply_deadline(self) -> float | None:
        return self.channel.next_deadline()

    # -- sending and closing ---------------------------------------------------------
    async def _send(self, chunks: list[bytes]) -> None:
        stream = self._stream
        assert stream is not None
        for chunk in chunks:
            if chunk:
                await stream.send(chunk)
            else:  # websockets' SEND_EOF: half-close our side
                with contextlib.suppress(AttributeError, NotImplementedError, OSError,
                                         anyio.ClosedResourceError, anyio.BrokenResourceError):
                    await stream.send_eof()  # type: ignore[attr-defined]

    async def _send_locked(self, chunks: list[bytes]) -> None:
        try:
            async with self._send_lock:
                await self._send(chunks)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError) as exc:
            log.debug("connection %d: send failed: %r", self.conn_id, exc)

    def _close_frame_received(self, protocol: ClientProtocol) -> None:
        rcvd = protocol.close_rcvd
        if self.failure is None:
            if rcvd is not None:
                self.failure = Failure(FailureKind.CLOSED, rcvd.code, rcvd.reason)
            else:
                self.failure = Failure(FailureKind.DROPPED, 1006, "closed")

    def _eof(self, protocol: ClientProtocol, detail: str) -> None:
        protocol.receive_eof()
        if self.failure is not None:
            return
        rcvd = protocol.close_rcvd
        if rcvd is not None:
            self.failure = Failure(FailureKind.CLOSED, rcvd.code, rcvd.reason)
        else:
            self.failure = Failure(FailureKind.DROPPED, 1006, detail)

    def abort(self, failure: Failure) -> None:
        """Ends the connection now (no closing handshake): stalled, or not needed."""
        if self.failure is None:
            self.failure = failure
        self._closing = True
        if self._tg is not None:
            self._tg.cancel_scope.cancel()

    async def aclose(self, failure: Failure, code: int = 1000, reason: str = "") -> None:
        """Closes with a closing handshake (bounded by close_timeout), recording ``failure``
        as the reason it ended (e.g. a rotation)."""
        if self.failure is None:
            self.failure = failure
        protocol = self._protocol
        if not self._closing and protocol is not None and protocol.state is State.OPEN:
            self._closing = True
            try:
                async with self._send_lock:
                    protocol.send_close(code, reason)
                    await self._send(protocol.data_to_send())
            except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
                pass
        self._closing = True
        with anyio.move_on_after(self.options.close_timeout):
            await self.closed.wait()
        if self._tg is not None:
            self._tg.cancel_scope.cancel()
        await self.closed.wait()

    async def _shutdown_stream(self) -> None:
        """Closing handshake when still open (bounded), then closes the socket."""
        protocol, stream = self._protocol, self._stream
        if stream is None:
            return
        if protocol is not None and protocol.state is State.OPEN and self.failure is None:
            with anyio.move_on_after(self.options.close_timeout):
                try:
                    async with self._send_lock:
                        protocol.send_close(1000, "")
                        await self._send(protocol.data_to_send())
                except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
                    pass
        await self._abort_stream()

    async def _abort_stream(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            with anyio.CancelScope(shield=True):
                await anyio.aclose_forcefully(stream)


def _drop(frame: bytes, now: int) -> int:
    return FRAME_DUPLICATE


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if seconds >= 0 else None
