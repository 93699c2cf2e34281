"""What ``binfeed monitor`` shows, computed from batches of slots with numpy.

:class:`MonitorState` takes the batches a tailing :class:`~binfeed.queue.QueueReader`
returns and keeps, per record type and symbol, counts for the current interval and since
start, the latest quote and trade per symbol, the newest receive time (for the write lag),
gaps and connection events. Work per batch is a few vectorized passes plus a little Python
per symbol present in it, never per record, so it keeps up with a busy queue.
:meth:`MonitorState.report` turns an interval into a :class:`Report`; :func:`render_screen`
and :func:`render_line` format it for a terminal or as one JSON line.

No I/O here except what the caller passes in.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from binfeed.display import clip, duration, ljust, size, utc_time
from binfeed.export import CONNECTION_EVENT_NAMES, GAP_REASON_NAMES, STREAM_NAMES
from binfeed.queue import WriterStatus
from binfeed.records import (
    BOOK_TICKER_DTYPE,
    CONNECTION_DTYPE,
    GAP_DTYPE,
    TRADE_DTYPE,
    RecordType,
)
from binfeed.summary import GapSummary
from binfeed.symbols import stream_name

#: Type names as the monitor shows them: those of the JSON lines.
TYPE_NAMES = {int(t): t.json_name for t in RecordType}
_BT = int(RecordType.BOOK_TICKER)
_TR = int(RecordType.TRADE)
#: A write lag above this (seconds) while a writer is live is shown as stale.
STALE_AFTER_S = 5.0
RECENT_GAPS = 5


@dataclass(slots=True)
class Quote:
    """The latest bookTicker of a symbol."""

    update_id: int
    bid: float
    bid_qty: float
    ask: float
    ask_qty: float
    recv_ts_ns: int


@dataclass(slots=True)
class LastTrade:
    """The latest trade of a symbol."""

    trade_id: int
    price: float
    qty: float
    recv_ts_ns: int


@dataclass
class SymbolReport:
    """One symbol's line."""

    symbol: str
    rates: dict[str, float]
    totals: dict[str, int]
    quote: Quote | None
    trade: LastTrade | None


@dataclass
class Report:
    """One interval's view of the queue."""

    path: str
    now_ns: int
    interval_s: float
    elapsed_s: float
    records: int
    rate: float
    rates: dict[str, float]
    total: int
    totals: dict[str, int]
    last_recv_ns: int | None
    lag_s: float | None
    gaps_total: int
    gaps_new: int
    recent_gaps: list[GapSummary]
    connection_events: int
    last_connection: str | None
    symbols: list[SymbolReport]
    writer: WriterStatus | None = None
    segment_seq: int | None = None
    segment_index: int | None = None
    segment_capacity: int | None = None
    segments: int | None = None
    disk_bytes: int | None = None
    backlog: int = 0
    waiting: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def stale(self) -> bool:
        """The writer is live but nothing new arrived for a while."""
        return bool(self.writer and self.writer.live and self.lag_s is not None
                    and self.lag_s > STALE_AFTER_S)


