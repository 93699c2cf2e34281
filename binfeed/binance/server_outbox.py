"""The frames one client of the loopback server is sent: queued from the playback
(bounded), written to its socket in chunks, with the injected frames between them.

:class:`~binfeed.binance.server_connection.ServerConnection` owns an :class:`Outbox`, the
:class:`~binfeed.binance.playback.Subscriber` it hands the playback, and runs a
:class:`FrameWriter` task that empties it: batches of at most ``SEND_CHUNK`` bytes, cut
where a fault or an injection is due (:mod:`binfeed.binance.faults`), each counted in the
connection's :class:`~binfeed.binance.server_report.ConnectionStats` once written, and
after each batch the malformed or unsubscribed frames due, then the faults due.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager

import anyio
import anyio.abc

from binfeed.binance import exchange
from binfeed.binance.faults import FaultSchedule, InjectionSchedule, malformed_message
from binfeed.binance.playback import Encoded, encode_text_frame
from binfeed.binance.server_report import ConnectionStats
from binfeed.binance.timeunit import TimeUnit

#: Frames queued per connection before the playback waits for that client.
OUTBOX_FRAMES = 8192
#: Bytes written to the socket per send call at most.
SEND_CHUNK = 256 * 1024

#: Holds the connection's write lock and yields its stream, or None once nothing more may
#: be written to it (it stalled, or a close frame went or is to go).
Sending = Callable[[], AbstractAsyncContextManager[anyio.abc.ByteStream | None]]


class Outbox:
    """One client's frames from the playback (its :class:`~binfeed.binance.playback.Subscriber`),
    at most ``OUTBOX_FRAMES``; once stopped (the connection stalled, is closing or ended) it
    takes no more and the playback never waits for it."""

    def __init__(self) -> None:
        self._frames: deque[Encoded] = deque()
        self._wake = anyio.Event()
        self._room = anyio.Event()
        self._stopped = False
        self._unsubscribed: Encoded | None = None  # the latest frame of a foreign stream

    def __len__(self) -> int:
        return len(self._frames)

    # -- playback.Subscriber ----------------------------------------------------------
    def offer(self, encoded: Encoded) -> bool:
        """Queues a frame; False when the outbox is full (the playback waits)."""
        if self._stopped:
            return True
        frames = self._frames
        if len(frames) >= OUTBOX_FRAMES:
            return False
        frames.append(encoded)
        if len(frames) == 1:
            self._wake.set()
        return True

    async def room(self) -> None:
        self._room = anyio.Event()
        if len(self._frames) < OUTBOX_FRAMES or self._stopped:
            return
        await self._room.wait()

    def offer_unsubscribed(self, encoded: Encoded) -> None:
        self._unsubscribed = encoded

    # -- the connection's side --------------------------------------------------------
    def stop(self) -> None:
        """Takes no more frames; a playback waiting for room goes on."""
        self._stopped = True
        self._room.set()

    def clear(self) -> None:
        """Drops the frames queued (the connection will not deliver them)."""
        self._frames.clear()

    # -- the writer's side ------------------------------------------------------------
    async def wait(self) -> None:
        """Returns once a frame is queued."""
        self._wake = anyio.Event()
        if not self._frames:
            await self._wake.wait()

    def take(self, limit: int, combined: bool, unit: TimeUnit,
             ) -> tuple[list[Encoded], list[bytes]]:
        """The next frames to write, at most ``limit`` and about ``SEND_CHUNK`` bytes, with
        their wire bytes in the client's form; the playback may offer again."""
        frames = self._frames
        batch: list[Encoded] = []
        parts: list[bytes] = []
        size = 0
        while frames and len(parts) < limit and size < SEND_CHUNK:
            encoded = frames.popleft()
            wire = encoded.wire(combined, unit)
            batch.append(encoded)
            parts.append(wire)
            size += len(wire)
        if len(frames) < OUTBOX_FRAMES:
            self._room.set()
        return batch, parts

    def take_unsubscribed(self) -> Encoded | None:
        """The latest frame of a stream the client did not subscribe to, once."""
        foreign, self._unsubscribed = self._unsubscribed, None
        return foreign


class FrameWriter:
    """The task writing one client's outbox (see the module doc).

    Args:
        outbox: the frames to write.
        stats: the connection's report (frames written, runs of the source, injections).
        session: the client's session (combined or raw, time unit, subscriptions).
        faults: the connection's faults (a batch ends where one is due).
        injections: the malformed and unsubscribed frames to insert.
        sending: the connection's way to its socket (see :data:`Sending`).
        faults_due: applies the faults due after the frames written (may end the
            connection).
    """

    def __init__(self, outbox: Outbox, stats: ConnectionStats, session: exchange.Session,
                 faults: FaultSchedule, injections: InjectionSchedule, sending: Sending,
                 faults_due: Callable[[], Awaitable[None]]) -> None:
        self.outbox = outbox
        self.stats = stats
        self.session = session
        self.faults = faults
        self.injections = injections
        self.sending = sending
        self.faults_due = faults_due
        self._last: Encoded | None = None  # the last market-data frame written
        self._malformed = 0

    async def run(self) -> None:
        stats = self.stats
        outbox = self.outbox
        while True:
            if not outbox:
                await outbox.wait()
                continue
            limit = min(self.faults.frames_until_next(stats.frames_sent),
                        self.injections.frames_until_next(stats.frames_sent))
            batch, parts = outbox.take(limit, self.session.combined,
                                       self.session.route.time_unit)
            if parts:
                async with self.sending() as stream:
                    # Checked under the lock: nothing may follow a close frame.
                    if stream is None:
                        continue
                    try:
                        await stream.send(b"".join(parts))
                    except BaseException:
                        stats.unconfirmed.add(batch)  # the client may have some of them
                        raise
                stats.sent.add(batch)
                stats.frames_sent += len(parts)
                self._last = batch[-1]
            # Insertions due after these frames go first: a fault may end the connection.
            await self._inject()
            await self.faults_due()

    async def _inject(self) -> None:
        """Inserts the malformed and unsubscribed frames due after the frames sent."""
        stats = self.stats
        session = self.session
        for injection in self.injections.due(stats.frames_sent):
            combined = session.combined
            if injection.kind == "malformed":
                last = self._last
                if last is None:
                    continue
                kind, message = malformed_message(
                    self._malformed, last.message(combined, session.route.time_unit),
                    last.name, combined)
                wire = encode_text_frame(message)
                self._malformed += 1
                counts = stats.malformed_sent
            else:
                foreign = self.outbox.take_unsubscribed()
                if foreign is None or foreign.name in session.subscriptions:
                    continue
                kind, wire = foreign.name, foreign.wire(combined, session.route.time_unit)
                counts = stats.unsubscribed_sent
            async with self.sending() as stream:
                if stream is None:
                    return
                await stream.send(wire)
            counts[kind] = counts.get(kind, 0) + 1
