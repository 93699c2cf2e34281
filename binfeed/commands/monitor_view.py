"""How ``binfeed monitor`` shows a :class:`~binfeed.monitor.Report`: a terminal screen
(:func:`render_screen`) or one JSON line (:func:`render_line`, :func:`report_dict`)."""

from __future__ import annotations

import json
from collections.abc import Callable

from binfeed.display import clip, duration, ljust, size, utc_time
from binfeed.monitor import Report
from binfeed.queue import WriterStatus


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
