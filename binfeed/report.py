"""A queue on one page: ``binfeed report DIR -o report.html``.

One self-contained HTML file (the figures are embedded PNGs, no script, no network) with:

1. **Records per second** per stream (``BTCUSDT bookTicker``), from the receive times;
2. **Mid price and spread** per symbol (the most active ones), from bookTicker;
3. **Exchange-to-receive latency** of trades: the receive time minus the trade's event
   time ``E``. The two clocks differ (this machine's and Binance's), so the figure is
   latency *plus* clock offset, and the page says so with its minimum and median: a
   negative minimum means the local clock is behind Binance's by at least that much.
   bookTicker frames carry no exchange time and are not in it;
4. **Gaps and connection events** on one timeline.

The data comes from :func:`binfeed.open` (the analysis API), as pandas DataFrames with the
JSON-lines columns; this module only draws. Long queues are binned: each figure has at most
:data:`MAX_BINS` points per line, whatever the queue's length.
"""

from __future__ import annotations

import base64
import html
import io
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from binfeed.display import duration, utc_time

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

#: Points per line at most (bins of one of :data:`BIN_SECONDS`).
MAX_BINS = 400
#: Bin widths to choose from, seconds.
BIN_SECONDS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 86400)
#: Symbols drawn in the mid/spread figure, the most active first.
MAX_SYMBOLS = 6
DPI = 100


@dataclass
class ReportData:
    """The tables a report draws (any may be empty), and facts for its header.

    Attributes:
        source: what the page is about (the queue's path).
        book: bookTicker rows: ``symbol``, ``bid_price``, ``ask_price``, ``recv_time``.
        trades: trade rows: ``symbol``, ``recv_ts_ns``, ``event_ts_us``, ``recv_time``.
        gaps: gap rows: ``symbol``, ``stream``, ``reason``, ``recv_time``.
        connections: connection rows: ``event``, ``recv_time`` (and what else they have).
        damage: damage reports met while reading (each one line).
    """

    source: str
    book: pd.DataFrame
    trades: pd.DataFrame
    gaps: pd.DataFrame
    connections: pd.DataFrame
    damage: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Section:
    """One part of the page: a heading, sentences, and a PNG (None: nothing to draw)."""

    title: str
    text: list[str]
    png: bytes | None


def bin_seconds(span_s: float) -> int:
    """The smallest bin of :data:`BIN_SECONDS` giving at most :data:`MAX_BINS` bins."""
    for width in BIN_SECONDS:
        if span_s / width <= MAX_BINS:
            return width
    return BIN_SECONDS[-1]


def build(data: ReportData) -> str:
    """The HTML page."""
    import matplotlib

    matplotlib.use("Agg", force=True)  # files only: never a window, never a display
    start, end = _time_range(data)
    width = bin_seconds((end - start) / 1e9 if start is not None and end is not None else 0.0)
    sections = [
        _rates(data, width),
        _mid_spread(data, width),
        _latency(data, width),
        _timeline(data),
    ]
    return _page(data, sections, start, end, width)


# ------------------------------------------------------------------------- figures
def _rates(data: ReportData, width: int) -> Section:
    title = "Records per second, per stream"
    frames = [(t, df) for t, df in (("bookTicker", data.book), ("trade", data.trades))
              if len(df)]
    if not frames:
        return Section(title, ["The queue holds no bookTicker or trade record."], None)
    fig, ax = _figure(1)
    for kind, df in frames:
        for symbol, rows in df.groupby("symbol", observed=True, sort=True):
            counts = rows.set_index("recv_time").resample(f"{width}s").size()
            ax[0].plot(counts.index, counts.to_numpy() / width, lw=1,
                       label=f"{symbol} {kind}")
    ax[0].set_ylabel("records/s")
    _legend(ax[0])
    return Section(title, [f"Receive times in bins of {_span(width)}; the rate is the "
                           "bin's count divided by its width."], _png(fig))


