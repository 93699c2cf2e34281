"""One connection's glue: frames between the transport and its state machine, nothing else.

The machine (:class:`~binfeed.binance.machine.ConnectionMachine`) holds every decision and
appends market data through the C parser itself; this module only runs it:

- the receive task: ``transport.receive()`` (one socket read: one ``time.time_ns()``, the
  frames websockets parsed from it), then ``machine.receive_frames()``, which makes one C
  call per market-data frame. Nothing on that path waits on the disk or on a reader: the
  queue is a memory map (segments are prefaulted ahead by the supervisor). Only when the
  machine says so (a ping, a reply, a close...) does the task send, wake the clock and tell
  the supervisor;
- the clock task: sleeps until the machine's next deadline (or a kick), then
  ``machine.tick()`` and sends what it asks for. When the machine suspects a stall, the
  clock asks the kernel whether the socket holds unread bytes (a zero-timeout peek) and
  tells the machine, which decides.

Structured concurrency: :meth:`Connection.run` is started with ``await tg.start(conn.run)``;
it calls ``task_status.started()`` after the handshake, so a failed attempt raises
:class:`~binfeed.binance.transport.ConnectFailed` to the caller. It returns once the machine
is done with the transport, the transport ended, or it was cancelled; then
:attr:`Connection.closed` is set. Exceptions from the queue (disk full, I/O errors) are
not caught here: they end the recorder.
"""

from __future__ import annotations

import math
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass

import anyio
import anyio.abc
from anyio.abc import TaskStatus

from binfeed.binance.endpoint import Endpoint
from binfeed.binance.machine import ConnectionMachine
from binfeed.binance.retry import Failure
from binfeed.binance.timeunit import TimeUnit
from binfeed.binance.transport import (
    ConnectFailed,
    TransportClosed,
    WebSocketTransport,
    open_websocket,
)


@dataclass(frozen=True)
class TransportOptions:
    """How to reach the endpoint (the machine's own settings are in the machine)."""

    open_timeout: float
    max_frame: int
    ssl_context: ssl.SSLContext | None = None
    time_unit: TimeUnit = TimeUnit.MS  # asked for in the URL (timeUnit=MICROSECOND)


class Connection:
    """Runs ``machine`` over a WebSocket to ``endpoint``.

    Args:
        machine: the connection's state machine (made by the shard's plan).
        endpoint: where to connect (the URL names ``machine.carried.in_url``).
        options: how to connect.
        on_change: called (synchronously) when the machine has news for the supervisor.
    """

    def __init__(self, machine: ConnectionMachine, endpoint: Endpoint,
                 options: TransportOptions, on_change: Callable[[], None]) -> None:
        self.machine = machine
        self.endpoint = endpoint
        self.options = options
        self._on_change = on_change
        self.closed = anyio.Event()
        self._wake = anyio.Event()
        self._transport: WebSocketTransport | None = None
        self._scope: anyio.CancelScope | None = None

    def kick(self) -> None:
        """The machine was told something from outside (close, cut-over): act on it."""
        self._wake.set()

    async def run(self, *, task_status: TaskStatus[Connection] = anyio.TASK_STATUS_IGNORED,
                  ) -> None:
        """Connects, handshakes, then runs the machine until the connection ends.

        Raises:
            ConnectFailed: before ``task_status.started()``: the attempt failed.
        """
        machine = self.machine
        in_url = machine.carried.in_url
        try:
            transport = await open_websocket(
                self.endpoint, self.endpoint.combined_url(in_url, self.options.time_unit),
                open_timeout=self.options.open_timeout, max_frame=self.options.max_frame,
                ssl_context=self.options.ssl_context, streams_in_url=bool(in_url))
        except ConnectFailed as exc:
            machine.connect_failed(exc.failure, time.monotonic())
            self.closed.set()
            raise
        self._transport = transport
        machine.opened(time.monotonic())
        task_status.started(self)
        lost: Failure | None = None
        try:
            async with anyio.create_task_group() as tg:
                self._scope = tg.cancel_scope
                tg.start_soon(self._clock)
                await self._attend()
                lost = await self._receive(transport)
                tg.cancel_scope.cancel()
        finally:
            with anyio.CancelScope(shield=True):
                machine.cancel()
                with anyio.move_on_after(machine.settings.close_timeout):
                    await transport.send(machine.frames_to_send())
                await transport.aclose()
            machine.connection_lost(lost, time.monotonic())
            self.closed.set()
            self._on_change()

    async def _receive(self, transport: WebSocketTransport) -> Failure:
        """The hot path; returns how the transport ended."""
        receive = transport.receive
        feed = self.machine.receive_frames
        while True:
            try:
                frames, recv_ns, now = await receive()
            except TransportClosed as exc:
                return exc.failure
            if feed(frames, recv_ns, now):
                await self._attend()
                self._wake.set()  # the machine's deadline may have moved

    async def _clock(self) -> None:
        machine = self.machine
        transport = self._transport
        assert transport is not None
        while True:
            self._wake = anyio.Event()
            now = time.monotonic()
            deadline = machine.next_deadline(now)
            delay = math.inf if deadline is None else max(0.0, deadline - now)
            with anyio.move_on_after(delay):
                await self._wake.wait()
            machine.tick(time.monotonic())
            if machine.stall_suspected:
                machine.socket_checked(transport.has_unread(), time.monotonic())
            await self._attend()

    async def _attend(self) -> None:
        """Does what the machine asks after an input: send, close, tell the supervisor."""
        machine = self.machine
        transport = self._transport
        assert transport is not None
        frames = machine.frames_to_send()
        await transport.send(frames)
        if machine.has_events:
            self._on_change()
        if machine.transport_done and self._scope is not None:
            self._scope.cancel()