class MonitorState:
    """Aggregates batches of slots between reports.

    Args:
        path: the queue (for the report).
        started_ns: wall-clock time the monitor started.
    """

    def __init__(self, path: str, started_ns: int) -> None:
        self.path = path
        self.started_ns = started_ns
        self.interval_started_ns = started_ns
        self.type_totals: dict[int, int] = {}
        self.type_interval: dict[int, int] = {}
        # (symbol_id, type) -> count
        self.sym_totals: dict[tuple[int, int], int] = {}
        self.sym_interval: dict[tuple[int, int], int] = {}
        self.quotes: dict[int, Quote] = {}
        self.trades: dict[int, LastTrade] = {}
        self.last_recv_ns: int | None = None
        self.gaps_total = 0
        self.gaps_interval = 0
        self.recent_gaps: deque[GapSummary] = deque(maxlen=RECENT_GAPS)
        self.connection_events = 0
        self.last_connection: str | None = None
        self.symbol_ids: dict[int, str] = {}

    # -- feeding ------------------------------------------------------------------------
    def seed(self, batch: np.ndarray, symbols: dict[int, str]) -> None:
        """Learns the latest quotes, trades, receive time and gaps from records written
        before the monitor started (not counted in rates or totals)."""
        self.symbol_ids.update(symbols)
        self._latest(batch)
        gaps = self._gaps(batch, symbols)
        self.recent_gaps.extend(gaps[-RECENT_GAPS:])

    def update(self, batch: np.ndarray, symbols: dict[int, str]) -> None:
        """Counts a batch of new slots (a :meth:`QueueReader.poll` result)."""
        if len(batch) == 0:
            return
        self.symbol_ids.update(symbols)
        types = batch["type"]
        counts = np.bincount(types)
        for t in np.flatnonzero(counts).tolist():
            c = int(counts[t])
            self.type_totals[t] = self.type_totals.get(t, 0) + c
            self.type_interval[t] = self.type_interval.get(t, 0) + c
        for rtype, dtype in ((_BT, BOOK_TICKER_DTYPE), (_TR, TRADE_DTYPE)):
            if rtype >= len(counts) or not counts[rtype]:
                continue
            ids = batch.view(dtype)["symbol_id"][types == rtype]
            uniq, cnt = np.unique(ids, return_counts=True)
            for sid, c in zip(uniq.tolist(), cnt.tolist(), strict=True):
                key = (sid, rtype)
                self.sym_totals[key] = self.sym_totals.get(key, 0) + c
                self.sym_interval[key] = self.sym_interval.get(key, 0) + c
        self._latest(batch)
        gaps = self._gaps(batch, symbols)
        self.gaps_total += len(gaps)
        self.gaps_interval += len(gaps)
        self.recent_gaps.extend(gaps)
        conn_idx = np.flatnonzero(types == RecordType.CONNECTION)
        if len(conn_idx):
            self.connection_events += len(conn_idx)
            c = batch[conn_idx[-1:]].view(CONNECTION_DTYPE)[0]
            event = CONNECTION_EVENT_NAMES.get(int(c["event"]), str(int(c["event"])))
            detail = bytes(c["detail"]).rstrip(b"\0").decode("utf-8", "replace")
            code = int(c["code"])
            self.last_connection = (f"{event} #{int(c['conn_id'])}"
                                    + (f" code {code}" if code else "")
                                    + (f" {detail}" if detail else ""))

    def _latest(self, batch: np.ndarray) -> None:
        if len(batch) == 0:
            return
        types = batch["type"]
        recv = batch["recv_ts_ns"]
        market = recv[(types == _BT) | (types == _TR)]
        newest = int(market.max()) if len(market) else int(recv.max())
        if newest and (self.last_recv_ns is None or newest > self.last_recv_ns):
            self.last_recv_ns = newest
        bt_idx = np.flatnonzero(types == _BT)
        if len(bt_idx):
            rows = batch.view(BOOK_TICKER_DTYPE)
            for i in _last_per_symbol(rows["symbol_id"][bt_idx]):
                r = rows[bt_idx[i]]
                self.quotes[int(r["symbol_id"])] = Quote(
                    int(r["seq"]), float(r["bid_price"]), float(r["bid_qty"]),
                    float(r["ask_price"]), float(r["ask_qty"]), int(r["recv_ts_ns"]))
        tr_idx = np.flatnonzero(types == _TR)
        if len(tr_idx):
            rows = batch.view(TRADE_DTYPE)
            for i in _last_per_symbol(rows["symbol_id"][tr_idx]):
                r = rows[tr_idx[i]]
                self.trades[int(r["symbol_id"])] = LastTrade(
                    int(r["trade_id"]), float(r["price"]), float(r["qty"]),
                    int(r["recv_ts_ns"]))

    @staticmethod
    def _gaps(batch: np.ndarray, symbols: dict[int, str]) -> list[GapSummary]:
        idx = np.flatnonzero(batch["type"] == RecordType.GAP)
        out = []
        for g in batch[idx].view(GAP_DTYPE):
            name = symbols.get(int(g["symbol_id"]), f"?{int(g['symbol_id'])}")
            stream = STREAM_NAMES.get(int(g["stream"]), str(int(g["stream"])))
            out.append(GapSummary(name, stream_name(name, stream),
                               GAP_REASON_NAMES.get(int(g["reason"]), str(int(g["reason"]))),
                               int(g["last_seq"]) or None, int(g["next_seq"]) or None,
                               int(g["recv_ts_ns"])))
        return out

    # -- reporting ----------------------------------------------------------------------
    def report(self, now_ns: int) -> Report:
        """The interval since the last report (or the start); starts a new interval."""
        dt = max((now_ns - self.interval_started_ns) / 1e9, 1e-9)
        records = sum(self.type_interval.values())
        ids = sorted({sid for sid, _ in self.sym_totals} | set(self.quotes) | set(self.trades),
                     key=lambda s: self.symbol_ids.get(s, f"?{s}"))
        symbols = []
        for sid in ids:
            rates = {TYPE_NAMES[t]: self.sym_interval.get((sid, t), 0) / dt for t in (_BT, _TR)}
            totals = {TYPE_NAMES[t]: self.sym_totals.get((sid, t), 0) for t in (_BT, _TR)}
            symbols.append(SymbolReport(self.symbol_ids.get(sid, f"?{sid}"), rates, totals,
                                        self.quotes.get(sid), self.trades.get(sid)))
        lag = None if self.last_recv_ns is None else (now_ns - self.last_recv_ns) / 1e9
        rep = Report(
            path=self.path, now_ns=now_ns, interval_s=dt,
            elapsed_s=(now_ns - self.started_ns) / 1e9, records=records, rate=records / dt,
            rates={TYPE_NAMES.get(t, str(t)): c / dt
                   for t, c in sorted(self.type_interval.items())},
            total=sum(self.type_totals.values()),
            totals={TYPE_NAMES.get(t, str(t)): c for t, c in sorted(self.type_totals.items())},
            last_recv_ns=self.last_recv_ns, lag_s=lag, gaps_total=self.gaps_total,
            gaps_new=self.gaps_interval, recent_gaps=list(self.recent_gaps),
            connection_events=self.connection_events, last_connection=self.last_connection,
            symbols=symbols)
        self.type_interval.clear()
        self.sym_interval.clear()
        self.gaps_interval = 0
        self.interval_started_ns = now_ns
        return rep


