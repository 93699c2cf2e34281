"""Helpers of the state machine tests: frames as a transport hands them out, a parser stand-in."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from binfeed.binance.events import Audit, Opcode
from binfeed.binance.streams import StreamId, StreamKind, stream_ids
from binfeed.ingest_results import FrameKind
from binfeed.records import ConnectionEvent, GapReason
from binfeed.subscriptions import SubscriptionState


@dataclass(frozen=True)
class F:
    """A received frame, as any transport hands it out."""

    opcode: int
    data: bytes
    fin: bool = True


class FakeParser:
    """Stands in for a connection's sink (the C parser through ``ConnectionSink``) with
    its verdicts: market data stored once per sequence number whatever its stream (the
    subscribed set is the real parser's: tests/binance/test_subscribed.py), duplicates
    dropped, replies and serverShutdown passed back, anything else malformed. Records what
    it stored and the CONNECTION records it was given, in order."""

    def __init__(self) -> None:
        self.stored: list[tuple[str, int, int]] = []  # (stream, seq, recv_ns)
        self.audits: list[Audit] = []
        self.lost: list[tuple[StreamId, GapReason]] = []
        self._last: dict[str, int] = {}
        self._indexes: dict[StreamId, int] = {}

    def set_state(self, streams: Sequence[StreamId], state: SubscriptionState) -> list[int]:
        return [self._indexes.setdefault(s, len(self._indexes)) for s in streams]

    subscription = None

    def unsubscribed_stream(self) -> str:
        return ""

    def audit(self, record: Audit) -> None:
        self.audits.append(record)

    def stream_lost(self, stream: StreamId, reason: GapReason) -> None:
        self.lost.append((stream, reason))

    def events(self) -> list[tuple[ConnectionEvent, int]]:
        """(event, conn_id) of the CONNECTION records written so far."""
        return [(a.event, a.conn_id) for a in self.audits]

    def __call__(self, frame: bytes, recv_ns: int) -> int:
        try:
            doc = json.loads(frame)
        except ValueError:
            return -2
        if "stream" in doc:
            name, seq = doc["stream"], doc["data"]["u"]
            if seq <= self._last.get(name, 0):
                return FrameKind.DUPLICATE
            self._last[name] = seq
            self.stored.append((name, seq, recv_ns))
            return FrameKind.BOOK_TICKER
        if doc.get("e") == "serverShutdown":
            return FrameKind.SERVER_SHUTDOWN
        if "id" in doc or "code" in doc:
            return FrameKind.CONTROL
        return -2

    ingest = __call__

    @property
    def seqs(self) -> list[int]:
        return [seq for _, seq, _ in self.stored]


def ids(*symbols: str) -> list[StreamId]:
    return stream_ids(symbols, [StreamKind.BOOK_TICKER])


def book(seq: int, symbol: str = "btcusdt") -> F:
    data = {"u": seq, "s": symbol.upper(), "b": "1.0", "B": "1", "a": "2.0", "A": "1"}
    return F(Opcode.TEXT, json.dumps({"stream": f"{symbol}@bookTicker", "data": data}).encode())


def reply(ident: int, error: bool = False) -> F:
    body = ({"error": {"code": 2, "msg": "Invalid request"}, "id": ident} if error
            else {"result": None, "id": ident})
    return F(Opcode.TEXT, json.dumps(body).encode())
