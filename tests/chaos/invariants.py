"""The chaos invariants, checked from a recorded queue alone plus the serving server's own
report (``binfeed replay --serve --stats FILE``, :mod:`binfeed.binance.server_report`).

Given the frames the server served (their index is their position), the queue a recorder
wrote and the streams it subscribed to, :func:`check` verifies:

1. **every frame sent is stored once, in order, exact**: for each subscribed stream, the
   frames the report says were sent on any connection (the union of its runs) are exactly
   the stream's market-data records in the queue, each once, in the served order, every
   field equal to the frame's JSON (parsed here by :mod:`json`, an oracle independent of
   the C parser); frames whose write failed (``unconfirmed``) may be stored or not;
2. **every interval without a connection is covered by a GAP**: wherever frames of a
   stream were sent to nobody between two of its stored records (the recorder was away), a
   GAP record of that stream with ``last_seq``/``next_seq`` equal to those two records'
   sequence numbers lies between them; and every GAP in the queue is well formed (it
   precedes the record it names, after the one it names);
3. **nothing is stored that was not subscribed**;
4. **the client never sent more than 5 messages in any rolling second** (pings, pongs and
   control messages, as Binance counts them), computed from the times in the report, and
   was never closed for it.

Optionally (:func:`check` ``no_loss=True``, for faults a recorder must ride out without
losing anything: a pause, a rotation, ``serverShutdown``, malformed frames) there must be
no such interval at all. The report's own consistency (each run holds the frames it
claims) is checked first, so that a failure points at the recorder, not the server.
"""

from __future__ import annotations

import itertools
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from binfeed.binance.server_report import COUNTED, max_in_window
from binfeed.binance.sources import SourceFrame
from binfeed.queue import QueueReader
from binfeed.records import BookTicker, Gap, Trade

#: Binance's incoming-message limit: messages per rolling window of seconds.
LIMIT, WINDOW = 5, 1.0
#: Violations listed per invariant in a failure message (the count is always given).
SHOWN = 8


def frame_values(frame: SourceFrame) -> tuple[Any, ...]:
    """What the queue must hold for a frame, field by field, from its JSON: (seq, ...).
    Exchange times are milliseconds on the wire (Binance's default), microseconds stored."""
    d = json.loads(frame.payload)
    if frame.stream == "bookTicker":
        return (d["u"], d["s"], float(d["b"]), float(d["B"]), float(d["a"]), float(d["A"]),
                d.get("E", 0) * 1000)
    return (d["t"], d["s"], float(d["p"]), float(d["q"]), d["T"] * 1000, d["E"] * 1000,
            d["m"], d.get("M"))


def record_values(rec: BookTicker | Trade) -> tuple[Any, ...]:
    if isinstance(rec, BookTicker):
        return (rec.update_id, rec.symbol, rec.bid_price, rec.bid_qty, rec.ask_price,
                rec.ask_qty, rec.timestamp_us)
    return (rec.trade_id, rec.symbol, rec.price, rec.qty, rec.trade_ts_us, rec.event_ts_us,
            rec.buyer_is_maker, rec.best_match)


def _ascii_lower(text: str) -> str:
    return "".join(c.lower() if c.isascii() else c for c in text)


def stream_of(rec: BookTicker | Trade | Gap) -> str:
    """The Binance stream name a record came from (symbols: ASCII letters lowered only)."""
    if isinstance(rec, Gap):
        kind = rec.stream.wire_name
    else:
        kind = "bookTicker" if isinstance(rec, BookTicker) else "trade"
    return f"{_ascii_lower(rec.symbol)}@{kind}"


@dataclass
class Verdict:
    """What :func:`check` found: violations per invariant, and figures for the docs."""

    violations: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    figures: dict[str, Any] = field(default_factory=dict)

    def add(self, invariant: str, message: str) -> None:
        self.violations[invariant].append(message)

    @property
    def holds(self) -> bool:
        return not any(self.violations.values())

    def explain(self) -> str:
        lines = []
        for invariant, found in self.violations.items():
            if found:
                lines.append(f"{invariant}: {len(found)} violation(s)")
                lines.extend(f"    {m}" for m in found[:SHOWN])
                if len(found) > SHOWN:
                    lines.append(f"    ... and {len(found) - SHOWN} more")
        lines.append(f"figures: {self.figures}")
        return "\n".join(lines)


