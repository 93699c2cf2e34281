"""Frames for the loopback server to serve: captures of real Binance traffic, or any other
source that yields :class:`SourceFrame` in time order.

A source is a callable returning a fresh iterable of frames (so a server can start it again
for each connection when every connection gets its own clock). binfeed's captures
(``binfeed/data/*.gz``, ``tests/data/binance/*.gz``) are lines
``<local receive time, ns> <combined envelope>``; :func:`capture_source` serves them, the
payload text byte for byte as Binance sent it. ``replay --serve`` plugs a queue-backed
source in the same way.
"""

from __future__ import annotations

import heapq
import json
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import NamedTuple

from binfeed.capture import read_frames
from binfeed.symbols import stream_symbol

log = logging.getLogger("binfeed.server")

_PREFIX = '{"stream":"'
_DATA = ',"data":'


class SourceFrame(NamedTuple):
    """One market-data frame to serve.

    Attributes:
        recv_ns: when it was received (ns since the epoch); paces the replay.
        symbol: the symbol as the stream name spells it ('btcusdt', '币安人生usdt').
        stream: the stream type after the first '@' ('bookTicker', 'trade', 'depth@100ms').
        payload: the raw payload JSON text (what a /ws/ connection receives), its times in
            milliseconds or microseconds (the server converts them to what each client
            asked for, :mod:`binfeed.binance.timeunit`).
        payload_us: the same payload with exact microsecond times, when the source knows
            them (a recorded queue) and ``payload`` rounded them to milliseconds; None
            when ``payload`` converts exactly.
    """

    recv_ns: int
    symbol: str
    stream: str
    payload: str
    payload_us: str | None = None

    @property
    def name(self) -> str:
        """The stream name, 'btcusdt@bookTicker'."""
        return f"{self.symbol}@{self.stream}"


Source = Callable[[], Iterable[SourceFrame]]


def envelope_frame(recv_ns: int, frame: str) -> SourceFrame | None:
    """A combined-stream envelope received at ``recv_ns``,
    ``{"stream":"btcusdt@trade","data":{...}}``, as a SourceFrame whose payload is the
    ``data`` text byte for byte; None for anything else (REST snapshots, replies)."""
    frame = frame.strip()
    if frame.startswith(_PREFIX):
        end = frame.find('"', len(_PREFIX))
        # an escaped name ("\u5e01usdt@trade") is read by json below
        if (end > 0 and frame.startswith(_DATA, end + 1) and frame.endswith("}")
                and "\\" not in frame[len(_PREFIX):end]):
            name = frame[len(_PREFIX) : end]
            payload = frame[end + 1 + len(_DATA) : -1]
            symbol, sep, stream = name.partition("@")
            if sep:
                return SourceFrame(recv_ns, symbol, stream, payload)
    try:
        obj = json.loads(frame)
    except ValueError:
        return None
    if not isinstance(obj, dict) or not isinstance(obj.get("stream"), str) or "data" not in obj:
        return None
    symbol, sep, stream = obj["stream"].partition("@")
    if not sep:
        return None
    return SourceFrame(recv_ns, symbol, stream,
                       json.dumps(obj["data"], separators=(",", ":"), ensure_ascii=False))


def read_capture(path: str | os.PathLike[str]) -> Iterator[SourceFrame]:
    """The frames of one capture file (gzip or plain text, lines read by
    :func:`binfeed.capture.read_frames`), in file order. Lines without a receive time
    (which could not be paced) and frames that are not a combined-stream envelope are
    skipped."""
    skipped = 0
    for _, recv_ns, raw in read_frames(path):
        frame = envelope_frame(recv_ns, raw.decode("utf-8")) if recv_ns else None
        if frame is None:
            skipped += 1
            continue
        yield frame
    if skipped:
        log.debug("%s: %d lines are not timed combined-stream frames (skipped)", path, skipped)


def load_capture(paths: Sequence[str | os.PathLike[str]]) -> list[SourceFrame]:
    """Every frame of the given capture files, merged by receive time."""
    return list(heapq.merge(*(read_capture(p) for p in paths), key=lambda f: f.recv_ns))


def capture_source(
    paths: Sequence[str | os.PathLike[str]],
    symbols: Iterable[str] | None = None,
) -> Source:
    """A source serving capture files (merged by receive time), optionally only some symbols.

    The files are read once, when this is called.
    """
    wanted = None if symbols is None else {stream_symbol(s) for s in symbols}
    frames = [f for f in load_capture(paths) if wanted is None or f.symbol in wanted]
    return lambda: frames


def list_source(frames: Iterable[SourceFrame]) -> Source:
    """A source serving the given frames (for tests and generated data)."""
    items = list(frames)
    return lambda: items


def bundled_sample() -> Path:
    """The real capture shipped with binfeed (BTCUSDT, 2024-08-09, see binfeed/data)."""
    return Path(__file__).resolve().parent.parent / "data" / "spot_btcusdt_20240808.gz"
