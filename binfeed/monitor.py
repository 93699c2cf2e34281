"""What ``binfeed monitor`` shows, computed from batches of slots with numpy.

:class:`MonitorState` takes the batches a tailing :class:`~binfeed.queue.QueueReader`
returns and keeps, per record type and symbol, counts for the current interval and since
start, the latest quote and trade per symbol, the newest receive time (for the write lag),
gaps and connection events. Work per batch is a few vectorized passes plus a little Python
per symbol present in it, never per record, so it keeps up with a busy queue.
:meth:`MonitorState.report` turns an interval into a :class:`Report`, which
:mod:`binfeed.commands.monitor_view` shows on a terminal or as one JSON line.

No I/O here except what the caller passes in.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

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


__all__ = [
    "STALE_AFTER_S",
    "MonitorState",
    "Report",
]
