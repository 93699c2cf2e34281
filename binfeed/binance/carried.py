"""Which streams one connection carries and where each stands: named in the URL or to
SUBSCRIBE, confirmed or refused by the server, or pending until its reply; moved by the
control replies and by streams added or removed while the connection lives.

:class:`CarriedStreams` is owned by :class:`~binfeed.binance.machine.ConnectionMachine`,
which hands it each control reply the parser recognised and its inputs that change the
streams. It keeps the sink's set in step through :class:`~binfeed.binance.held.HeldFrames`
(the URL's streams accepted at the handshake, the others pending until their reply, which
releases the frames held for them), sends SUBSCRIBE and UNSUBSCRIBE through the
connection's :class:`~binfeed.binance.control.ControlChannel`, and writes the SUBSCRIBED,
SUBSCRIBE_REFUSED and UNSUBSCRIBED records at once, so that they precede (or follow) the
market data they concern. A stream removed while its SUBSCRIBE was on its way stays
unsubscribed; one added again since its UNSUBSCRIBE keeps the state its SUBSCRIBE gave.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from binfeed.binance import control
from binfeed.binance.events import Audit, Event
from binfeed.binance.held import HeldFrames
from binfeed.binance.machine_types import FilterTally, Sink
from binfeed.binance.streams import StreamId
from binfeed.records import ConnectionEvent
from binfeed.subscriptions import SubscriptionState

log = logging.getLogger("binfeed.record")


class CarriedStreams:
    """One connection's streams and where each stands (see the module doc).

    Args:
        conn_id: the connection's number (logs, records).
        in_url: streams named in the connect URL (confirmed by the handshake).
        to_subscribe: streams to SUBSCRIBE once open.
        sink: the connection's sink (its records).
        channel: the connection's control channel.
        held: the connection's pending streams and the frames held for them.
        tally: the recorder-wide tally (the streams left, whose late frames are expected).
        parsed: the machine's handling of a parser verdict other than a stored record,
            for the held frames a reply releases.
        event: the machine's events out (each control event, in order).
    """

    def __init__(self, conn_id: int, in_url: Sequence[StreamId],
                 to_subscribe: Sequence[StreamId], sink: Sink, channel: control.ControlChannel,
                 held: HeldFrames, tally: FilterTally,
                 parsed: Callable[[int, bytes, int, float], None],
                 event: Callable[[Event], None]) -> None:
        self.conn_id = conn_id
        self.in_url = list(in_url)
        self.to_subscribe = list(to_subscribe)
        self.sink = sink
        self.channel = channel
        self.held = held
        self.tally = tally
        self._parsed = parsed
        self._event = event
        self.confirmed: set[StreamId] = set()
        self.refused: list[control.Refused] = []
        self._leave_at_open: list[StreamId] = []  # removed from the URL's streams while connecting

    @property
    def streams(self) -> list[StreamId]:
        """Every stream carried (URL and SUBSCRIBE)."""
        return self.in_url + self.to_subscribe

    @property
    def fully_subscribed(self) -> bool:
        """Every stream confirmed or refused, nothing waiting."""
        return self.channel.waiting == 0 and len(self.confirmed) + len(self.refused) >= len(
            set(self.streams))

    def opened(self) -> bool:
        """The handshake completed: the URL's streams are confirmed (the SUBSCRIBED record
        written), the others pending and SUBSCRIBEs queued, those removed meanwhile
        unsubscribed. True when every stream is settled at once (nothing to wait for)."""
        self.confirmed.update(self.in_url)
        self.held.set_state(self.in_url, SubscriptionState.ACCEPTED)
        if self.in_url:
            self._audit_subscribed(self.in_url)
        if self.to_subscribe:
            self.held.set_state(self.to_subscribe, SubscriptionState.PENDING)
            self.channel.subscribe(self.to_subscribe)
        if self._leave_at_open:
            leave, self._leave_at_open = self._leave_at_open, []
            self.held.set_state(leave, SubscriptionState.NONE)
            self._unsubscribe(leave)
            return False
        return not self.to_subscribe

    def add(self, streams: Sequence[StreamId], *, subscribe: bool) -> list[StreamId]:
        """Carries ``streams`` too (those not carried yet, which it returns): pending in
        the set and SUBSCRIBEd now if ``subscribe`` (an open connection), else in the
        SUBSCRIBE queued on open."""
        carried = set(self.streams)
        new = [s for s in dict.fromkeys(streams) if s not in carried]
        if not new:
            return []
        self.to_subscribe += new
        for stream in new:
            self.tally.left.discard(stream.name)
        if subscribe:
            self.held.set_state(new, SubscriptionState.PENDING)
            self.channel.subscribe(new)
        return new

    def remove(self, streams: Sequence[StreamId], now: float, *,
               connecting: bool) -> list[StreamId]:
        """Stops carrying ``streams`` (those carried, which it returns): unsubscribed in
        the set, the UNSUBSCRIBED record written and UNSUBSCRIBE queued, the frames held
        for them released (counted as unsubscribed); if ``connecting``, the URL's are left
        at open instead and the SUBSCRIBE on open leaves the others out."""
        gone = set(streams)
        left = [s for s in self.streams if s in gone]
        if not left:
            return []
        if connecting:
            self._leave_at_open += [s for s in self.in_url if s in gone]
        self.in_url = [s for s in self.in_url if s not in gone]
        self.to_subscribe = [s for s in self.to_subscribe if s not in gone]
        self.confirmed -= gone
        self.refused = [r for r in self.refused if r.stream not in gone]
        # Frames already in flight are expected, not news: counted without a warning.
        self.tally.left.update(s.name for s in left)
        if connecting:
            return left
        self.held.set_state(left, SubscriptionState.NONE)
        self._unsubscribe(left)
        if self.held:
            self._release(now)  # what was held for them is counted as unsubscribed now
        return left

    def reply(self, frame: bytes, now: float) -> bool:
        """Applies a control reply (a frame the parser recognised as one) to the streams;
        each control event it makes goes out in order. False: not a reply (logged)."""
        reply = control.parse_reply(frame)
        if reply is None:
            log.warning("connection %d: unrecognised control message: %r", self.conn_id,
                        frame[:200])
            return False
        for event in self.channel.handle_reply(reply):
            if isinstance(event, control.Subscribed):
                # A stream removed while its SUBSCRIBE was on its way stays unsubscribed.
                carried = set(self.streams)
                kept = [s for s in event.streams if s in carried]
                if kept:
                    self.confirmed.update(kept)
                    self.held.set_state(kept, SubscriptionState.ACCEPTED)
                    self._audit_subscribed(kept)
                    self._release(now)
                event = control.Subscribed(tuple(kept))
            elif isinstance(event, control.Refused):
                if event.stream not in set(self.streams):
                    continue  # removed meanwhile: its refusal changes nothing
                self.refused.append(event)
                self.held.set_state([event.stream], SubscriptionState.NONE)
                self.sink.audit(Audit(ConnectionEvent.SUBSCRIBE_REFUSED, self.conn_id,
                                      event.code or 0, f"{event.stream.name}: {event.msg}"))
                self._release(now)
            elif isinstance(event, control.Unsubscribed):
                # A stream added again since (relisted) keeps the state its SUBSCRIBE gave.
                carried = set(self.streams)
                self.held.set_state([s for s in event.streams if s not in carried],
                                    SubscriptionState.NONE)
            elif isinstance(event, control.Split):
                log.info("connection %d: SUBSCRIBE of %d streams refused (%s %s); retrying "
                         "in halves to find the refused ones", self.conn_id,
                         len(event.streams), event.code, event.msg)
            elif isinstance(event, control.Unmatched):
                log.warning("connection %d: reply matches no request: %r", self.conn_id,
                            event.reply)
            self._event(event)
        return True

    def _release(self, now: float) -> None:
        """Stores, in order, the held frames of streams no longer pending."""
        for kind, frame, recv_ns in self.held.release():
            self._parsed(kind, frame, recv_ns, now)

    def _audit_subscribed(self, streams: Sequence[StreamId]) -> None:
        names = [s.name for s in streams]
        self.sink.audit(Audit(ConnectionEvent.SUBSCRIBED, self.conn_id, len(names),
                              ",".join(names)))

    def _unsubscribe(self, streams: Sequence[StreamId]) -> None:
        names = [s.name for s in streams]
        self.sink.audit(Audit(ConnectionEvent.UNSUBSCRIBED, self.conn_id, len(names),
                              ",".join(names)))
        self.channel.unsubscribe(streams)
