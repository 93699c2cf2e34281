"""Turning batches of slots into JSON lines, CSV rows and numpy tables.

The JSON-lines shape is a contract: one object per record, numbers printed so
that ``float()`` gives the stored double back exactly (Python's shortest round-trip repr),
symbols as the queue stores them (ASCII letters upper-case, other characters as they are:
``"币安人生USDT"``, in UTF-8, never ``\\u``-escaped; a ``"``, ``\\`` or control character,
which only a foreign writer could store, is escaped as JSON requires), times as integers.
Fields after the documented ones may be added; documented ones keep their names and
meaning. CSV fields are quoted when they hold a comma, a quote or a line break.

npz tables (``replay --format npz``) keep symbols as codes into one ``symbols`` array per
file (:func:`npz_symbols`), not as a string per row.

Formatting works on whole batches (columns pulled out with numpy, then one ``%`` format per
record), so replaying a day of a busy symbol runs at about a million records per second.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np

from binfeed.records import (
    BOOK_TICKER_DTYPE,
    CONNECTION_DTYPE,
    GAP_DTYPE,
    RECOVERY_DTYPE,
    SYMBOL_DTYPE,
    TRADE_BEST_MATCH,
    TRADE_BEST_MATCH_KNOWN,
    TRADE_BUYER_IS_MAKER,
    TRADE_DTYPE,
    ConnectionEvent,
    GapReason,
    RecordType,
    RecoveryEvent,
    Stream,
)
from binfeed.symbols import stream_name

GAP_REASON_NAMES = {int(r): r.name.lower() for r in GapReason}
CONNECTION_EVENT_NAMES = {int(e): e.name.lower() for e in ConnectionEvent}
RECOVERY_EVENT_NAMES = {int(e): e.name.lower() for e in RecoveryEvent}
STREAM_NAMES = {int(s): s.wire_name for s in Stream}

Formatter = Callable[[np.ndarray, dict[int, str], "set[int] | None", bool], list[str]]

_BOOK_JSON = ('{"type":"bookTicker","symbol":"%s","update_id":%d,"bid_price":%r,"bid_qty":%r,'
              '"ask_price":%r,"ask_qty":%r,"recv_ts_ns":%d')
_TRADE_JSON = ('{"type":"trade","symbol":"%s","trade_id":%d,"price":%r,"qty":%r,'
               '"trade_ts_ms":%d,"event_ts_ms":%d,"buyer_is_maker":%s,"recv_ts_ns":%d,'
               '"best_match":%s,"trade_ts_us":%d,"event_ts_us":%d}')
_GAP_JSON = ('{"type":"gap","symbol":"%s","stream":"%s","last_seq":%s,"next_seq":%s,'
             '"reason":"%s","recv_ts_ns":%d}')

CSV_HEADER = ("type,symbol,seq,recv_ts_ns,bid_price,bid_qty,ask_price,ask_qty,price,qty,"
              "trade_ts_ms,event_ts_ms,buyer_is_maker,best_match,timestamp_ms,stream,last_seq,"
              "next_seq,reason,trade_ts_us,event_ts_us")


@functools.lru_cache(maxsize=65536)
def json_text(text: str) -> str:
    """``text`` as the inside of a JSON string: UTF-8 as it is, '"', '\\' and control
    characters escaped."""
    return json.dumps(text, ensure_ascii=False)[1:-1]


@functools.lru_cache(maxsize=65536)
def _csv_text(text: str) -> str:
    """``text`` as one CSV field (RFC 4180: quoted only when it must be)."""
    if any(c in text for c in ',"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def _quoted_names(symbols: Mapping[int, str], quote: Callable[[str], str]) -> dict[int, str]:
    """id -> name as one output format writes it (each name escaped once, not per record)."""
    return {sid: quote(name) for sid, name in symbols.items()}


def _json_bool(v: bool | None) -> str:
    return "null" if v is None else ("true" if v else "false")


def _opt_int(v: int) -> str:
    return str(v) if v else "null"


def _select(
    batch: np.ndarray, rtype: RecordType, dtype: np.dtype, wanted: set[int] | None
) -> tuple[np.ndarray, np.ndarray]:
    """Indices into batch and typed rows of one record type (optionally some symbols)."""
    idx = np.flatnonzero(batch["type"] == rtype)
    rows = batch[idx].view(dtype)
    if wanted is not None and len(rows):
        keep = np.isin(rows["symbol_id"], np.fromiter(wanted, np.uint64, len(wanted)))
        idx, rows = idx[keep], rows[keep]
    return idx, rows


def _trade_flags(flags: list[int]) -> tuple[list[bool], list[bool | None]]:
    maker = [bool(f & TRADE_BUYER_IS_MAKER) for f in flags]
    best = [bool(f & TRADE_BEST_MATCH) if f & TRADE_BEST_MATCH_KNOWN else None for f in flags]
    return maker, best


def _book_rows(batch: np.ndarray, wanted: set[int] | None) -> Iterator[tuple[Any, ...]]:
    """(index, symbol_id, update_id, bid, bid_qty, ask, ask_qty, recv_ts_ns, timestamp_us)
    of the batch's BOOK_TICKER records, as Python values, in queue order."""
    idx, r = _select(batch, RecordType.BOOK_TICKER, BOOK_TICKER_DTYPE, wanted)
    return zip(idx.tolist(), r["symbol_id"].tolist(), r["seq"].tolist(),
               r["bid_price"].tolist(), r["bid_qty"].tolist(), r["ask_price"].tolist(),
               r["ask_qty"].tolist(), r["recv_ts_ns"].tolist(), r["timestamp"].tolist(),
               strict=True)


