"""The loopback server's playback: a source's frames on one clock, to the connections
subscribed to each stream.

Pace (``speed``): 1.0 is the recorded pace (frame times from the source), N is N times
faster, None is as fast as the slowest subscribed client reads (the playback then waits
while no connection has any subscription, so a reconnecting client misses only what was
in flight on the connection it lost). Playback starts when the first subscription comes.
Each frame's wire bytes are made once per form (combined or raw, milliseconds or
microseconds: :class:`Encoded`), for every connection that wants that form.

The server (:mod:`binfeed.binance.server`) runs one playback for all connections (the
shared clock, like the exchange) or one per connection; each connection's outbox
(:class:`~binfeed.binance.server_outbox.Outbox`) is a :class:`Subscriber` of this module.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Protocol

import anyio
import anyio.lowlevel

from binfeed.binance.sources import Source, SourceFrame
from binfeed.binance.timeunit import TimeUnit, payload_in_unit

__all__ = ["Encoded", "Playback", "Subscriber", "encode_text_frame"]

log = logging.getLogger("binfeed.server")

#: Frames played between two checkpoints when no sleep or wait came in between.
_CHECKPOINT_EVERY = 512


def encode_text_frame(payload: bytes) -> bytes:
    """One unmasked, unfragmented WebSocket text frame (server to client, no extension)."""
    n = len(payload)
    if n < 126:
        return bytes((0x81, n)) + payload
    if n < 65536:
        return b"\x81\x7e" + n.to_bytes(2, "big") + payload
    return b"\x81\x7f" + n.to_bytes(8, "big") + payload


class Encoded:
    """A source frame's wire bytes, made once per form for all connections.

    Attributes:
        frame, name: the source frame and its stream name.
        index: its position in the source (0 = the first frame the source yields).
        ordinal: its position among the frames of its stream in the source.
    """

    __slots__ = ("_wire", "frame", "index", "name", "ordinal")

    def __init__(self, frame: SourceFrame, name: str, index: int = 0, ordinal: int = 0) -> None:
        self.frame = frame
        self.name = name
        self.index = index
        self.ordinal = ordinal
        self._wire: dict[tuple[bool, TimeUnit], bytes] = {}

    def message(self, combined: bool, unit: TimeUnit = TimeUnit.MS) -> bytes:
        """The message text (UTF-8) a ``/stream`` (combined envelope) or a ``/ws`` (raw)
        client gets, with its times in the unit the client's URL asked for."""
        payload = self._payload(unit)
        if combined:
            payload = b'{"stream":"' + self.name.encode() + b'","data":' + payload + b"}"
        return payload

    def wire(self, combined: bool, unit: TimeUnit = TimeUnit.MS) -> bytes:
        """The message as one WebSocket frame (made once per form)."""
        key = (combined, unit)
        wire = self._wire.get(key)
        if wire is None:
            wire = self._wire[key] = encode_text_frame(self.message(combined, unit))
        return wire

    def _payload(self, unit: TimeUnit) -> bytes:
        frame = self.frame
        if unit is TimeUnit.US and frame.payload_us is not None:
            return frame.payload_us.encode()
        text = frame.payload if isinstance(frame.payload, str) else frame.payload.decode()
        return payload_in_unit(text, unit).encode()


class Subscriber(Protocol):
    """A connection (its outbox) as the playback sees it."""

    def offer(self, encoded: Encoded) -> bool:
        """Queues a frame; False when full (the playback then waits for :meth:`room`)."""

    async def room(self) -> None:
        """Returns once the subscriber can take a frame again."""

    def offer_unsubscribed(self, encoded: Encoded) -> None:
        """A frame of a stream it did not subscribe to (only to :meth:`Playback.want_all`
        subscribers; for fault injection); never waits."""


class Playback:
    """Plays a source on one clock to the subscribers of each stream.

    Args:
        source: the frames, in time order (called once per :meth:`run`).
        speed: the pace (see the module doc).
    """

    def __init__(self, source: Source, speed: float | None) -> None:
        self._source = source
        self._speed = speed
        self.subscribers: dict[str, set[Subscriber]] = {}
        self.members: set[Subscriber] = set()
        self._changed = anyio.Event()
        self.started = False
        self.finished = anyio.Event()
        self.frames_played = 0
        #: frames played per stream name (subscribed or not)
        self.played: dict[str, int] = {}
        self._want_all: set[Subscriber] = set()

    def subscribe(self, conn: Subscriber, names: Iterable[str]) -> None:
        for name in names:
            self.subscribers.setdefault(name, set()).add(conn)
        self.members.add(conn)
        self._changed.set()

    def unsubscribe(self, conn: Subscriber, names: Iterable[str]) -> None:
        for name in names:
            subs = self.subscribers.get(name)
            if subs is not None:
                subs.discard(conn)
                if not subs:
                    del self.subscribers[name]
        self._changed.set()

    def leave(self, conn: Subscriber) -> None:
        self.unsubscribe(conn, list(self.subscribers))
        self.members.discard(conn)
        self._want_all.discard(conn)

    def want_all(self, conn: Subscriber) -> None:
        """Also offers ``conn`` the frames of streams it did not subscribe to."""
        self._want_all.add(conn)

    async def _wait_change(self) -> None:
        self._changed = anyio.Event()
        await self._changed.wait()

    async def run(self) -> None:
        """Plays the source once, from the first subscription to its last frame."""
        while not self.subscribers:
            await self._wait_change()
        self.started = True
        speed = self._speed
        clock = anyio.current_time
        t0: tuple[float, int] | None = None
        since_yield = 0
        played = self.played
        want_all = self._want_all
        for index, frame in enumerate(self._source()):
            name = frame.name
            if speed is not None:
                if t0 is None:
                    t0 = (clock(), frame.recv_ns)
                delay = t0[0] + (frame.recv_ns - t0[1]) / 1e9 / speed - clock()
                if delay > 0.0005:
                    await anyio.sleep(delay)
                    since_yield = 0
            else:
                while not self.subscribers:
                    await self._wait_change()
            subs = self.subscribers.get(name)
            self.frames_played = index + 1
            ordinal = played.get(name, 0)
            played[name] = ordinal + 1
            if subs or want_all:
                encoded = Encoded(frame, name, index, ordinal)
                if subs:
                    for conn in list(subs):
                        while not conn.offer(encoded):
                            await conn.room()
                            since_yield = 0
                for conn in list(want_all):
                    if not subs or conn not in subs:
                        conn.offer_unsubscribed(encoded)
            since_yield += 1
            if since_yield >= _CHECKPOINT_EVERY:
                await anyio.lowlevel.checkpoint()
                since_yield = 0
        self.finished.set()
        log.info("playback finished after %d frames", self.frames_played)
