"""What one connection's control replies change: streams confirmed or refused, their held
frames released, the SUBSCRIBED and SUBSCRIBE_REFUSED records written.

:class:`ControlReplies` is a part of :class:`~binfeed.binance.machine.ConnectionMachine`
(which inherits it; it keeps no state of its own): the machine hands it each control reply
the parser recognised, and it applies what :class:`~binfeed.binance.control.ControlChannel`
made of it to the machine's streams, its sink's set (through
:class:`~binfeed.binance.held.HeldFrames`) and its events. A stream removed while its
SUBSCRIBE was on its way stays unsubscribed; one added again since its UNSUBSCRIBE keeps
the state its SUBSCRIBE gave.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from binfeed.binance import control
from binfeed.binance.events import AllSubscribed, Audit
from binfeed.binance.streams import StreamId
from binfeed.records import ConnectionEvent
from binfeed.subscriptions import SubscriptionState

if TYPE_CHECKING:
    from binfeed.binance.machine import ConnectionMachine

log = logging.getLogger("binfeed.record")


class ControlReplies:
    """The control-reply part of :class:`~binfeed.binance.machine.ConnectionMachine`."""

    def _control_reply(self: ConnectionMachine, frame: bytes, now: float) -> None:
        reply = control.parse_reply(frame)
        if reply is None:
            log.warning("connection %d: unrecognised control message: %r", self.conn_id,
                        frame[:200])
            return
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
        if self.subscribed_at is None and self.fully_subscribed:
            self._all_subscribed(now)
        self._send_due(now)

    def _release(self: ConnectionMachine, now: float) -> None:
        """Stores, in order, the held frames of streams no longer pending."""
        for kind, frame, recv_ns in self.held.release():
            self._parsed(kind, frame, recv_ns, now)

    def _audit_subscribed(self: ConnectionMachine, streams: Sequence[StreamId]) -> None:
        names = [s.name for s in streams]
        self.sink.audit(Audit(ConnectionEvent.SUBSCRIBED, self.conn_id, len(names),
                              ",".join(names)))

    def _all_subscribed(self: ConnectionMachine, now: float) -> None:
        self.subscribed_at = now
        self._event(AllSubscribed(now))