def _last_per_symbol(ids: np.ndarray) -> list[int]:
    """Index of the last row of each distinct id."""
    _, first_in_reversed = np.unique(ids[::-1], return_index=True)
    return (len(ids) - 1 - first_in_reversed).tolist()


# --------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------


def _writer_text(w: WriterStatus | None) -> str:
    if w is None:
        return "-"
    if w.live:
        return f"live: pid {w.pid} on {w.host} ({w.command}), since {utc_time(w.started_ns)}"
    if w.pid:
        return f"none live (last: pid {w.pid} on {w.host}, {w.command})"
    return "none"


def _num(v: float | None) -> str:
    return "-" if v is None else repr(v)


BOLD = "\x1b[1m"
DIM = "\x1b[2m"
RED = "\x1b[31m"
YELLOW = "\x1b[33m"
GREEN = "\x1b[32m"
REVERSE = "\x1b[7m"
RESET = "\x1b[0m"


def render_screen(rep: Report, width: int, height: int, color: bool = True) -> list[str]:
    """The terminal view of a report: lines without newlines, each at most ``width``
    visible characters (ANSI colors when ``color``), at most ``height`` lines."""

    def c(code: str, text: str) -> str:
        return f"{code}{text}{RESET}" if color else text

    lines: list[tuple[str, str]] = []  # (plain text, styled text)

    def add(plain: str, style: str = "") -> None:
        lines.append((plain, style))

    head = f"binfeed monitor  {rep.path}"
    right = f"{utc_time(rep.now_ns)}  Ctrl-C quits"
    pad = max(1, width - len(head) - len(right))
    add(head + " " * pad + right, REVERSE)
    if rep.waiting:
        add(f"waiting for the queue to appear ({rep.elapsed_s:.0f} s)", YELLOW)
        return _fit(lines, width, height, c)
    w = rep.writer
    add(f"writer   {_writer_text(w)}", GREEN if w and w.live else YELLOW)
    if rep.segment_seq is not None:
        fill = (f"{rep.segment_index:,} / {rep.segment_capacity:,} slots "
                f"({100 * (rep.segment_index or 0) / max(rep.segment_capacity or 1, 1):.0f}%)")
        add(f"segment  #{rep.segment_seq}  {fill}   segments {rep.segments} "
            f"({size(rep.disk_bytes)} on disk)"
            + (f"   reader backlog {rep.backlog:,}" if rep.backlog else ""))
    by_type = "  ".join(f"{k} {v:,.0f}/s" for k, v in rep.rates.items()
                        if k in ("bookTicker", "trade"))
    add(f"records  {rep.rate:,.0f}/s" + (f"  ({by_type})" if by_type else "")
        + f"   {rep.total:,} since start ({rep.elapsed_s:.0f} s)")
    lag_style = RED if rep.stale else ""
    newest = utc_time(rep.last_recv_ns)
    add(f"lag      {duration(rep.lag_s)} behind wall clock (newest record received {newest})"
        + ("  STALE" if rep.stale else ""), lag_style)
    gap_line = f"gaps     {rep.gaps_total} since start"
    if rep.recent_gaps:
        g = rep.recent_gaps[-1]
        gap_line += (f"   last: {utc_time(g.recv_ts_ns)} {g.stream} {g.reason} "
                     f"{g.last_seq or '-'}..{g.next_seq or '-'}")
    add(gap_line, RED if rep.gaps_new else "")
    add(f"conn     {rep.connection_events} events since start"
        + (f"   last: {rep.last_connection}" if rep.last_connection else ""))
    for note in rep.notes:
        add(note, YELLOW)
    add("")
    add(f"{'SYMBOL':<14}{'book/s':>9}{'trade/s':>9}  {'bid':>14} {'bid qty':>12} "
        f"{'ask':>14} {'ask qty':>12}  {'last trade':>14} {'qty':>12}  {'age':>8}", BOLD)
    room = height - len(lines)
    shown = rep.symbols if len(rep.symbols) <= room else rep.symbols[: max(room - 1, 0)]
    for s in shown:
        q, t = s.quote, s.trade
        newest_ns = max(q.recv_ts_ns if q else 0, t.recv_ts_ns if t else 0)
        age = duration((rep.now_ns - newest_ns) / 1e9) if newest_ns else "-"
        add(f"{ljust(s.symbol, 14)}{s.rates['bookTicker']:>9,.0f}{s.rates['trade']:>9,.0f}  "
            f"{_num(q.bid if q else None):>14} {_num(q.bid_qty if q else None):>12} "
            f"{_num(q.ask if q else None):>14} {_num(q.ask_qty if q else None):>12}  "
            f"{_num(t.price if t else None):>14} {_num(t.qty if t else None):>12}  {age:>8}")
    if len(shown) < len(rep.symbols):
        add(f"... {len(rep.symbols) - len(shown)} more symbols (a taller terminal shows them)",
            DIM)
    return _fit(lines, width, height, c)


