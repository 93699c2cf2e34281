"""Control messages of one connection: SUBSCRIBE and friends, and their replies by id.

Binance's live subscription protocol (spot WebSocket streams)::

    -> {"method":"SUBSCRIBE","params":["btcusdt@trade"],"id":1}
    <- {"result":null,"id":1}                                     success
    <- {"error":{"code":2,"msg":"Invalid request: ..."},"id":1}   refusal
    <- {"code":2,"msg":"Invalid request: ..."}                    refusal, older form
    -> {"method":"LIST_SUBSCRIPTIONS","id":2}
    <- {"result":["btcusdt@trade"],"id":2}

:class:`ControlChannel` numbers requests, queues them for a paced sender, matches each
reply to its request by id (a reply without an id goes to the oldest request waiting,
since the server answers in order), and turns replies into events. A refused SUBSCRIBE of
several streams is split in two and sent again, until the refused streams are known one
by one; so one bad symbol never costs the others.

Sans-I/O: the caller sends :meth:`ControlChannel.next_request`'s text, passes received
replies to :meth:`ControlChannel.handle_reply` and checks :meth:`ControlChannel.expired`.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from binfeed.binance.endpoint import DEFAULT_PARAMS_PER_MESSAGE, chunk_params
from binfeed.binance.streams import StreamId

#: Seconds to wait for a control reply before the connection is considered broken.
DEFAULT_REPLY_TIMEOUT = 10.0


@dataclass(frozen=True, slots=True)
class ControlRequest:
    """One control message."""

    id: int
    method: str
    params: tuple[StreamId, ...] = ()

    def encode(self) -> str:
        """The JSON text to send. Stream names go in as they are, UTF-8 included
        (``"params":["币安人生usdt@trade"]``, as Binance's own examples write symbols in
        JSON requests); only URLs percent-encode them."""
        if self.method == "LIST_SUBSCRIPTIONS":
            return json.dumps({"method": self.method, "id": self.id}, separators=(",", ":"))
        return json.dumps(
            {"method": self.method, "params": [s.name for s in self.params], "id": self.id},
            separators=(",", ":"), ensure_ascii=False,
        )


@dataclass(frozen=True, slots=True)
class ControlReply:
    """A parsed reply: ``ok`` with ``result``, or an error with ``code`` and ``msg``."""

    id: int | str | None
    ok: bool
    result: Any = None
    code: int | None = None
    msg: str = ""


def parse_reply(text: str | bytes) -> ControlReply | None:
    """Parses a control reply in any of Binance's three shapes; None for anything else
    (market data, events, garbage)."""
    try:
        obj = json.loads(text)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(obj, dict):
        return None
    ident = obj.get("id")
    if isinstance(ident, bool) or not isinstance(ident, (int, str, type(None))):
        ident = None
    error = obj.get("error")
    if isinstance(error, dict):
        return ControlReply(ident, False, code=_int_or_none(error.get("code")),
                            msg=str(error.get("msg", "")))
    if "code" in obj and "msg" in obj and "e" not in obj and "stream" not in obj:
        return ControlReply(ident, False, code=_int_or_none(obj.get("code")),
                            msg=str(obj.get("msg", "")))
    if "result" in obj and "id" in obj:
        return ControlReply(ident, True, result=obj["result"])
    return None


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


# -- events ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Subscribed:
    """The server confirmed these streams."""

    streams: tuple[StreamId, ...]


@dataclass(frozen=True, slots=True)
class Refused:
    """The server refused this stream (after splitting, one stream at a time)."""

    stream: StreamId
    code: int | None
    msg: str


@dataclass(frozen=True, slots=True)
class Split:
    """A SUBSCRIBE of several streams was refused; its halves were queued again."""

    streams: tuple[StreamId, ...]
    code: int | None
    msg: str


@dataclass(frozen=True, slots=True)
class Listed:
    """LIST_SUBSCRIPTIONS answered with these stream names."""

    names: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Unmatched:
    """A reply that matches no request waiting (logged, otherwise ignored)."""

    reply: ControlReply


@dataclass(frozen=True, slots=True)
class Unsubscribed:
    """The server confirmed an UNSUBSCRIBE."""

    streams: tuple[StreamId, ...]


@dataclass(frozen=True, slots=True)
class Failed:
    """A request other than SUBSCRIBE was refused."""

    request: ControlRequest
    code: int | None
    msg: str


ControlEvent = Subscribed | Refused | Split | Listed | Unmatched | Unsubscribed | Failed


@dataclass(slots=True)
class _Pending:
    request: ControlRequest
    sent_at: float


@dataclass
class ControlChannel:
    """Request ids, the queue of requests to send, and replies matched to requests.

    Args:
        first_id: the id of the first request (ids then count up).
        reply_timeout: seconds a sent request may wait for its reply.
        params_per_message: streams per SUBSCRIBE / UNSUBSCRIBE.
    """

    first_id: int = 1
    reply_timeout: float = DEFAULT_REPLY_TIMEOUT
    params_per_message: int = DEFAULT_PARAMS_PER_MESSAGE
    _next_id: int = field(init=False)
    _outbox: deque[ControlRequest] = field(init=False, default_factory=deque)
    _pending: dict[int, _Pending] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self._next_id = self.first_id

    def _new(self, method: str, params: Sequence[StreamId] = ()) -> ControlRequest:
        req = ControlRequest(self._next_id, method, tuple(params))
        self._next_id += 1
        return req

    # -- queueing ---------------------------------------------------------------------
    def subscribe(self, streams: Sequence[StreamId]) -> list[ControlRequest]:
        """Queues SUBSCRIBE messages for ``streams`` (chunked); returns them."""
        reqs = [self._new("SUBSCRIBE", c) for c in chunk_params(streams, self.params_per_message)]
        self._outbox.extend(reqs)
        return reqs

    def unsubscribe(self, streams: Sequence[StreamId]) -> list[ControlRequest]:
        """Queues UNSUBSCRIBE messages for ``streams``; returns them."""
        reqs = [self._new("UNSUBSCRIBE", c)
                for c in chunk_params(streams, self.params_per_message)]
        self._outbox.extend(reqs)
        return reqs

    def list_subscriptions(self) -> ControlRequest:
        """Queues a LIST_SUBSCRIPTIONS."""
        req = self._new("LIST_SUBSCRIPTIONS")
        self._outbox.append(req)
        return req

    # -- sending ----------------------------------------------------------------------
    @property
    def has_outgoing(self) -> bool:
        """Whether requests wait to be sent."""
        return bool(self._outbox)

    @property
    def waiting(self) -> int:
        """Requests queued or sent and not answered yet."""
        return len(self._outbox) + len(self._pending)

    def next_request(self, now: float) -> ControlRequest | None:
        """Takes the next request to send (the caller sends ``request.encode()`` now and
        respects its rate budget before calling); None when nothing is queued."""
        if not self._outbox:
            return None
        req = self._outbox.popleft()
        self._pending[req.id] = _Pending(req, now)
        return req

    # -- receiving --------------------------------------------------------------------
    def handle_reply(self, reply: ControlReply) -> list[ControlEvent]:
        """Matches a reply to its request and says what it means."""
        pending = None
        if isinstance(reply.id, int) and reply.id in self._pending:
            pending = self._pending.pop(reply.id)
        elif reply.id is None and self._pending:
            # No id (Binance's older error shape): replies come in request order, and
            # _pending keeps the order requests were sent in.
            pending = self._pending.pop(next(iter(self._pending)))
        if pending is None:
            return [Unmatched(reply)]
        req = pending.request
        if reply.ok:
            if req.method == "SUBSCRIBE":
                return [Subscribed(req.params)]
            if req.method == "UNSUBSCRIBE":
                return [Unsubscribed(req.params)]
            if req.method == "LIST_SUBSCRIPTIONS":
                result = reply.result if isinstance(reply.result, list) else []
                return [Listed(tuple(str(x) for x in result))]
            return []
        if req.method == "SUBSCRIBE":
            if len(req.params) == 1:
                return [Refused(req.params[0], reply.code, reply.msg)]
            half = len(req.params) // 2
            first = self._new("SUBSCRIBE", req.params[:half])
            second = self._new("SUBSCRIBE", req.params[half:])
            # Front of the queue, in order: the halves go before anything queued later.
            self._outbox.appendleft(second)
            self._outbox.appendleft(first)
            return [Split(req.params, reply.code, reply.msg)]
        return [Failed(req, reply.code, reply.msg)]

    def expired(self, now: float) -> list[ControlRequest]:
        """Sent requests whose reply is overdue (removed from the waiting set)."""
        late = [p.request for p in self._pending.values()
                if now - p.sent_at >= self.reply_timeout]
        for req in late:
            del self._pending[req.id]
        return late

    def restart_timers(self, now: float) -> None:
        """The recorder was not running (a stopped process): every waiting request gets its
        whole ``reply_timeout`` again from ``now`` (its reply may be unread in the socket)."""
        for pending in self._pending.values():
            pending.sent_at = max(pending.sent_at, now)

    def next_deadline(self) -> float | None:
        """When the oldest sent request times out (None: nothing sent is waiting)."""
        if not self._pending:
            return None
        return min(p.sent_at for p in self._pending.values()) + self.reply_timeout
