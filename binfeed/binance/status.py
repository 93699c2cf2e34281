"""The recorder's status: a live line on a terminal, key=value lines otherwise.

:class:`StatusSnapshot` is taken from the recorder, the parser's counters and the writer
once a second (or at the end); the formatting functions are pure.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

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


def _age(age: float | None) -> str:
    return "-" if age is None else f"{age:.1f}s"


def status_line(s: StatusSnapshot, width: int = 200) -> str:
    """One terminal line: rate, records per type, per stream (records when the parser
    counts them, age of the stream's last frame), reconnects, gaps, last frame age."""
    parts = [
        time.strftime("%H:%M:%S"),
        f"{s.frames_per_second:,.0f} frames/s",
        f"bookTicker {s.book_tickers:,} trade {s.trades:,}",
    ]
    per_stream = []
    for st in s.streams:
        count = "" if st.records is None else f" {st.records:,}"
        age = "" if st.last_frame_age is None else f" {st.last_frame_age:.1f}s"
        flag = " SILENT" if st.silent else ""
        per_stream.append(f"{st.name}{count}{age}{flag}")
    if per_stream:
        parts.append(" ".join(per_stream))
    parts.append(f"conns {s.connections} reconnects {s.reconnects} gaps {s.gaps}")
    if s.malformed:
        parts.append(f"malformed {s.malformed}")
    if s.refused:
        parts.append(f"refused {','.join(s.refused)}")
    parts.append(f"last frame {_age(s.last_frame_age)} ago")
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
        "refused": ",".join(s.refused) or "-",
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

    Per-stream figures come from the parser when it offers them (``stream_stats()``:
    records and last receive time per stream); otherwise per-stream activity is followed
    through ``last_seq(symbol, stream)`` once per :meth:`tick`, and failing that only the
    totals are shown.

    Args:
        recorder: a :class:`binfeed.binance.supervisor.Recorder`.
        ingestor: the parser (``counters()``; optionally ``stream_stats()``, ``last_seq()``).
    """

    def __init__(self, recorder: object, ingestor: object) -> None:
        self._recorder = recorder
        self._ingestor = ingestor
        self._t0 = time.monotonic()
        self._last_tick = self._t0
        self._last_frames = 0
        self._rate = 0.0
        self._seen: dict[str, tuple[int, float | None]] = {}
        self._silent: set[str] = set()

    def _counters(self) -> dict[str, int]:
        get = getattr(self._ingestor, "counters", None)
        if get is None:
            return {}
        raw = get()
        if isinstance(raw, Mapping):
            return {k: int(v) for k, v in raw.items()}
        return {k: int(getattr(raw, k)) for k in dir(raw)
                if not k.startswith("_") and isinstance(getattr(raw, k), int)}

    def tick(self) -> None:
        """Updates the frame rate and per-stream activity (call about once a second)."""
        now = time.monotonic()
        frames = self._counters().get("frames", 0)
        if now > self._last_tick:
            self._rate = (frames - self._last_frames) / (now - self._last_tick)
        self._last_frames, self._last_tick = frames, now
        last_seq = getattr(self._ingestor, "last_seq", None)
        if last_seq is not None and not hasattr(self._ingestor, "stream_stats"):
            from binfeed.binance.supervisor import STREAM_CODES

            for stream in self._recorder.config.streams:  # type: ignore[attr-defined]
                seq = int(last_seq(stream.symbol, int(STREAM_CODES[stream.kind])))
                old = self._seen.get(stream.name)
                if old is None:
                    self._seen[stream.name] = (seq, now if seq else None)
                elif seq != old[0]:
                    self._seen[stream.name] = (seq, now)
        self._report_silence(now)

    def _report_silence(self, now: float) -> None:
        """Logs a stream that went silent (once) and when it delivers again; silence is
        reported, never reconnected for (see binfeed.binance.health)."""
        rec = self._recorder
        streams = self._streams(rec.config, rec.stats, now)  # type: ignore[attr-defined]
        silent = {st.name for st in streams if st.silent}
        for name in sorted(silent - self._silent):
            log.warning("%s: no frame for %.0f s or more (an unknown symbol, or a quiet "
                        "market); reported only, its connection delivers other frames",
                        name, rec.config.silent_after)  # type: ignore[attr-defined]
        for name in sorted(self._silent - silent):
            log.info("%s: frames again", name)
        self._silent = silent

    async def track(self, interval: float = 1.0) -> None:
        """Calls :meth:`tick` every ``interval`` seconds until cancelled."""
        import anyio

        while True:
            await anyio.sleep(interval)
            self.tick()

    def snapshot(self) -> StatusSnapshot:
        """What the status line and the summary show, now."""
        rec = self._recorder
        stats = rec.stats  # type: ignore[attr-defined]
        config = rec.config  # type: ignore[attr-defined]
        c = self._counters()
        now = time.monotonic()
        conns = rec.connections  # type: ignore[attr-defined]
        last_rx = max((conn.last_rx for conn in conns), default=None)
        streams = self._streams(config, stats, now)
        return StatusSnapshot(
            elapsed=now - self._t0,
            frames=c.get("frames", 0),
            frames_per_second=self._rate,
            book_tickers=c.get("book_tickers", 0),
            trades=c.get("trades", 0),
            duplicates=c.get("duplicates", 0),
            malformed=c.get("errors", 0),
            gaps=c.get("gaps", 0),
            connections=len(conns),
            connections_opened=stats.connections,
            reconnects=stats.reconnects,
            rotations=stats.rotations,
            stalls=stats.stalls,
            last_frame_age=None if last_rx is None else now - last_rx,
            streams=streams,
            refused=tuple(stats.refused),
        )

    def _streams(self, config: object, stats: object, now: float) -> list[StreamStatus]:
        silent_after = config.silent_after  # type: ignore[attr-defined]
        refused = set(stats.refused)  # type: ignore[attr-defined]
        per: dict[str, tuple[int | None, float | None]] = {}
        get = getattr(self._ingestor, "stream_stats", None)
        if get is not None:
            wall = time.time_ns()
            for name, records, last_ns in get():
                age = None if not last_ns else max(0.0, (wall - last_ns) / 1e9)
                per[name] = (records, age)
        else:
            for name, (_, seen) in self._seen.items():
                per[name] = (None, None if seen is None else now - seen)
        out = []
        for stream in config.streams:  # type: ignore[attr-defined]
            if stream.name in refused:
                continue
            records, age = per.get(stream.name, (None, None))
            since_start = now - self._t0
            silent = (age if age is not None else since_start) >= silent_after
            out.append(StreamStatus(stream.name, records, age, silent))
        return out
