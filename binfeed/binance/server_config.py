"""How the loopback server behaves (:class:`ServerConfig`), with Binance's behaviour as
the defaults; light to import, so that the command line can show the same defaults."""

from __future__ import annotations

import dataclasses
import ssl
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from binfeed.binance import exchange
from binfeed.binance.faults import Fault, FaultOption, Injection, PingEvery

__all__ = ["ServerConfig"]


@dataclass
class ServerConfig:
    """How the server behaves (defaults: Binance's).

    Attributes:
        host, port: where to listen (port 0: any free port).
        speed: the playback pace (:mod:`binfeed.binance.playback`; None: max).
        clock: one playback for all connections, or one per connection.
        ping_interval, ping_timeout: seconds between pings (None: none; 0.02: a flood of
            50 per second), and without a pong before closing.
        incoming_limit: incoming messages per second before close 1008.
        refuse: symbols whose streams are refused.
        bare_errors: error replies without the request id.
        faults: one-shot faults to inject (:mod:`binfeed.binance.faults`).
        injections: malformed and unsubscribed frames to insert every N frames.
        unsolicited: stream names sent to every connection whether it subscribed to them
            or not (a client must not store them).
        reply_delay: seconds each SUBSCRIBE reply is held back while the streams it names
            are already sent, refused ones included (a client must hold them until the
            reply, and store them only if it accepts).
        open_timeout, close_timeout: seconds for the handshake and the closing handshake.
        max_message: largest incoming message, bytes.
        ssl_context: serve ``wss://`` (tests of TLS verification).
    """

    host: str = "127.0.0.1"
    port: int = 0
    speed: float | None = 1.0
    clock: Literal["shared", "per_connection"] = "shared"
    ping_interval: float | None = 20.0
    ping_timeout: float = 60.0
    incoming_limit: int = exchange.INCOMING_LIMIT
    refuse: frozenset[str] = frozenset()
    bare_errors: bool = False
    faults: Sequence[Fault] = ()
    injections: Sequence[Injection] = ()
    unsolicited: frozenset[str] = frozenset()
    reply_delay: float = 0.0
    open_timeout: float = 10.0
    close_timeout: float = 5.0
    max_message: int = 1 << 16
    ssl_context: ssl.SSLContext | None = None  # serve wss:// (tests of TLS verification)

    def with_faults(self, options: Iterable[FaultOption]) -> ServerConfig:
        """This config plus faults as ``--fault`` gives them: one-shot faults, injections,
        and a ping interval (the last one given wins)."""
        faults, injections = list(self.faults), list(self.injections)
        ping_interval = self.ping_interval
        for option in options:
            if isinstance(option, Fault):
                faults.append(option)
            elif isinstance(option, Injection):
                injections.append(option)
            else:
                assert isinstance(option, PingEvery)
                ping_interval = option.interval
        return dataclasses.replace(self, faults=tuple(faults), injections=tuple(injections),
                                   ping_interval=ping_interval)