def _fit(lines: list[tuple[str, str]], width: int, height: int,
         c: Callable[[str, str], str]) -> list[str]:
    out = []
    for plain, style in lines[:height]:
        text = clip(plain, width)
        out.append(c(style, text) if style else text)
    return out


def report_dict(rep: Report) -> dict[str, object]:
    """The report as plain JSON-able data (what :func:`render_line` prints)."""
    w = rep.writer
    doc: dict[str, object] = {
        "time": utc_time(rep.now_ns),
        "now_ns": rep.now_ns,
        "queue": rep.path,
        "waiting": rep.waiting,
        "interval_s": round(rep.interval_s, 6),
        "records": rep.records,
        "rate": round(rep.rate, 3),
        "rates": {k: round(v, 3) for k, v in rep.rates.items()},
        "total": rep.total,
        "totals": rep.totals,
        "last_recv_ns": rep.last_recv_ns,
        "lag_ms": None if rep.lag_s is None else round(rep.lag_s * 1e3, 3),
        "stale": rep.stale,
        "gaps": rep.gaps_total,
        "new_gaps": rep.gaps_new,
        "last_gap": None,
        "connection_events": rep.connection_events,
        "last_connection": rep.last_connection,
        "writer": None if w is None else {"live": w.live, "pid": w.pid, "host": w.host,
                                          "command": w.command},
        "segment": rep.segment_seq,
        "segment_index": rep.segment_index,
        "segment_capacity": rep.segment_capacity,
        "segments": rep.segments,
        "disk_bytes": rep.disk_bytes,
        "backlog": rep.backlog,
        "symbols": {},
    }
    if rep.recent_gaps:
        g = rep.recent_gaps[-1]
        doc["last_gap"] = {"stream": g.stream, "reason": g.reason, "last_seq": g.last_seq,
                           "next_seq": g.next_seq, "recv_ts_ns": g.recv_ts_ns}
    symbols: dict[str, object] = {}
    for s in rep.symbols:
        entry: dict[str, object] = {"rates": {k: round(v, 3) for k, v in s.rates.items()},
                                    "totals": s.totals}
        if s.quote:
            q = s.quote
            entry.update(update_id=q.update_id, bid=q.bid, bid_qty=q.bid_qty, ask=q.ask,
                         ask_qty=q.ask_qty, quote_recv_ns=q.recv_ts_ns)
        if s.trade:
            t = s.trade
            entry.update(trade_id=t.trade_id, price=t.price, qty=t.qty,
                         trade_recv_ns=t.recv_ts_ns)
        symbols[s.symbol] = entry
    doc["symbols"] = symbols
    return doc


def render_line(rep: Report) -> str:
    """One JSON object on one line (the non-terminal output of ``binfeed monitor``)."""
    return json.dumps(report_dict(rep), separators=(",", ":"))


__all__ = [
    "STALE_AFTER_S",
    "MonitorState",
    "Report",
    "render_line",
    "render_screen",
    "report_dict",
]