def load_report(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def read_market_and_gaps(queue: Path) -> list[BookTicker | Trade | Gap]:
    """The queue's market-data and GAP records, in queue order."""
    with QueueReader(queue) as reader:
        return [r for r in reader.records() if isinstance(r, BookTicker | Trade | Gap)]


def _expand(runs: Iterable[dict[str, Any]], stream: str, by_index: dict[int, int],
            positions: Sequence[int], verdict: Verdict, where: str) -> set[int]:
    """The served indices of ``stream`` a report's runs cover (checking each run's count)."""
    out: set[int] = set()
    for run in runs:
        if run["stream"] != stream:
            continue
        first, last = by_index.get(run["first"]), by_index.get(run["last"])
        if first is None or last is None or last < first:
            verdict.add("the report is consistent", f"{where}: run {run} is not of {stream}")
            continue
        covered = positions[first:last + 1]
        if len(covered) != run["frames"]:
            verdict.add("the report is consistent",
                        f"{where}: run {run} spans {len(covered)} frames of {stream}")
        out.update(covered)
    return out


def check(frames: Sequence[SourceFrame], report: dict[str, Any],
          records: Sequence[BookTicker | Trade | Gap], subscribed: Iterable[str], *,
          no_loss: bool = False) -> Verdict:
    """Checks the invariants (see the module doc).

    Args:
        frames: what the server served, in order (index = position).
        report: the server's ``--stats`` report.
        records: the queue's market-data and GAP records in queue order
            (:func:`read_market_and_gaps`).
        subscribed: the stream names the recorder was told to record.
        no_loss: also require that no frame of a subscribed stream was sent to nobody
            between the first and the last one stored.
    """
    verdict = Verdict()
    wanted = set(subscribed)
    connections = report["connections"]

    # 3. nothing unsubscribed
    for rec in records:
        if isinstance(rec, BookTicker | Trade) and stream_of(rec) not in wanted:
            verdict.add("nothing stored that was not subscribed",
                        f"stored {stream_of(rec)} seq {record_values(rec)[0]}")

    # 4. the client's messages
    worst = 0
    for conn in connections:
        times = [t for t, kind in conn["client_messages"] if kind in COUNTED]
        most = max_in_window(times, WINDOW)
        worst = max(worst, most)
        if most > LIMIT:
            verdict.add(f"at most {LIMIT} client messages in any rolling second",
                        f"connection {conn['number']}: {most} within {WINDOW:g} s "
                        f"({len(times)} in all: {_kinds(conn)})")
        if conn["closed_by_rate_limit"]:
            verdict.add(f"at most {LIMIT} client messages in any rolling second",
                        f"connection {conn['number']} was closed with 1008 for it")

    # 1. and 2., stream by stream
    positions: dict[str, list[int]] = defaultdict(list)
    for i, f in enumerate(frames):
        positions[f.name].append(i)
    totals = {"sent": 0, "stored": 0, "lost": 0, "holes": 0, "frames_in_holes": 0, "gaps": 0}
    for stream in sorted(wanted):
        pos = positions.get(stream, [])
        by_index = {idx: k for k, idx in enumerate(pos)}
        sent: set[int] = set()
        unconfirmed: set[int] = set()
        for conn in connections:
            where = f"connection {conn['number']}"
            sent |= _expand(conn["sent"], stream, by_index, pos, verdict, where)
            unconfirmed |= _expand(conn["unconfirmed"], stream, by_index, pos, verdict, where)
        seq_index = {frame_values(frames[i])[0]: i for i in pos}
        stored: list[tuple[int, BookTicker | Trade]] = []  # (served index, record)
        gaps_at: dict[int, list[Gap]] = defaultdict(list)  # stored position -> GAPs before it
        pending: list[Gap] = []
        for rec in records:
            if stream_of(rec) != stream:
                continue
            if isinstance(rec, Gap):
                pending.append(rec)
                continue
            seq = record_values(rec)[0]
            idx = seq_index.get(seq)
            if idx is None:
                verdict.add("every frame sent is stored once, in order, exact",
                            f"{stream}: stored seq {seq}, which the server never had")
                continue
            if idx not in sent and idx not in unconfirmed:
                verdict.add("every frame sent is stored once, in order, exact",
                            f"{stream}: stored frame {idx} (seq {seq}), sent on no connection")
            if stored and idx <= stored[-1][0]:
                verdict.add("every frame sent is stored once, in order, exact",
                            f"{stream}: frame {idx} (seq {seq}) stored after frame "
                            f"{stored[-1][0]}: " + ("twice" if idx == stored[-1][0]
                                                    else "out of order"))
                continue
            want = frame_values(frames[idx])
            got = record_values(rec)
            if got != want:
                verdict.add("every frame sent is stored once, in order, exact",
                            f"{stream}: frame {idx} stored as {got}, sent as {want}")
            gaps_at[len(stored)] = pending
            pending = []
            stored.append((idx, rec))
        verdict.figures.setdefault("gaps_after_the_last_record", 0)
        verdict.figures["gaps_after_the_last_record"] += len(pending)
        stored_set = {i for i, _ in stored}
        lost = sorted(sent - stored_set)
        for idx in lost[:SHOWN]:
            verdict.add("every frame sent is stored once, in order, exact",
                        f"{stream}: frame {idx} (seq {frame_values(frames[idx])[0]}) was sent "
                        f"on {_carriers(connections, stream, idx, pos, by_index)} and is not "
                        "in the queue")
        if len(lost) > SHOWN:
            verdict.add("every frame sent is stored once, in order, exact",
                        f"{stream}: {len(lost) - SHOWN} more frames sent and not stored "
                        f"({len(lost)} in all, of {len(sent)} sent)")
        holes = 0
        for k in range(1, len(stored)):
            (a, ra), (b, rb) = stored[k - 1], stored[k]
            seq_a, seq_b = record_values(ra)[0], record_values(rb)[0]
            missing = by_index[b] - by_index[a] - 1  # frames of the stream sent to nobody
            for gap in gaps_at[k]:
                if (gap.last_seq, gap.next_seq) != (seq_a, seq_b):
                    verdict.add("every interval without a connection is covered by a GAP",
                                f"{stream}: GAP {gap.last_seq}->{gap.next_seq} "
                                f"({gap.reason.name}) stands between seq {seq_a} and {seq_b}")
            if missing <= 0:
                continue
            holes += 1
            totals["frames_in_holes"] += missing
            if no_loss:
                verdict.add("nothing lost (this fault loses nothing)",
                            f"{stream}: {missing} frames between seq {seq_a} and {seq_b} "
                            "were sent on no connection")
            if not any((g.last_seq, g.next_seq) == (seq_a, seq_b) for g in gaps_at[k]):
                verdict.add("every interval without a connection is covered by a GAP",
                            f"{stream}: {missing} frames missing between seq {seq_a} and "
                            f"{seq_b} (frames {a}..{b}) and no GAP there")
        if stored and gaps_at[0]:
            verdict.add("every interval without a connection is covered by a GAP",
                        f"{stream}: GAP before the first record {record_values(stored[0][1])[0]}")
        totals["sent"] += len(sent)
        totals["stored"] += len(stored)
        totals["lost"] += len(lost)
        totals["holes"] += holes
        totals["gaps"] += sum(len(v) for v in gaps_at.values())
    verdict.figures.update(totals)
    verdict.figures["connections"] = len(connections)
    verdict.figures["max_client_messages_per_second"] = worst
    verdict.figures["reconnect_s"] = reconnect_times(report)
    return verdict


def _kinds(conn: dict[str, Any]) -> str:
    counts: dict[str, int] = defaultdict(int)
    for _, kind in conn["client_messages"]:
        counts[kind] += 1
    return ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))


