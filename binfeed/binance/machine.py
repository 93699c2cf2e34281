"""One connection's state machine: received frames and ticks in, frames to send and events out.

Sans-I/O and frame-level, in the manner of python-websockets' ``Protocol``: nothing here
opens a socket, sleeps, reads a clock or imports an event loop or a network library, so any
transport that yields WebSocket frames can drive it, and the tests drive it with frames and
times. The glue (:mod:`binfeed.binance.connection`) calls an input method, then does what
the machine asks:

===============================================  ======================================
input                                            then the caller
===============================================  ======================================
:meth:`~ConnectionMachine.opened`                sends :meth:`frames_to_send`
:meth:`~ConnectionMachine.receive_frames`        if it returned True: sends
(one read's frames and their receive time)       :meth:`frames_to_send`, passes the
                                                 news on (:attr:`has_events`), re-arms
                                                 its timer
:meth:`~ConnectionMachine.tick` (at              the same; first, if
:meth:`next_deadline`, or sooner)                :attr:`stall_suspected`: reads the socket
                                                 with a zero timeout and says what it found
                                                 (:meth:`socket_checked`)
:meth:`~ConnectionMachine.close`,                the same (the shard's plan calls these)
:meth:`go_live`, :meth:`detach`,
:meth:`add_streams`, :meth:`remove_streams`
:meth:`~ConnectionMachine.cancel` (the glue      sends :meth:`frames_to_send`, bounded
stops before the connection ended)               by the close timeout
:meth:`~ConnectionMachine.connection_lost`,      nothing: the connection is over
:meth:`~ConnectionMachine.connect_failed`
===============================================  ======================================

After any input, :attr:`transport_done` True means: send what is left, then close the
transport; the machine needs nothing more from it.

What the machine owns, itself or through a part in its own module:

- **Frames**: a text frame goes to the *sink* (:class:`Sink`: the C parser with this
  connection's subscribed set, and the queue; :class:`binfeed.binance.sink.ConnectionSink`),
  the one thing the machine calls rather than returns: appending never waits (a memory
  map) and its verdict is needed at once. The machine handles every verdict but a stored
  record: duplicates and unstored frames counted, control replies matched to their
  requests (:mod:`~binfeed.binance.control`), ``serverShutdown`` noted, malformed frames
  counted and logged. Fragments are joined first (:mod:`~binfeed.binance.fragments`).
- **Subscriptions** (:mod:`~binfeed.binance.carried`, :mod:`~binfeed.binance.held`):
  only subscribed streams are stored; the frames of a stream whose SUBSCRIBE waits for
  its reply are held (at most ``hold_limit``), any other stream's counted
  (:class:`FilterTally`) and logged once. Its CONNECTED, SUBSCRIBED, SUBSCRIBE_REFUSED
  and UNSUBSCRIBED records go to the sink at once, so they precede (or follow) the market
  data they concern.
- **Modes** (:mod:`~binfeed.binance.rotation`): ``LIVE`` appends; ``BUFFERING`` (a
  replacement during a rotation) keeps market data until :meth:`go_live`; ``DETACHED``
  (a replaced connection) drops it.
- **Sending** (:mod:`~binfeed.binance.outgoing`): pongs and control messages share one
  budget, pongs first, at most 4 messages per 1.1 s (Binance counts pongs). The transport
  must not answer pings itself; a pong that cannot go yet answers the latest ping.
- **Watchdogs** (:mod:`~binfeed.binance.watchdogs`): a live connection ends after
  ``stall_timeout`` of the peer's silence (never the recorder's own absence, never while
  the socket holds unread bytes) or an overdue control reply; a closing handshake
  (:mod:`~binfeed.binance.closing`) after ``close_timeout``.
- **Proof**: :attr:`proven_at` is when the connection, fully subscribed, stored its first
  market data: what ends the shard's failure streak (:class:`retry.Backoff`).
- **Failures**: the first reason the connection ended wins (:class:`retry.Failure`); a
  close frame from the server is that reason.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from binfeed.binance.carried import CarriedStreams
from binfeed.binance.closing import Closing
from binfeed.binance.control import ControlChannel
from binfeed.binance.events import (
    AllSubscribed,
    Audit,
    DataBuffered,
    Ended,
    Event,
    FrameLike,
    Opcode,
    OutgoingFrame,
    SendClose,
    ShutdownAnnounced,
    Stalled,
)
from binfeed.binance.fragments import Fragments
from binfeed.binance.held import HeldFrames
from binfeed.binance.machine_types import (
    STORED_MAX,
    ConnectionCounters,
    ConnectionSettings,
    FilterTally,
    Mode,
    Sink,
    State,
)
from binfeed.binance.outgoing import Outgoing
from binfeed.binance.retry import Failure, FailureKind
from binfeed.binance.rotation import BUFFERED, Rotation, drop
from binfeed.binance.streams import StreamId
from binfeed.binance.watchdogs import Watchdogs
from binfeed.errors import ProtocolError
from binfeed.ingest_results import FrameKind
from binfeed.records import ConnectionEvent, GapReason

log = logging.getLogger("binfeed.record")

# Parser verdicts as plain ints (the hot path compares ints).
_DUPLICATE = int(FrameKind.DUPLICATE)
_UNSTORED = int(FrameKind.UNSTORED)
_CONTROL = int(FrameKind.CONTROL)
_SERVER_SHUTDOWN = int(FrameKind.SERVER_SHUTDOWN)
_UNSUBSCRIBED = int(FrameKind.UNSUBSCRIBED)
_PENDING = int(FrameKind.PENDING)
_TEXT = Opcode.TEXT


class ConnectionMachine:
    """One combined-stream connection, and the parts that do its jobs (see the module doc).

    Args:
        conn_id: recorder-local number (CONNECTION records, logs).
        in_url: streams named in the connect URL (confirmed by the handshake).
        to_subscribe: streams to SUBSCRIBE once open.
        sink: the connection's way into the parser and the queue.
        settings: timeouts and limits.
        live: append at once (True) or buffer market data until :meth:`go_live`.
        tally: where frames kept out of the queue are counted (shared by a recorder's
            connections, so that each unsubscribed stream is logged once).
    """

    def __init__(self, conn_id: int, in_url: Sequence[StreamId],
                 to_subscribe: Sequence[StreamId], sink: Sink, *,
                 settings: ConnectionSettings | None = None, live: bool = True,
                 tally: FilterTally | None = None) -> None:
        self.conn_id = conn_id
        self.settings = settings or ConnectionSettings()
        self.channel = ControlChannel(reply_timeout=self.settings.reply_timeout,
                                      params_per_message=self.settings.params_per_message)
        self.outgoing = Outgoing(self.channel, conn_id=conn_id)
        self.counters = ConnectionCounters()
        self.state = State.CONNECTING
        self.mode = Mode.LIVE if live else Mode.BUFFERING
        self.sink = sink
        self.tally = tally if tally is not None else FilterTally()
        self._sink = sink.ingest
        self._rotation = Rotation(sink)
        # The hot path calls _append: the sink itself once proven (see _append_until_proven).
        self._append = self._append_until_proven if live else self._rotation.buffer
        self.held = HeldFrames(conn_id, sink, self.counters, self.tally,
                               self.settings.hold_limit)
        # For reading (the plan, the status): changes go through add_streams, remove_streams.
        self.carried = CarriedStreams(conn_id, in_url, to_subscribe, sink, self.channel,
                                      self.held, self.tally, self._parsed, self._event)
        self._fragments = Fragments()
        self._closing = Closing(self.settings.close_timeout)
        self._watchdogs = Watchdogs(conn_id, self.settings, self.channel)
        self._frames: list[OutgoingFrame] = []
        self._events: list[Event] = []
        self._attention = False
        # what the plan reads (monotonic seconds)
        self.connected_at = 0.0
        self.last_rx = 0.0  # the last received read of frames
        self.first_data_at: float | None = None  # first market data (buffered)
        self.last_data_at: float | None = None  # the latest read with market data
        self.subscribed_at: float | None = None  # every stream confirmed or refused
        self.proven_at: float | None = None  # subscribed, then stored market data
        self.ended_at: float | None = None
        self.shutdown_announced = False
        self.failure: Failure | None = None

    # -- state ------------------------------------------------------------------------
    @property
    def ended(self) -> bool:
        return self.state is State.CLOSED

    @property
    def transport_done(self) -> bool:
        """The machine needs nothing more from the transport: send :meth:`frames_to_send`,
        then close it."""
        return self._closing.done

    @property
    def stall_suspected(self) -> bool:
        """The stall deadline passed without a frame: read the socket with a zero timeout
        and tell :meth:`socket_checked` whether it held anything, before anything else."""
        return self._watchdogs.suspected

    @property
    def has_events(self) -> bool:
        """Whether :meth:`events_received` has something."""
        return bool(self._events)

    @property
    def gap_reason(self) -> GapReason:
        """Why this connection's streams may have missed frames once it is gone."""
        if self.failure is not None and self.failure.kind is FailureKind.STALLED:
            return GapReason.STALLED
        if self.shutdown_announced:
            return GapReason.SERVER_SHUTDOWN
        return GapReason.DISCONNECTED

    # -- outputs ----------------------------------------------------------------------
    def frames_to_send(self) -> list[OutgoingFrame]:
        """The frames to send now, in order (call after every input)."""
        frames, self._frames = self._frames, []
        return frames

    def events_received(self) -> list[Event]:
        """What happened since the last call, in order."""
        events, self._events = self._events, []
        return events

    def next_deadline(self, now: float) -> float | None:
        """The latest time :meth:`tick` must be called (None: only after another input)."""
        if self.state is State.CLOSED or self._closing.done:
            return None
        if self.state is State.CLOSING:
            return self._closing.deadline()
        if self.state is State.CONNECTING:
            return None
        watch = self._watchdogs
        times = []
        if self.mode is Mode.LIVE:
            times.append(watch.deadline(self.last_rx))
        sending = self.outgoing.deadline(now)
        if sending is not None:
            times.append(sending)
        if not times:
            return None
        deadline = min(times)
        watch.promise(deadline, now)
        return deadline

    # -- inputs: time -----------------------------------------------------------------
    def tick(self, now: float) -> None:
        """Time passed: sends what the budget now allows, and ends a live connection that
        stalled or whose control reply is overdue, or a closing handshake that took too
        long (the judgements are its :class:`~binfeed.binance.watchdogs.Watchdogs`' and
        its :class:`~binfeed.binance.closing.Closing`'s)."""
        if self.state is State.CLOSING:
            self._closing.overdue(now)
            return
        if self.state is not State.OPEN:
            return
        if self.mode is Mode.LIVE:
            watch = self._watchdogs
            if watch.check_stall(self.last_rx, now):
                return  # judged by socket_checked(), nothing else before it
            failure = watch.reply_overdue(now)
            if failure is not None:
                self._end(failure)
                return
        self._send_due(now)

    def socket_checked(self, unread: bool, now: float) -> None:
        """After :attr:`stall_suspected`: whether the socket, read with a zero timeout,
        held unread bytes (then the receive side reads them and the connection is kept),
        or nothing (then the peer was silent for the stall timeout: the connection ends)."""
        watch = self._watchdogs
        if not watch.suspected:
            return
        silent = now - self.last_rx
        failure = watch.socket_checked(unread, silent, now)
        if failure is None:
            self.tick(now)
            return
        self._event(Stalled(silent))
        self._end(failure)

    # -- inputs: life cycle -----------------------------------------------------------
    def opened(self, now: float) -> None:
        """The handshake completed: the URL's streams are confirmed, SUBSCRIBEs queued;
        the CONNECTED record (and SUBSCRIBED for the URL's streams) is written."""
        self.state = State.OPEN
        self.connected_at = self.last_rx = now
        self._watchdogs.opened(now)
        carried = self.carried
        self.sink.audit(Audit(ConnectionEvent.CONNECTED, self.conn_id, len(carried.streams),
                              f"{len(carried.in_url)} streams in URL, "
                              f"{len(carried.to_subscribe)} by SUBSCRIBE"))
        if carried.opened():
            self._all_subscribed(now)
        self._send_due(now)

    def connect_failed(self, failure: Failure, now: float) -> None:
        """The attempt failed before the handshake completed."""
        self._fail(failure)
        self.state = State.CLOSED
        self.ended_at = now

    def connection_lost(self, failure: Failure | None, now: float) -> None:
        """The transport is closed. ``failure``: what the transport saw (EOF, an error), or
        None when the glue closed it (because :attr:`transport_done`, or cancelled)."""
        if self.state is State.CLOSED:
            return
        self.held.drop()
        self._fail(failure or Failure(FailureKind.DROPPED, 1006, "connection ended"))
        self.state = State.CLOSED
        self.ended_at = now
        assert self.failure is not None
        self._event(Ended(self.failure, now))

    def close(self, failure: Failure, now: float, code: int = 1000, reason: str = "") -> None:
        """Starts the closing handshake (bounded by ``close_timeout``), recording
        ``failure`` as the reason the connection ended (e.g. a rotation)."""
        self._fail(failure)
        if self.state is State.OPEN:
            self._frames.append(SendClose(code, reason))
            self.state = State.CLOSING
            self._closing.started(now)
        elif self.state is State.CONNECTING:
            self._closing.end_now()

    def cancel(self) -> None:
        """The glue stops while the connection may still be open (the recorder is
        cancelled): a close frame is queued unless something else ended it already."""
        if self.state is State.OPEN and self.failure is None:
            self._frames.append(SendClose(1000, ""))
            self.state = State.CLOSING
        self._closing.end_now()

    # -- inputs: the streams change ---------------------------------------------------
    def add_streams(self, streams: Sequence[StreamId], now: float) -> list[StreamId]:
        """Carries ``streams`` too (those it does not carry yet, which it returns): on an
        open connection they are pending in the set and SUBSCRIBEd now (their frames held
        until the reply, as the first SUBSCRIBE's); before the handshake they join the
        SUBSCRIBE sent on open; on a closing or closed one, nothing (the shard's next
        connection carries them)."""
        if self.state in (State.CLOSING, State.CLOSED):
            return []
        is_open = self.state is State.OPEN
        new = self.carried.add(streams, subscribe=is_open)
        if new and is_open:
            self._send_due(now)
        return new

    def remove_streams(self, streams: Sequence[StreamId], now: float) -> list[StreamId]:
        """Stops carrying ``streams`` (those it carried, which it returns): from now on
        their frames are counted as unsubscribed, never stored (frames held for them too);
        on an open connection the UNSUBSCRIBED record is written and UNSUBSCRIBE sent, so
        the server stops sending them; before the handshake, those named in the URL are
        unsubscribed on open."""
        if self.state in (State.CLOSING, State.CLOSED):
            return []
        connecting = self.state is State.CONNECTING
        left = self.carried.remove(streams, now, connecting=connecting)
        if left and not connecting:
            self._send_due(now)
        return left

    # -- inputs: rotation -------------------------------------------------------------
    def go_live(self, now: float, lost: GapReason | None = None) -> int:
        """Feeds the buffered market data to the sink (the parser drops what the old
        connection already stored) and appends directly from now on; returns the number of
        frames fed. ``lost``: the old connection may have missed frames, so every stream is
        marked lost first, and each GAP comes before the buffer's first record."""
        if lost is not None:
            for stream in self.carried.streams:
                self.sink.stream_lost(stream, lost)
        self.mode = Mode.LIVE
        self._append = self._sink if self.proven_at is not None else self._append_until_proven
        fed = len(self._rotation)
        for kind, frame, recv_ns in self._rotation.release():
            self._parsed(kind, frame, recv_ns, now)
        return fed

    def detach(self) -> None:
        """Stops appending (a connection being replaced): what it still receives is
        dropped; the replacement carries the same streams."""
        self.mode = Mode.DETACHED
        self._append = drop
        self._rotation.clear()
        self.held.clear()  # the replacement holds and stores its own

    # -- inputs: frames (the hot path) ------------------------------------------------
    def receive_frames(self, frames: Sequence[FrameLike], recv_ns: int, now: float) -> bool:
        """Frames of one read, received at ``recv_ns`` (wall clock, ns: the records' receive
        time) and ``now`` (monotonic, s).

        Returns:
            True when the caller has more to do than nothing: frames to send, events, or a
            new deadline; False when the frames were market data and nothing else.
        """
        self._attention = False
        self.last_rx = now
        self.counters.frames += len(frames)
        append = self._append
        stored = False
        for frame in frames:
            if frame.opcode == _TEXT and frame.fin:
                # websockets hands out bytearray; bytes() is the cheapest way into the C
                # call (cffi takes bytes without a conversion).
                data = bytes(frame.data)
                kind = append(data, recv_ns)
                if 0 < kind <= STORED_MAX:
                    stored = True
                else:
                    self._parsed(kind, data, recv_ns, now)
            else:
                self._other(frame, recv_ns, now)
        if stored:
            self.last_data_at = now
        return self._attention

    def _append_until_proven(self, frame: bytes, recv_ns: int) -> int:
        """The appender of a live connection until its proof; then the sink itself (from
        the next read on), so that the hot path pays nothing for it."""
        kind = self._sink(frame, recv_ns)
        if 0 < kind <= STORED_MAX and self.subscribed_at is not None:
            self.proven_at = self.last_rx
            self._append = self._sink
        return kind

    def _parsed(self, kind: int, frame: bytes, recv_ns: int, now: float) -> None:
        """Every parser verdict but a stored record (rare)."""
        c = self.counters
        if kind == _PENDING:
            if self.mode is not Mode.DETACHED:
                self.held.hold(frame, recv_ns, self.gap_reason)
        elif kind == _UNSUBSCRIBED:
            c.unsubscribed += 1
            self.tally.count_unsubscribed(self.conn_id, self.sink.unsubscribed_stream())
        elif kind == BUFFERED:
            self.last_data_at = now
            if self.proven_at is None and self.subscribed_at is not None:
                self.proven_at = self.last_rx  # a replacement proves itself as it buffers
            if self.first_data_at is None:
                self.first_data_at = now
                self._event(DataBuffered(now))
        elif kind == _DUPLICATE:
            self.last_data_at = now
            c.duplicates += 1
        elif kind == _UNSTORED:
            c.unstored += 1
        elif kind == _CONTROL:
            c.control_replies += 1
            if self.carried.reply(frame, now):
                if self.subscribed_at is None and self.carried.fully_subscribed:
                    self._all_subscribed(now)
                self._send_due(now)
        elif kind == _SERVER_SHUTDOWN:
            if not self.shutdown_announced:
                log.warning("connection %d: the server announced a shutdown (serverShutdown); "
                            "rotating to a new connection", self.conn_id)
                self.shutdown_announced = True
                self._event(ShutdownAnnounced(now))
        elif kind < 0:
            c.count_malformed(self.conn_id, kind, frame)
        else:
            raise ProtocolError(f"the parser returned an unknown frame kind {kind}")

    def _other(self, frame: FrameLike, recv_ns: int, now: float) -> None:
        """Control frames and fragmented or binary messages."""
        op = frame.opcode
        if op == Opcode.PING:
            self.counters.pings += 1
            self.outgoing.ping(bytes(frame.data))
            self._send_due(now)
        elif op == Opcode.CLOSE:
            self._fail(self._closing.receive(bytes(frame.data)))
            if self.state is State.OPEN:
                self.state = State.CLOSING
            self._attention = True
        elif op == Opcode.BINARY and frame.fin:
            self._deliver(bytes(frame.data), recv_ns, now)
        else:
            message = self._fragments.join(frame)
            if message is not None:
                self._deliver(message, recv_ns, now)

    def _deliver(self, message: bytes, recv_ns: int, now: float) -> None:
        kind = self._append(message, recv_ns)
        if 0 < kind <= STORED_MAX:
            self.last_data_at = now
        else:
            self._parsed(kind, message, recv_ns, now)

    def _send_due(self, now: float) -> None:
        """Queues what the budget lets go now: the pong first, then control messages."""
        self._attention = True
        if self.state is not State.OPEN:
            return
        self._frames += self.outgoing.due(now)

    # -- helpers ----------------------------------------------------------------------
    def _end(self, failure: Failure) -> None:
        """Ends the connection without a closing handshake."""
        self._fail(failure)
        self.state = State.CLOSING
        self._closing.end_now()

    def _fail(self, failure: Failure) -> None:
        if self.failure is None:
            self.failure = failure

    def _all_subscribed(self, now: float) -> None:
        self.subscribed_at = now
        self._event(AllSubscribed(now))

    def _event(self, event: Event) -> None:
        self._events.append(event)
        self._attention = True
