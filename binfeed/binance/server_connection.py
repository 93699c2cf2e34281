"""One accepted client of the loopback Binance server: its WebSocket session, from the
handshake to the close.

:class:`~binfeed.binance.server.BinanceServer` listens and hands each accepted stream to a
:class:`ServerConnection`, which speaks :mod:`binfeed.binance.exchange`'s protocol over it:
the handshake, the client's messages read (control messages answered, subscriptions passed
to the playback, the incoming-message limit), pings sent, the closing handshake and the
faults (:mod:`binfeed.binance.faults`) that end it otherwise, what happened kept in its
:class:`~binfeed.binance.server_report.ConnectionStats`. The frames from the playback
(:mod:`binfeed.binance.playback`) go through its outbox and writer
(:mod:`binfeed.binance.server_outbox`).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import struct
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import anyio
import anyio.abc
from websockets.frames import Opcode
from websockets.http11 import Request
from websockets.protocol import State
from websockets.server import ServerProtocol

from binfeed.binance import exchange
from binfeed.binance.faults import Fault, FaultSchedule, InjectionSchedule, apply_fault
from binfeed.binance.playback import Playback
from binfeed.binance.server_outbox import FrameWriter, Outbox
from binfeed.binance.server_report import ConnectionStats

if TYPE_CHECKING:
    from binfeed.binance.server import BinanceServer

log = logging.getLogger("binfeed.server")

#: How the report names what a client sent.
_KINDS = {Opcode.TEXT: "text", Opcode.BINARY: "binary", Opcode.PING: "ping",
          Opcode.PONG: "pong", Opcode.CLOSE: "close"}


class ServerConnection:
    """One accepted client: handshake, reader, pinger, faults; the playback's frames go
    through its :attr:`outbox` and a :class:`~binfeed.binance.server_outbox.FrameWriter`."""

    def __init__(self, server: BinanceServer, stream: anyio.abc.ByteStream) -> None:
        self.server = server
        self.config = server.config
        self.stream = stream
        self.protocol = ServerProtocol(max_size=self.config.max_message)
        self.lock = anyio.Lock()
        self.outbox = Outbox()
        self.stats: ConnectionStats | None = None
        self.session: exchange.Session | None = None
        self.playback: Playback | None = None
        self.stalled = False
        self.closing = False
        self.faults = FaultSchedule((), 0)
        self.budget = exchange.IncomingBudget(self.config.incoming_limit)
        self._tg: anyio.abc.TaskGroup | None = None
        self._unanswered_since: float | None = None  # oldest ping without a pong since

    # -- lifecycle --------------------------------------------------------------------
    async def run(self) -> None:
        try:
            with anyio.fail_after(self.config.open_timeout):
                request = await self._read_request()
            if request is None:
                return
            target = exchange.route(request.path, self.server.refuses)
            if isinstance(target, exchange.Rejection):
                self.server.rejections.append((request.path, target.status))
                response = self.protocol.reject(target.status, target.text)
                self.protocol.send_response(response)
                await self._flush()
                return
            response = self.protocol.accept(request)
            self.protocol.send_response(response)
            await self._flush()
            if self.protocol.handshake_exc is not None:
                return
            await self._serve(request, target)
        except TimeoutError:
            log.info("handshake timed out")
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError) as exc:
            log.debug("connection ended: %r", exc)
        finally:
            with anyio.CancelScope(shield=True):
                await self.stream.aclose()
            if self.stats is not None:
                self.stats.closed_at = time.monotonic()
                self.stats.subscriptions = list(self.session.subscriptions) if self.session else []
                if not self.stats.ended:
                    self.stats.ended = "the server stopped"
                log.info("%s", self.stats.summary())
                self.server.changed()

    async def _read_request(self) -> Request | None:
        while True:
            try:
                data = await self.stream.receive()
            except (anyio.EndOfStream, anyio.BrokenResourceError):
                return None
            self.protocol.receive_data(data)
            for event in self.protocol.events_received():
                if isinstance(event, Request):
                    return event
            if self.protocol.handshake_exc is not None:
                await self._flush()
                return None

    async def _serve(self, request: Request, route: exchange.Route) -> None:
        number = self.server.next_number()
        self.stats = ConnectionStats(number, request.path, time.monotonic(), route.combined)
        self.server.connections.append(self.stats)
        self.session = exchange.Session(route, self.server.refuses, self.config.bare_errors)
        self.faults = FaultSchedule(self.config.faults, number)
        injections = InjectionSchedule(self.config.injections, number)
        writer = FrameWriter(self.outbox, self.stats, self.session, self.faults, injections,
                             self._sending, self._check_faults)
        self.server.live[number] = self
        self.server.changed()
        log.info("connection %d: %s", number, request.path)
        self.playback = self.server.playback_for(self)
        if injections.wants_unsubscribed:
            self.playback.want_all(self.outbox)
        try:
            async with anyio.create_task_group() as tg:
                self._tg = tg
                if self.playback is not self.server.shared:
                    tg.start_soon(self.playback.run)
                tg.start_soon(writer.run)
                if self.config.ping_interval:
                    tg.start_soon(self._pinger)
                if route.streams:
                    self.playback.subscribe(self.outbox, route.streams)
                for fault in self.faults.timed:
                    tg.start_soon(self._timed_fault, fault)
                if self.config.unsolicited:
                    self.playback.subscribe(self.outbox, self.config.unsolicited)
                await self._check_faults()
                await self._reader()
                tg.cancel_scope.cancel()
        finally:
            self.server.live.pop(number, None)
            self.playback.leave(self.outbox)
            self.closing = True
            self.outbox.stop()

    # -- reading ----------------------------------------------------------------------
    async def _reader(self) -> None:
        assert self.stats is not None
        assert self.session is not None
        protocol = self.protocol
        while True:
            try:
                data = await self.stream.receive()
            except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError):
                if not self.stats.ended:
                    self.stats.ended = "the client went away without a close frame"
                protocol.receive_eof()
                return
            protocol.receive_data(data)
            now = time.monotonic()
            for event in protocol.events_received():
                opcode = event.opcode
                self.stats.client_message(now, _KINDS.get(opcode, "other"))
                if opcode is Opcode.CLOSE:
                    code = protocol.close_rcvd.code if protocol.close_rcvd else 1005
                    self.stats.close_code_received = code
                    if not self.stats.ended:
                        self.stats.ended = f"closed by the client with {code}"
                if opcode in (Opcode.TEXT, Opcode.BINARY, Opcode.PING, Opcode.PONG):
                    over = self.budget.hit(now)
                    self.stats.incoming_messages = self.budget.total
                    self.stats.max_incoming_per_window = self.budget.max_in_window
                    if over and not self.closing:
                        self.stats.closed_by_rate_limit = True
                        log.warning("connection %d: over %d incoming messages per second, "
                                    "closing with 1008", self.stats.number,
                                    self.config.incoming_limit)
                        await self.close(*exchange.CLOSE_TOO_MANY_REQUESTS)
                        continue
                if opcode is Opcode.TEXT and not self.closing:
                    self.stats.control_messages += 1
                    await self._control(bytes(event.data).decode("utf-8", "replace"))
                elif opcode is Opcode.PONG:
                    self.stats.pongs_received += 1
                    self._unanswered_since = None
            await self._flush()
            if protocol.state is State.CLOSED or protocol.eof_sent:
                return

    async def _control(self, text: str) -> None:
        assert self.session is not None
        assert self.playback is not None
        reply, new, gone = self.session.handle(text)
        if self.stalled:
            return
        if gone:
            self.playback.unsubscribe(self.outbox, gone)
        if self.config.reply_delay and self._tg is not None:
            early = list(self.session.requested)
            self.playback.subscribe(self.outbox, early)
            self._tg.start_soon(self._reply_later, reply, new, early)
            return
        await self._answer(reply, new)

    async def _reply_later(self, reply: str, new: list[str], early: list[str]) -> None:
        """The reply after ``reply_delay``; streams sent early that it did not
        subscribe stop."""
        await anyio.sleep(self.config.reply_delay)
        assert self.playback is not None
        assert self.session is not None
        self.playback.unsubscribe(self.outbox, [
            n for n in early
            if n not in self.session.subscriptions and n not in self.config.unsolicited])
        if self.stalled or self.closing:
            return
        await self._answer(reply, new)

    async def _answer(self, reply: str, new: list[str]) -> None:
        """Sends a control reply, then starts the streams it subscribed."""
        assert self.playback is not None
        await self._send_text(reply)
        if new:
            self.playback.subscribe(self.outbox, new)

    # -- writing ----------------------------------------------------------------------
    async def _send_text(self, text: str) -> None:
        """Sends one text message (a reply, an event) now."""
        async with self.lock:
            self.protocol.send_text(text.encode())
            await self._write(self.protocol.data_to_send())

    async def _flush(self) -> None:
        """Sends what the protocol wants to send (pongs, close frames, handshake)."""
        if not self.protocol.writes:
            return
        async with self.lock:
            await self._write(self.protocol.data_to_send())

    @contextlib.asynccontextmanager
    async def _sending(self) -> AsyncIterator[anyio.abc.ByteStream | None]:
        """The writer's way to the socket (:data:`~binfeed.binance.server_outbox.Sending`):
        the lock held, the stream unless the connection stalled or is closing."""
        async with self.lock:
            yield None if self.stalled or self.closing else self.stream

    async def _write(self, chunks: list[bytes]) -> None:
        """Writes protocol output; call with the lock held. b'' means: close the TCP side."""
        if self.stalled:
            return
        eof = False
        for chunk in chunks:
            if chunk:
                await self.stream.send(chunk)
            else:
                eof = True
        if eof:
            await self.stream.aclose()

    async def _check_faults(self) -> None:
        assert self.stats is not None
        while (fault := self.faults.due(self.stats.frames_sent)) is not None:
            await self.apply(fault)

    async def _timed_fault(self, fault: Fault) -> None:
        assert self.stats is not None
        await anyio.sleep(self.stats.opened_at + (fault.after_seconds or 0.0) - time.monotonic())
        if not self.closing:
            await self.apply(fault)

    async def _pinger(self) -> None:
        assert self.stats is not None
        assert self.config.ping_interval
        counter = 0
        while True:
            await anyio.sleep(self.config.ping_interval)
            if self.stalled or self.closing:
                continue
            now = time.monotonic()
            since = self._unanswered_since
            if since is not None and now - since >= self.config.ping_timeout:
                log.info("connection %d: no pong for %.0f s, closing", self.stats.number,
                         now - since)
                await self.close(1011, "Pong timeout")
                return
            counter += 1
            async with self.lock:
                if self.closing:
                    continue
                self.protocol.send_ping(struct.pack("!Q", counter))
                await self._write(self.protocol.data_to_send())
            if self._unanswered_since is None:
                self._unanswered_since = now
            self.stats.pings_sent += 1

    # -- faults and closing -----------------------------------------------------------
    async def close(self, code: int, reason: str = "") -> None:
        """Starts the closing handshake; the reader ends when the client answers."""
        if self.closing:
            return
        self._stop_receiving_frames()
        assert self.stats is not None
        self.stats.close_code_sent = code
        if not self.stats.ended:
            self.stats.ended = f"closed by the server with {code}"
        async with self.lock:
            self.protocol.send_close(code, reason)
            await self._write(self.protocol.data_to_send())
        # A client that never answers is cut off after close_timeout.
        if self._tg is not None:
            self._tg.start_soon(self._close_deadline)

    async def _close_deadline(self) -> None:
        await anyio.sleep(self.config.close_timeout)
        self._cancel()

    def _cancel(self) -> None:
        if self._tg is not None:
            self._tg.cancel_scope.cancel()

    async def apply(self, fault: Fault) -> None:
        """Injects a fault now."""
        assert self.stats is not None
        self.stats.fault(fault, time.monotonic())
        log.info("connection %d: injecting %s after %d frames", self.stats.number, fault.name,
                 self.stats.frames_sent)
        await apply_fault(self, fault)

    # faults.FaultTarget
    async def abort(self, *, reset: bool) -> None:
        self._stop_receiving_frames()
        assert self.stats is not None
        if not self.stats.ended:
            self.stats.ended = ("reset by the server (TCP RST)" if reset
                                else "dropped by the server without a close frame")
        if reset:
            sock = self.stream.extra(anyio.abc.SocketAttribute.raw_socket)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        await self.stream.aclose()
        self._cancel()

    def stall(self) -> None:
        self.stalled = True
        self._stop_receiving_frames()

    async def announce_shutdown(self, grace: float) -> None:
        combined = self.session is None or self.session.combined
        event = exchange.server_shutdown_event(time.time_ns() // 1_000_000, combined)
        await self._send_text(event)
        if self._tg is not None:
            self._tg.start_soon(self._close_later, grace)

    def _stop_receiving_frames(self) -> None:
        """Leaves the playback (which, at max speed, waits for a subscriber instead of
        playing to a connection that will not deliver) and drops what was queued."""
        if not self.stalled:
            self.closing = True
        if self.playback is not None:
            self.playback.leave(self.outbox)
        self.outbox.stop()
        self.outbox.clear()

    async def _close_later(self, grace: float) -> None:
        await anyio.sleep(grace)
        await self.close(1001, "Server shutdown")