def _carriers(connections: Sequence[dict[str, Any]], stream: str, idx: int,
              pos: Sequence[int], by_index: dict[int, int]) -> str:
    names = []
    for conn in connections:
        for run in conn["sent"]:
            if run["stream"] == stream and run["first"] <= idx <= run["last"]:
                names.append(f"connection {conn['number']} ({conn['ended']})")
    return ", ".join(names) or "?"


def reconnect_times(report: dict[str, Any]) -> list[float]:
    """Seconds from each connection's end to the next connection's opening (the
    recorder's downtime per drop, as the server saw it), in order."""
    conns = sorted(report["connections"], key=lambda c: c["opened_at"])
    out = []
    for prev, nxt in itertools.pairwise(conns):
        if prev["closed_at"] is not None and nxt["opened_at"] >= prev["closed_at"]:
            out.append(round(nxt["opened_at"] - prev["closed_at"], 3))
    return out


def sent_span(frames: Sequence[SourceFrame], report: dict[str, Any],
              subscribed: Iterable[str]) -> int:
    """Frames of the subscribed streams the server played from the first frame it sent to
    the last (what it had to send while the recorder was there)."""
    wanted = set(subscribed)
    firsts = [r["first"] for c in report["connections"] for r in c["sent"]
              if r["stream"] in wanted]
    lasts = [r["last"] for c in report["connections"] for r in c["sent"]
             if r["stream"] in wanted]
    if not firsts:
        return 0
    lo, hi = min(firsts), max(lasts)
    return sum(1 for f in frames[lo:hi + 1] if f.name in wanted)


def assert_holds(verdict: Verdict) -> None:
    assert verdict.holds, "chaos invariants violated:\n" + verdict.explain()