def _trade_rows(batch: np.ndarray, wanted: set[int] | None) -> Iterator[tuple[Any, ...]]:
    """(index, symbol_id, trade_id, price, qty, trade_ts_us, event_ts_us, buyer_is_maker,
    best_match or None, recv_ts_ns) of the batch's TRADE records."""
    idx, r = _select(batch, RecordType.TRADE, TRADE_DTYPE, wanted)
    maker, best = _trade_flags(r["trade_flags"].tolist())
    return zip(idx.tolist(), r["symbol_id"].tolist(), r["trade_id"].tolist(),
               r["price"].tolist(), r["qty"].tolist(), r["trade_ts_us"].tolist(),
               r["event_ts_us"].tolist(), maker, best, r["recv_ts_ns"].tolist(), strict=True)


def _gap_rows(batch: np.ndarray, wanted: set[int] | None) -> Iterator[tuple[Any, ...]]:
    """(index, symbol_id, stream, last_seq, next_seq, reason, recv_ts_ns) of GAP records."""
    idx, r = _select(batch, RecordType.GAP, GAP_DTYPE, wanted)
    return zip(idx.tolist(), r["symbol_id"].tolist(), r["stream"].tolist(),
               r["last_seq"].tolist(), r["next_seq"].tolist(), r["reason"].tolist(),
               r["recv_ts_ns"].tolist(), strict=True)


