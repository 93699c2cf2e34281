"""A Binance-compatible market-stream WebSocket server for loopback (tests, demos,
replays): the listener, and what its connections share.

It speaks what :mod:`binfeed.binance.exchange` models (paths, SUBSCRIBE & co with Binance's
replies and errors, 1024 streams per connection, 5 incoming messages per second or close
1008, pings every ``ping_interval`` seconds) and serves frames from a pluggable source
(:mod:`binfeed.binance.sources`: real captures; :mod:`binfeed.binance.queue_source`: a
recorded queue). The playback clock is :mod:`binfeed.binance.playback`, fault injection
:mod:`binfeed.binance.faults`; this module listens and
:mod:`binfeed.binance.server_connection` moves their decisions over each client's socket
(the playback's frames through :mod:`binfeed.binance.server_outbox`).

Clock (``ServerConfig.clock``):

- ``"shared"`` (default, like the exchange): one playback for the whole server. It starts
  when the first connection subscribes to something; a connection joining later receives
  the frames from that moment on, so two connections subscribed to the same stream receive
  the same frames at the same time (what rotation with overlap relies on). At ``speed=None``
  ("max") the playback goes as fast as the slowest subscribed client reads, and waits while
  no connection has any subscription (so a reconnecting client misses only what was in
  flight on the connection it lost).
- ``"per_connection"``: every connection starts its own playback from the beginning.

Pace (``ServerConfig.speed``): 1.0 is the recorded pace (frame times from the source),
N is N times faster, None is as fast as the client reads (see the playback module).

At the end of the data connections stay open and idle, answering pings, so a recorder
does not reconnect in a loop.

Fault injection (``ServerConfig.faults`` or :meth:`BinanceServer.inject`): abort, reset,
close, stall, shutdown, per connection, after a number of frames sent on it or seconds
after it opened; ``ServerConfig.injections``: malformed frames and frames of unsubscribed
streams inserted every N frames; ``ServerConfig.ping_interval``: pings as often as wanted
(a flood). See the faults module. ``ServerConfig.refuse`` names symbols whose streams are
refused (an error reply to SUBSCRIBE, HTTP 400 when named in the URL). Two more
misbehaviours test what a client stores: ``ServerConfig.unsolicited`` streams are sent to
every connection, subscribed or not; with ``ServerConfig.reply_delay`` a SUBSCRIBE's
streams (refused ones too) flow that long before the reply.

What the server did is kept per connection in :class:`ConnectionStats`
(:mod:`binfeed.binance.server_report`: frames sent as runs of the source, client messages
with their times, faults), logged in one line when the connection ends, and written as
JSON by :meth:`BinanceServer.write_report`.

Network: binds 127.0.0.1 by default. Plain ``ws://``, or ``wss://`` with
``ServerConfig.ssl_context``.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import AsyncIterator, Callable

import anyio
import anyio.abc
from anyio.abc import TaskStatus
from anyio.streams.tls import TLSListener

from binfeed.binance.faults import Fault, FaultAction
from binfeed.binance.playback import Playback, encode_text_frame
from binfeed.binance.server_config import ServerConfig
from binfeed.binance.server_connection import ServerConnection
from binfeed.binance.server_report import ConnectionStats, write_report
from binfeed.binance.sources import Source
from binfeed.symbols import stream_symbol

log = logging.getLogger("binfeed.server")


class BinanceServer:
    """The server: run :meth:`serve` in a task group (``await tg.start(server.serve)``) or
    use :func:`open_server`.

    Args:
        source: a callable returning the frames to serve, in time order.
        config: behaviour; defaults are Binance's (recorded pace, pings every 20 s).
    """

    def __init__(self, source: Source, config: ServerConfig | None = None) -> None:
        self.source = source
        self.config = config or ServerConfig()
        self.connections: list[ConnectionStats] = []
        self.rejections: list[tuple[str, int]] = []
        self.live: dict[int, ServerConnection] = {}
        self.port = 0
        self._numbers = 0
        #: bumped whenever a connection opens or closes (report writers watch it)
        self.version = 0
        self.shared = Playback(source, self.config.speed)
        self._task_group: anyio.abc.TaskGroup | None = None
        refused = {stream_symbol(s) for s in self.config.refuse}
        self.refuses: Callable[[str], bool] = lambda name: name.partition("@")[0] in refused

    @property
    def task_group(self) -> anyio.abc.TaskGroup:
        if self._task_group is None:
            raise RuntimeError("the server is not running")
        return self._task_group

    @property
    def url(self) -> str:
        """The base URL to give a recorder (``--url``)."""
        scheme = "ws" if self.config.ssl_context is None else "wss"
        return f"{scheme}://{self.config.host}:{self.port}"

    @property
    def finished(self) -> anyio.Event:
        """Set when the shared playback has served its last frame."""
        return self.shared.finished

    def next_number(self) -> int:
        self._numbers += 1
        return self._numbers

    def changed(self) -> None:
        self.version += 1

    def report_header(self) -> dict[str, object]:
        """The server-wide part of the report: where, how fast, the shared playback."""
        shared = self.shared
        return {"url": self.url, "speed": self.config.speed, "clock": self.config.clock,
                "ping_interval": self.config.ping_interval,
                "playback": None if self.config.clock != "shared" else {
                    "started": shared.started, "finished": shared.finished.is_set(),
                    "frames_played": shared.frames_played, "played": dict(shared.played)}}

    def write_report(self, path: str | os.PathLike[str],
                     header: dict[str, object] | None = None) -> None:
        """Writes the JSON report (:mod:`binfeed.binance.server_report`) to ``path``,
        atomically; ``header`` adds fields (e.g. the faults as the user gave them).

        Raises:
            OSError: the file cannot be written.
        """
        write_report(path, {**self.report_header(), **(header or {})}, self.connections)

    def playback_for(self, conn: ServerConnection) -> Playback:
        if self.config.clock == "per_connection":
            return Playback(self.source, self.config.speed)
        return self.shared

    async def inject(self, fault: Fault) -> None:
        """Injects a fault now on connection ``fault.connection`` (0: every live one)."""
        targets = [c for n, c in list(self.live.items()) if fault.connection in (0, n)]
        for conn in targets:
            await conn.apply(fault)

    async def serve(self, *, task_status: TaskStatus[BinanceServer] = anyio.TASK_STATUS_IGNORED,
                    ) -> None:
        """Listens and serves until cancelled; ``task_status.started(self)`` once listening."""
        tcp = await anyio.create_tcp_listener(local_host=self.config.host,
                                              local_port=self.config.port)
        self.port = tcp.extra(anyio.abc.SocketAttribute.local_port)
        listener: anyio.abc.Listener[anyio.abc.ByteStream] = tcp  # type: ignore[assignment]
        if self.config.ssl_context is not None:
            listener = TLSListener(tcp, self.config.ssl_context, standard_compatible=False)
        log.info("serving on %s", self.url)
        try:
            async with anyio.create_task_group() as tg:
                self._task_group = tg
                if self.config.clock == "shared":
                    tg.start_soon(self.shared.run)
                tg.start_soon(listener.serve, self._handle, tg)
                task_status.started(self)
        finally:
            self._task_group = None
            with anyio.CancelScope(shield=True):
                await listener.aclose()

    async def _handle(self, stream: anyio.abc.ByteStream) -> None:
        try:
            await ServerConnection(self, stream).run()
        except Exception:  # one client's failure never stops the server
            log.exception("connection handler failed")


@contextlib.asynccontextmanager
async def open_server(source: Source, config: ServerConfig | None = None,
                      **options: object) -> AsyncIterator[BinanceServer]:
    """Runs a server for the duration of the block.

    Example::

        async with open_server(capture_source([path]), speed=None) as server:
            ... connect to server.url ...
    """
    if options:
        config = ServerConfig(**options) if config is None else config  # type: ignore[arg-type]
    server = BinanceServer(source, config)
    async with anyio.create_task_group() as tg:
        await tg.start(server.serve)
        try:
            yield server
        finally:
            tg.cancel_scope.cancel()


__all__ = [
    "BinanceServer",
    "ConnectionStats",
    "Fault",
    "FaultAction",
    "ServerConfig",
    "encode_text_frame",
    "open_server",
]
