"""Helpers of the state machine tests: frames as a transport hands them out, a parser stand-in."""

from __future__ import annotations

import json
from dataclasses import dataclass

from binfeed.binance.events import Opcode
from binfeed.binance.streams import StreamId, StreamKind, stream_ids
from binfeed.ingest import FrameKind


@dataclass(frozen=True)
class F:
    """A received frame, as any transport hands it out."""

    opcode: int
    data: bytes
    fin: bool = True


class FakeParser:
    """Stands in for the C parser (``Ingestor.ingest``) with its verdicts: market data
    stored once per sequence number, duplicates dropped, replies and serverShutdown
    passed back, anything else malformed. Records what it stored, in order."""

    def __init__(self) -> None:
        self.stored: list[tuple[str, int, int]] = []  # (stream, seq, recv_ns)
        self._last: dict[str, int] = {}

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
