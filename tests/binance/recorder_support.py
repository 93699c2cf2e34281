"""Helpers of the recorder tests: real captures, a real server, the real parser and queue."""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import anyio

from binfeed.binance.endpoint import Endpoint
from binfeed.binance.server import BinanceServer
from binfeed.binance.sources import SourceFrame, load_capture
from binfeed.binance.streams import StreamId, StreamKind, stream_ids
from binfeed.binance.supervisor import Recorder, RecorderConfig, open_recorder
from binfeed.queue import QueueReader
from binfeed.records import BookTicker, Connection, ConnectionEvent, Gap, Trade

DATA = Path(__file__).resolve().parent.parent / "data" / "binance"
CAPTURES = sorted(DATA.glob("spot_*usdt_20240808.gz"))
BOTH = [StreamKind.BOOK_TICKER, StreamKind.TRADE]

_frames: list[SourceFrame] | None = None


def capture_frames() -> list[SourceFrame]:
    """Both real captures (BTCUSDT and ETHUSDT, 2024-08-09), merged by receive time."""
    global _frames
    if _frames is None:
        _frames = load_capture(CAPTURES)
    return _frames


def values_of(frame: SourceFrame) -> tuple:
    """What the queue must hold for a source frame: (seq, values...) parsed by Python."""
    d = json.loads(frame.payload)
    if frame.stream == "bookTicker":
        return (d["u"], float(d["b"]), float(d["B"]), float(d["a"]), float(d["A"]))
    return (d["t"], float(d["p"]), float(d["q"]), d["T"], d["E"], d["m"], d.get("M"))


def values_of_record(rec: BookTicker | Trade) -> tuple:
    if isinstance(rec, BookTicker):
        return (rec.update_id, rec.bid_price, rec.bid_qty, rec.ask_price, rec.ask_qty)
    return (rec.trade_id, rec.price, rec.qty, rec.trade_ts_ms, rec.event_ts_ms,
            rec.buyer_is_maker, rec.best_match)


def expected_by_stream(frames: Iterable[SourceFrame],
                       streams: Iterable[StreamId]) -> dict[str, list[tuple]]:
    names = {s.name for s in streams}
    out: dict[str, list[tuple]] = defaultdict(list)
    for f in frames:
        if f.name in names:
            out[f.name].append(values_of(f))
    return dict(out)


@dataclass
class Stored:
    """A queue's content, grouped."""

    by_stream: dict[str, list[tuple]] = field(default_factory=lambda: defaultdict(list))
    recv_ts: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    gaps: list[Gap] = field(default_factory=list)
    connections: list[Connection] = field(default_factory=list)

    def events(self, event: ConnectionEvent) -> list[Connection]:
        return [c for c in self.connections if c.event == event]

    @property
    def total(self) -> int:
        return sum(len(v) for v in self.by_stream.values())


def read_queue(path: Path) -> Stored:
    out = Stored()
    with QueueReader(path) as reader:
        for rec in reader.records():
            if isinstance(rec, BookTicker | Trade):
                kind = "bookTicker" if isinstance(rec, BookTicker) else "trade"
                name = f"{rec.symbol.lower()}@{kind}"
                out.by_stream[name].append(values_of_record(rec))
                out.recv_ts[name].append(rec.recv_ts_ns)
            elif isinstance(rec, Gap):
                out.gaps.append(rec)
            elif isinstance(rec, Connection):
                out.connections.append(rec)
    return out


def count_records(path: Path) -> int:
    try:
        with QueueReader(path) as reader:
            return sum(1 for r in reader.records() if isinstance(r, BookTicker | Trade))
    except Exception:  # the queue may not exist yet
        return 0


def assert_exact_subsequence(stored: list[tuple], expected: list[tuple]) -> None:
    """Every stored record is a source frame with exactly its values, once, in order."""
    by_seq = {e[0]: e for e in expected}
    seqs = [s[0] for s in stored]
    assert seqs == sorted(set(seqs)), "records out of order or doubled"
    for rec in stored:
        assert rec == by_seq[rec[0]], f"record {rec} differs from the frame {by_seq.get(rec[0])}"


def assert_contiguous(stored: list[tuple], expected: list[tuple]) -> None:
    """Stored is exactly the source between its first and last record: nothing lost or
    doubled inside the recorded range."""
    assert stored, "nothing recorded"
    seqs = [e[0] for e in expected]
    i, j = seqs.index(stored[0][0]), seqs.index(stored[-1][0])
    assert stored == expected[i : j + 1]


def config_for(server: BinanceServer, symbols: list[str], kinds: list[StreamKind] = BOTH,
               **options: object) -> RecorderConfig:
    """A recorder config with test-sized timeouts (overridable)."""
    defaults: dict[str, object] = {
        "stall_timeout": 5.0, "backoff_base": 0.05, "backoff_cap": 0.5, "close_timeout": 0.5,
        "open_timeout": 5.0, "sync_interval": 0.5,
    }
    defaults.update(options)
    return RecorderConfig(Endpoint.parse(server.url), stream_ids(symbols, kinds),
                          **defaults)  # type: ignore[arg-type]


async def record_until(config: RecorderConfig, queue: Path, until: Callable[[Recorder], bool],
                       *, limit: float = 20.0, segment_slots: int = 0) -> Recorder:
    """Runs the recorder (real parser, real queue) until ``until(recorder)`` or ``limit``
    seconds; the queue is sealed at the end."""
    with open_recorder(queue, config, segment_slots=segment_slots) as recorder:
        deadline = time.monotonic() + limit
        async with anyio.create_task_group() as tg:
            await tg.start(recorder.run)
            while not until(recorder):
                if time.monotonic() > deadline:
                    tg.cancel_scope.cancel()
                    raise AssertionError(f"condition not reached within {limit} s; "
                                         f"recorder stats: {recorder.stats}")
                await anyio.sleep(0.02)
            tg.cancel_scope.cancel()
        recorder.ingestor_counters = recorder.ingestor.counters()
    return recorder


def idle(server: BinanceServer, seconds: float = 0.3) -> Callable[[Recorder], bool]:
    """True ``seconds`` after the server played its whole source and flushed it to every
    connection (time for the recorder to read what the sockets still hold)."""
    flushed_at: list[float] = []

    def check(recorder: Recorder) -> bool:
        done = server.finished.is_set() and recorder.connections and all(
            not c.outbox for c in server.live.values())
        if not done:
            flushed_at.clear()
            return False
        if not flushed_at:
            flushed_at.append(time.monotonic())
        return time.monotonic() - flushed_at[0] >= seconds

    return check
