"""The recorder's status (``record``, ``demo``): a live line on a terminal, else key=value.

:class:`RecordingStatus` takes a :class:`StatusSnapshot` from the recorder, its parser's
counters and per-stream figures (``Ingestor.stream_stats()``) once a second (or at the end);
the formatting functions are pure. Silent streams are the protocol core's verdict
(:func:`binfeed.binance.health.silent_streams`): logged once, flagged, never reconnected for.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import anyio

from binfeed.binance.health import silent_streams
from binfeed.binance.supervisor import Recorder
from binfeed.display import duration

log = logging.getLogger("binfeed.record")


@dataclass(frozen=True)
class StreamStatus:
    """One stream: records stored so far (None when not known) and seconds since its last
    frame (None: none yet)."""

    name: str
    records: int | None
    last_frame_age: float | None
    silent: bool = False


@dataclass(frozen=True)
class StatusSnapshot:
    """Everything the status line shows."""

    elapsed: float
    frames: int
    frames_per_second: float
    book_tickers: int
    trades: int
    duplicates: int
    malformed: int
    gaps: int
    connections: int
    connections_opened: int
    reconnects: int
    rotations: int
    stalls: int
    last_frame_age: float | None
    streams: Sequence[StreamStatus] = field(default_factory=tuple)
    refused: Sequence[str] = field(default_factory=tuple)
    #: seconds without a subscribed connection after drops (binfeed.binance.plan.Downtime)
    downtime_last: float = 0.0
    downtime_max: float = 0.0
    downtime_total: float = 0.0
    down_now: int = 0  # shards without a connection right now
    unsubscribed: int = 0  # frames of streams not subscribed: counted, not stored
    unsubscribed_streams: Sequence[str] = field(default_factory=tuple)
    held_dropped: int = 0  # frames held for a SUBSCRIBE and dropped before its reply


def status_line(s: StatusSnapshot, width: int = 200) -> str:
    """One terminal line: rate, records per type, per stream (records when the parser
    counts them, age of the stream's last frame), reconnects, gaps, downtime after drops
    (last, longest, total), last frame age."""
    parts = [
        time.strftime("%H:%M:%S"),
        f"{s.frames_per_second:,.0f} frames/s",
        f"bookTicker {s.book_tickers:,} trade {s.trades:,}",
    ]
    per_stream = []
    for st in s.streams:
        count = "" if st.records is None else f" {st.records:,}"
        age = "" if st.last_frame_age is None else f" {duration(st.last_frame_age)}"
        flag = " SILENT" if st.silent else ""
        per_stream.append(f"{st.name}{count}{age}{flag}")
    if per_stream:
        parts.append(" ".join(per_stream))
    parts.append(f"conns {s.connections} reconnects {s.reconnects} gaps {s.gaps}")
    if s.malformed:
        parts.append(f"malformed {s.malformed}")
    if s.unsubscribed:
        parts.append(f"unsubscribed {s.unsubscribed:,}")
    if s.held_dropped:
        parts.append(f"held dropped {s.held_dropped:,}")
    if s.refused:
        parts.append(f"refused {','.join(s.refused)}")
    if s.last_frame_age is None:
        parts.append("no frame yet")
    else:
        parts.append(f"last frame {duration(s.last_frame_age)} ago")
    if s.reconnects or s.down_now:
        now = " DOWN NOW" if s.down_now else ""
        parts.append(f"down last {duration(s.downtime_last)} max {duration(s.downtime_max)} "
                     f"total {duration(s.downtime_total)}{now}")
    line = " | ".join(parts)
    return line if len(line) <= width else line[: width - 1] + "…"


def summary_lines(s: StatusSnapshot) -> list[str]:
    """Quiet, parseable output: one ``key=value ...`` line, then one per stream."""
    head = {
        "elapsed_s": f"{s.elapsed:.1f}",
        "frames": s.frames,
        "book_tickers": s.book_tickers,
        "trades": s.trades,
        "duplicates": s.duplicates,
        "malformed": s.malformed,
        "gaps": s.gaps,
        "connections": s.connections_opened,
        "reconnects": s.reconnects,
        "rotations": s.rotations,
        "stalls": s.stalls,
        "downtime_last_s": f"{s.downtime_last:.3f}",
        "downtime_max_s": f"{s.downtime_max:.3f}",
        "downtime_total_s": f"{s.downtime_total:.3f}",
        "refused": ",".join(s.refused) or "-",
        "unsubscribed": s.unsubscribed,
        "unsubscribed_streams": ",".join(s.unsubscribed_streams) or "-",
        "held_dropped": s.held_dropped,
    }
    lines = ["record " + _kv(head)]
    for st in s.streams:
        lines.append("stream " + _kv({
            "name": st.name,
            "records": "-" if st.records is None else st.records,
            "last_frame_age_s": "-" if st.last_frame_age is None else f"{st.last_frame_age:.1f}",
            "silent": "yes" if st.silent else "no",
        }))
    return lines


def _kv(items: Mapping[str, object]) -> str:
    return " ".join(f"{k}={v}" for k, v in items.items())


class RecordingStatus:
    """Builds :class:`StatusSnapshot` from a running recorder and its parser.

    Args:
        recorder: the recorder (its parser is ``recorder.ingestor``).
    """

    def __init__(self, recorder: Recorder) -> None:
        self._recorder = recorder
        self._t0 = time.monotonic()
        self._last_tick = self._t0
        self._last_frames = 0
        self._rate = 0.0
        self._silent: set[str] = set()

    def tick(self) -> None:
        """Updates the frame rate and reports streams going silent or coming back (call
        about once a second)."""
        now = time.monotonic()
        frames = self._recorder.ingestor.counters().frames
        if now > self._last_tick:
            self._rate = (frames - self._last_frames) / (now - self._last_tick)
        self._last_frames, self._last_tick = frames, now
        self._report_silence(now)

    def _report_silence(self, now: float) -> None:
        """Logs a stream that went silent (once) and when it delivers again."""
        silent = {st.name for st in self._streams(now) if st.silent}
        for name in sorted(silent - self._silent):
            log.warning("%s: no frame for %.0f s or more (an unknown symbol, or a quiet "
                        "market); reported only, its connection delivers other frames",
                        name, self._recorder.config.silent_after)
        for name in sorted(self._silent - silent):
            log.info("%s: frames again", name)
        self._silent = silent

    async def track(self, interval: float = 1.0) -> None:
        """Calls :meth:`tick` every ``interval`` seconds until cancelled."""
        while True:
            await anyio.sleep(interval)
            self.tick()

    def snapshot(self) -> StatusSnapshot:
        """What the status line and the summary show, now."""
        rec = self._recorder
        stats = rec.stats
        c = rec.ingestor.counters()
        now = time.monotonic()
        conns = rec.connections
        last_rx = max((conn.last_rx for conn in conns), default=None)
        down = rec.plan.downtime(now)
        return StatusSnapshot(
            elapsed=now - self._t0,
            frames=c.frames,
            frames_per_second=self._rate,
            book_tickers=c.book_tickers,
            trades=c.trades,
            duplicates=c.duplicates,
            malformed=c.errors,
            gaps=c.gaps,
            connections=len(conns),
            connections_opened=stats.connections,
            reconnects=stats.reconnects,
            rotations=stats.rotations,
            stalls=stats.stalls,
            last_frame_age=None if last_rx is None else now - last_rx,
            streams=self._streams(now),
            refused=tuple(stats.refused),
            downtime_last=down.last,
            downtime_max=down.max,
            downtime_total=down.total,
            down_now=down.down_now,
            unsubscribed=c.unsubscribed,
            unsubscribed_streams=tuple(sorted(stats.filtered.unsubscribed)),
            held_dropped=stats.filtered.held_dropped,
        )

    def _streams(self, now: float) -> list[StreamStatus]:
        """Every stream recorded and not refused: the parser's records and last receive
        time, and the protocol core's silence verdict."""
        rec = self._recorder
        wall = time.time_ns()
        per: dict[str, tuple[int | None, float | None]] = {}
        for name, records, last_ns in rec.ingestor.stream_stats():
            per[name] = (records, None if not last_ns else max(0.0, (wall - last_ns) / 1e9))
        refused = set(rec.stats.refused)
        wanted = [(s.name, *per.get(s.name, (None, None))) for s in rec.plan.streams
                  if s.name not in refused]
        last_seen = {name: None if age is None else now - age for name, _, age in wanted}
        silent = set(silent_streams(last_seen, self._t0, now, rec.config.silent_after))
        # Streams unsubscribed since (delisted) keep their line if they recorded anything.
        wanted += [(s.name, *per[s.name]) for s in rec.plan.removed if s.name in per]
        return [StreamStatus(name, records, age, name in silent)
                for name, records, age in wanted]