def jsonl_lines(
    batch: np.ndarray,
    symbols: dict[int, str],
    wanted: set[int] | None = None,
    include_all: bool = False,
) -> list[str]:
    """JSON lines for a batch of slots, in queue order.

    Args:
        batch: slots (:data:`binfeed.records.SLOT_DTYPE`), e.g. from ``QueueReader.poll``.
        symbols: id -> name, already holding every id used in the batch.
        wanted: symbol ids to keep (None: all).
        include_all: also emit SYMBOL and CONNECTION records (default: market data and gaps).
    """
    out: list[str | None] = [None] * len(batch)
    sym = _quoted_names(symbols, json_text).get
    for i, s, u, bp, bq, ap, aq, rt, t in _book_rows(batch, wanted):
        line = _BOOK_JSON % (sym(s, "?"), u, bp, bq, ap, aq, rt)
        out[i] = line + (',"timestamp_ms":%d,"timestamp_us":%d}' % (t // 1000, t) if t
                         else "}")
    for i, s, tid, p, q, tt, et, m, b, rt in _trade_rows(batch, wanted):
        out[i] = _TRADE_JSON % (sym(s, "?"), tid, p, q, tt // 1000, et // 1000, _json_bool(m),
                                rt, _json_bool(b), tt, et)
    for i, s, st, ls, ns, why, rt in _gap_rows(batch, wanted):
        stream = json_text(stream_name(symbols.get(s, "?"), STREAM_NAMES.get(st, str(st))))
        out[i] = _GAP_JSON % (sym(s, "?"), stream, _opt_int(ls), _opt_int(ns),
                              GAP_REASON_NAMES.get(why, str(why)), rt)
    if include_all:
        _control_json(batch, out)
    return [line for line in out if line is not None]


def _control_json(batch: np.ndarray, out: list[str | None]) -> None:
    idx = np.flatnonzero(batch["type"] == RecordType.SYMBOL)
    r = batch[idx].view(SYMBOL_DTYPE)
    for i, sid, name, rt in zip(idx.tolist(), r["symbol_id"].tolist(), r["name"].tolist(),
                                r["recv_ts_ns"].tolist(), strict=True):
        out[i] = ('{"type":"symbol","symbol_id":%d,"symbol":"%s","recv_ts_ns":%d}'
                  % (sid, json_text(name.decode("utf-8", "replace")), rt))
    idx = np.flatnonzero(batch["type"] == RecordType.CONNECTION)
    r = batch[idx].view(CONNECTION_DTYPE)
    for i, ev, cid, code, detail, rt in zip(
        idx.tolist(), r["event"].tolist(), r["conn_id"].tolist(), r["code"].tolist(),
        r["detail"].tolist(), r["recv_ts_ns"].tolist(), strict=True,
    ):
        out[i] = ('{"type":"connection","event":"%s","conn_id":%d,"code":%d,"detail":%s,'
                  '"recv_ts_ns":%d}' % (CONNECTION_EVENT_NAMES.get(ev, str(ev)), cid, code,
                                        json.dumps(detail.decode("utf-8", "replace")), rt))
    idx = np.flatnonzero(batch["type"] == RecordType.RECOVERY)
    r = batch[idx].view(RECOVERY_DTYPE)
    for i, ev, seq, slot, count, detail, rt in zip(
        idx.tolist(), r["event"].tolist(), r["segment_seq"].tolist(), r["slot"].tolist(),
        r["count"].tolist(), r["detail"].tolist(), r["recv_ts_ns"].tolist(), strict=True,
    ):
        out[i] = ('{"type":"recovery","event":"%s","segment_seq":%d,"slot":%d,"count":%d,'
                  '"detail":%s,"recv_ts_ns":%d}' % (RECOVERY_EVENT_NAMES.get(ev, str(ev)), seq,
                                                    slot, count,
                                                    json.dumps(detail.decode("utf-8",
                                                                             "replace")), rt))


def csv_lines(
    batch: np.ndarray,
    symbols: dict[int, str],
    wanted: set[int] | None = None,
    include_all: bool = False,
) -> list[str]:
    """CSV rows (see :data:`CSV_HEADER`) for market data and gaps, in queue order."""
    out: list[str | None] = [None] * len(batch)
    sym = _quoted_names(symbols, _csv_text).get
    for i, s, u, bp, bq, ap, aq, rt, t in _book_rows(batch, wanted):
        out[i] = "bookTicker,%s,%d,%d,%r,%r,%r,%r,,,,,,,%s,,,,,," % (
            sym(s, "?"), u, rt, bp, bq, ap, aq, t // 1000 if t else "")
    for i, s, tid, p, q, tt, et, m, b, rt in _trade_rows(batch, wanted):
        out[i] = "trade,%s,%d,%d,,,,,%r,%r,%d,%d,%s,%s,,,,,,%d,%d" % (
            sym(s, "?"), tid, rt, p, q, tt // 1000, et // 1000, _json_bool(m),
            "" if b is None else _json_bool(b), tt, et)
    for i, s, st, ls, ns, why, rt in _gap_rows(batch, wanted):
        name = symbols.get(s, "?")
        out[i] = "gap,%s,,%d,,,,,,,,,,,,%s,%s,%s,%s,," % (
            _csv_text(name), rt, _csv_text(stream_name(name, STREAM_NAMES.get(st, str(st)))),
            ls or "", ns or "", GAP_REASON_NAMES.get(why, str(why)))
    del include_all  # CSV carries market data and gaps only
    return [line for line in out if line is not None]


#: numpy tables written by ``replay --format npz``. ``symbol`` is a code: the row's symbol
#: is ``symbols[code]``, ``symbols`` being the file's table of names (:func:`npz_symbols`).
NPZ_BOOK_TICKER = np.dtype([("symbol", "<i4"), ("update_id", "<u8"), ("bid_price", "<f8"),
                            ("bid_qty", "<f8"), ("ask_price", "<f8"), ("ask_qty", "<f8"),
                            ("timestamp_ms", "<u8"), ("recv_ts_ns", "<u8")])
NPZ_TRADE = np.dtype([("symbol", "<i4"), ("trade_id", "<u8"), ("price", "<f8"), ("qty", "<f8"),
                      ("trade_ts_ms", "<u8"), ("event_ts_ms", "<u8"), ("buyer_is_maker", "?"),
                      ("best_match", "i1"), ("recv_ts_ns", "<u8"), ("trade_ts_us", "<u8"),
                      ("event_ts_us", "<u8")])
NPZ_GAP = np.dtype([("symbol", "<i4"), ("stream", "U16"), ("reason", "U16"),
                    ("last_seq", "<u8"), ("next_seq", "<u8"), ("recv_ts_ns", "<u8")])


def npz_symbols(symbols: dict[int, str]) -> np.ndarray:
    """The names of symbol ids 1, 2, ... as the ``symbols`` array of an npz file: code
    ``id - 1`` names id's symbol (``?`` for an id no SYMBOL record defined)."""
    size = max(symbols, default=0)
    return np.array([symbols.get(i, "?") for i in range(1, size + 1)],
                    dtype=f"U{max(1, *(len(n) for n in symbols.values()))}"
                    if symbols else "U1")


def _codes(ids: np.ndarray) -> np.ndarray:
    return ids.astype(np.int64) - 1


def npz_tables(
    batch: np.ndarray, symbols: dict[int, str], wanted: set[int] | None = None
) -> dict[str, np.ndarray]:
    """Plain (copied) numpy tables per record type for one batch; their ``symbol`` codes
    index :func:`npz_symbols` of the queue's names."""
    del symbols  # the rows hold codes; names go once into the file's `symbols` array
    _, r = _select(batch, RecordType.BOOK_TICKER, BOOK_TICKER_DTYPE, wanted)
    bt = np.empty(len(r), NPZ_BOOK_TICKER)
    bt["symbol"] = _codes(r["symbol_id"])
    bt["update_id"] = r["seq"]
    for f in ("bid_price", "bid_qty", "ask_price", "ask_qty", "recv_ts_ns"):
        bt[f] = r[f]
    bt["timestamp_ms"] = r["timestamp"] // 1000
    _, r = _select(batch, RecordType.TRADE, TRADE_DTYPE, wanted)
    tr = np.empty(len(r), NPZ_TRADE)
    tr["symbol"] = _codes(r["symbol_id"])
    for f in ("trade_id", "price", "qty", "recv_ts_ns", "trade_ts_us", "event_ts_us"):
        tr[f] = r[f]
    tr["trade_ts_ms"] = r["trade_ts_us"] // 1000
    tr["event_ts_ms"] = r["event_ts_us"] // 1000
    flags = r["trade_flags"]
    tr["buyer_is_maker"] = (flags & TRADE_BUYER_IS_MAKER) != 0
    tr["best_match"] = np.where((flags & TRADE_BEST_MATCH_KNOWN) != 0,
                                ((flags & TRADE_BEST_MATCH) != 0).astype(np.int8), -1)
    _, r = _select(batch, RecordType.GAP, GAP_DTYPE, wanted)
    gp = np.empty(len(r), NPZ_GAP)
    gp["symbol"] = _codes(r["symbol_id"])
    gp["stream"] = [STREAM_NAMES.get(int(s), str(s)) for s in r["stream"]]
    gp["reason"] = [GAP_REASON_NAMES.get(int(s), str(s)) for s in r["reason"]]
    for f in ("last_seq", "next_seq", "recv_ts_ns"):
        gp[f] = r[f]
    return {"book_ticker": bt, "trade": tr, "gap": gp}