def _mid_spread(data: ReportData, width: int) -> Section:
    title = "Mid price and spread, per symbol"
    book = data.book
    if not len(book):
        return Section(title, ["The queue holds no bookTicker record."], None)
    counts = book["symbol"].value_counts()
    symbols = [s for s in counts.index[:MAX_SYMBOLS]]
    text = ["Mid = (bid + ask) / 2, last of each bin; spread = ask - bid in basis points "
            f"of the mid, mean of each bin ({_span(width)} bins)."]
    if len(counts) > MAX_SYMBOLS:
        text.append(f"The {MAX_SYMBOLS} most active of {len(counts)} symbols are drawn.")
    fig, axes = _figure(2 * len(symbols), height=2.2)
    for i, symbol in enumerate(symbols):
        rows = book[book["symbol"] == symbol].set_index("recv_time")
        mid = (rows["bid_price"] + rows["ask_price"]) / 2
        spread_bps = (rows["ask_price"] - rows["bid_price"]) / mid * 1e4
        ax_mid, ax_spread = axes[2 * i], axes[2 * i + 1]
        last = mid.resample(f"{width}s").last().dropna()
        ax_mid.plot(last.index, last.to_numpy(), lw=1, color="C0")
        ax_mid.set_ylabel(f"{symbol}\nmid")
        mean = spread_bps.resample(f"{width}s").mean().dropna()
        ax_spread.plot(mean.index, mean.to_numpy(), lw=1, color="C1")
        ax_spread.set_ylabel("spread\nbps")
    return Section(title, text, _png(fig))


def _latency(data: ReportData, width: int) -> Section:
    title = "Exchange-to-receive latency (trades)"
    trades = data.trades
    if not len(trades):
        return Section(title, ["The queue holds no trade record: bookTicker frames carry "
                               "no exchange time, so there is no latency to show."], None)
    import numpy as np

    lat_ms = (trades["recv_ts_ns"].to_numpy(np.int64) // 1000
              - trades["event_ts_us"].to_numpy(np.int64)) / 1000.0
    p = np.percentile(lat_ms, [0, 50, 99, 100])
    text = [
        f"Receive time minus the trade's event time E, {len(lat_ms):,} trades: minimum "
        f"{p[0]:.3f} ms, median {p[1]:.3f} ms, 99th percentile {p[2]:.3f} ms, maximum "
        f"{p[3]:.3f} ms.",
        "This is network and processing latency plus the offset between this machine's "
        "clock and Binance's, which a recording cannot separate. The minimum bounds the "
        "offset: " + (f"a negative minimum means the local clock is behind Binance's by at "
                      f"least {-p[0]:.3f} ms." if p[0] < 0 else
                      f"the local clock is at most {p[0]:.3f} ms ahead of Binance's.")]
    fig, (hist, series) = _figure(2, sharex=False)
    lo, hi = np.percentile(lat_ms, [0.5, 99.5])
    shown = lat_ms[(lat_ms >= lo) & (lat_ms <= hi)]
    hist.hist(shown, bins=100, color="C2")
    hist.set_xlabel("ms (0.5th to 99.5th percentile)")
    hist.set_ylabel("trades")
    s = trades.assign(lat=lat_ms).set_index("recv_time")["lat"]
    binned = s.resample(f"{width}s")
    for q, style in ((0.5, "-"), (0.99, ":")):
        line = binned.quantile(q).dropna()
        series.plot(line.index, line.to_numpy(), style, lw=1, color="C2",
                    label=f"p{int(q * 100)}")
    series.set_ylabel("ms")
    _legend(series)
    return Section(title, text, _png(fig))


def _timeline(data: ReportData) -> Section:
    title = "Gaps and connection events"
    gaps, conns = data.gaps, data.connections
    if not len(gaps) and not len(conns):
        return Section(title, ["No gap and no connection record: the queue was not "
                               "recorded live (an import), or nothing happened."], None)
    rows: list[tuple[str, Any]] = []
    for stream, g in (gaps.groupby("stream", observed=True, sort=True) if len(gaps)
                      else []):
        rows.append((f"gap {stream}", g["recv_time"]))
    for event, c in (conns.groupby("event", observed=True, sort=True) if len(conns)
                     else []):
        rows.append((str(event), c["recv_time"]))
    fig, (ax,) = _figure(1, height=0.45 * len(rows) + 1.2)
    for y, (label, times) in enumerate(rows):
        marker = "x" if label.startswith("gap") else "|"
        ax.plot(times, [y] * len(times), marker, ms=9, mew=1.5,
                color="C3" if marker == "x" else "C0")
    ax.set_yticks(range(len(rows)), [label for label, _ in rows])
    ax.set_ylim(-0.7, len(rows) - 0.3)
    reasons = gaps["reason"].value_counts().to_dict() if len(gaps) else {}
    text = [f"{len(gaps):,} gap record(s)"
            + (" (" + ", ".join(f"{k}: {v}" for k, v in reasons.items()) + ")" if reasons
               else "") + f", {len(conns):,} connection record(s)."]
    return Section(title, text, _png(fig))


# ------------------------------------------------------------------------- the page
def _page(data: ReportData, sections: Sequence[Section], start: int | None,
          end: int | None, width: int) -> str:
    facts = [("queue", data.source),
             ("bookTicker records", f"{len(data.book):,}"),
             ("trade records", f"{len(data.trades):,}"),
             ("gap records", f"{len(data.gaps):,}"),
             ("connection records", f"{len(data.connections):,}")]
    if start is not None and end is not None:
        facts += [("first record", utc_time(start)), ("last record", utc_time(end)),
                  ("span", _span((end - start) / 1e9))]
    symbols = sorted(set(data.book.get("symbol", [])) | set(data.trades.get("symbol", [])))
    facts.append(("symbols", ", ".join(map(str, symbols)) or "none"))
    out = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
           f"<title>binfeed report: {html.escape(data.source)}</title>",
           "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;"
           "color:#222}table{border-collapse:collapse}td,th{padding:2px 12px 2px 0;"
           "text-align:left}img{max-width:100%}.damage{color:#a00}</style>",
           "</head>", "<body>", f"<h1>binfeed report: {html.escape(data.source)}</h1>",
           '<table class="facts">']
    out += [f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in facts]
    out.append("</table>")
    if data.damage:
        out.append(f'<p class="damage">{len(data.damage)} damage report(s) while reading; '
                   "damaged records are not in the figures (run <code>binfeed verify</code>):"
                   "</p><ul class=\"damage\">")
        out += [f"<li>{html.escape(d)}</li>" for d in data.damage[:50]]
        out.append("</ul>")
    for section in sections:
        out.append(f"<section><h2>{html.escape(section.title)}</h2>")
        out += [f"<p>{html.escape(t)}</p>" for t in section.text]
        if section.png is not None:
            b64 = base64.b64encode(section.png).decode()
            out.append(f'<img alt="{html.escape(section.title)}" '
                       f'src="data:image/png;base64,{b64}">')
        out.append("</section>")
    out.append(f"<p><small>Made by binfeed on {utc_time(time.time_ns())}; times are "
               f"receive times (UTC), bins of {_span(width)}.</small></p>")
    out += ["</body>", "</html>", ""]
    return "\n".join(out)


def _time_range(data: ReportData) -> tuple[int | None, int | None]:
    times = [df["recv_time"] for df in (data.book, data.trades, data.gaps, data.connections)
             if len(df)]
    if not times:
        return None, None
    first = min(int(t.min().value) for t in times)  # ns: exact, unlike to_pydatetime
    last = max(int(t.max().value) for t in times)
    return first, last


def _figure(rows: int, height: float = 3.0, sharex: bool = True) -> tuple[Figure, list[Any]]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, max(2.0, height * rows if rows > 1 else height)), dpi=DPI,
                 layout="constrained")
    axes = fig.subplots(rows, 1, sharex=sharex and rows > 1, squeeze=False)[:, 0]
    for ax in axes:
        ax.grid(True, alpha=0.3)
    return fig, list(axes)


def _legend(ax: Any) -> None:
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper left", fontsize="small", ncols=2)


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _span(seconds: float) -> str:
    return duration(seconds) if not math.isnan(seconds) else "-"
