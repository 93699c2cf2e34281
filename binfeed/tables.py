"""The columns of each record type, named and valued as its JSON lines (``binfeed replay
--format jsonl``), plus receive and exchange times as timestamps.

C copies the raw fields of the records of one type out of verified slots
(:class:`Gatherer`, ``bf_py_gather_slots`` in ``csrc/src/tables.c``: offsets from the
record dtypes of :mod:`binfeed.records`, which take them from C); this module turns them
into the columns the JSON lines have, with numpy over whole columns. Nothing here needs
pyarrow: :mod:`binfeed.arrow` makes Arrow, pandas and polars tables of these columns.

A record type's columns (:data:`SCHEMAS`) are every key of its JSON line, in the same order
and with the same values, then the times as ``timestamp[ns, UTC]``: ``recv_time`` (all
types), ``trade_time`` and ``event_time`` (trades). Integers are int64, prices and quantities
float64, booleans bool, strings dictionary-encoded (``category``). Keys a JSON line prints as
``null`` or leaves out are nullable columns: ``best_match`` (absent on futures), gaps'
``last_seq``/``next_seq`` (0 = not known), bookTicker's ``timestamp_ms``/``timestamp_us``
(Binance Spot sends none: always null there).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from binfeed._ffi import ffi
from binfeed.export import (
    CONNECTION_EVENT_NAMES,
    GAP_REASON_NAMES,
    RECOVERY_EVENT_NAMES,
    STREAM_NAMES,
)
from binfeed.queue.runs import RunReader
from binfeed.records import (
    DTYPES,
    TRADE_BEST_MATCH,
    TRADE_BEST_MATCH_KNOWN,
    TRADE_BUYER_IS_MAKER,
    RecordType,
)
from binfeed.symbols import stream_name

__all__ = ["SCHEMAS", "TYPE_NAMES", "Column", "Gatherer", "SymbolCodes", "type_mask"]

#: The tables: the ``type`` of each record type's JSON line (``RecordType.json_name``).
TYPE_NAMES: dict[str, RecordType] = {
    t.json_name: t for t in (RecordType.BOOK_TICKER, RecordType.TRADE, RecordType.GAP,
                             RecordType.CONNECTION, RecordType.RECOVERY, RecordType.SYMBOL)}

#: Column kinds: int64, float64, bool, timestamp (int64 ns since the epoch, UTC),
#: category (int codes into ``categories``), string.
Kind = str

#: Per table: (column, kind, nullable), in order: the JSON line's keys, then the times.
SCHEMAS: dict[str, tuple[tuple[str, Kind, bool], ...]] = {
    "bookTicker": (
        ("type", "category", False), ("symbol", "category", False),
        ("update_id", "int64", False), ("bid_price", "float64", False),
        ("bid_qty", "float64", False), ("ask_price", "float64", False),
        ("ask_qty", "float64", False), ("recv_ts_ns", "int64", False),
        ("timestamp_ms", "int64", True), ("timestamp_us", "int64", True),
        ("recv_time", "timestamp", False),
    ),
    "trade": (
        ("type", "category", False), ("symbol", "category", False),
        ("trade_id", "int64", False), ("price", "float64", False), ("qty", "float64", False),
        ("trade_ts_ms", "int64", False), ("event_ts_ms", "int64", False),
        ("buyer_is_maker", "bool", False), ("recv_ts_ns", "int64", False),
        ("best_match", "bool", True), ("trade_ts_us", "int64", False),
        ("event_ts_us", "int64", False), ("recv_time", "timestamp", False),
        ("trade_time", "timestamp", False), ("event_time", "timestamp", False),
    ),
    "gap": (
        ("type", "category", False), ("symbol", "category", False),
        ("stream", "category", False), ("last_seq", "int64", True),
        ("next_seq", "int64", True), ("reason", "category", False),
        ("recv_ts_ns", "int64", False), ("recv_time", "timestamp", False),
    ),
    "connection": (
        ("type", "category", False), ("event", "category", False),
        ("conn_id", "int64", False), ("code", "int64", False), ("detail", "string", False),
        ("recv_ts_ns", "int64", False), ("recv_time", "timestamp", False),
    ),
    "recovery": (
        ("type", "category", False), ("event", "category", False),
        ("segment_seq", "int64", False), ("slot", "int64", False),
        ("count", "int64", False), ("detail", "string", False),
        ("recv_ts_ns", "int64", False), ("recv_time", "timestamp", False),
    ),
    "symbol": (
        ("type", "category", False), ("symbol_id", "int64", False),
        ("symbol", "category", False), ("recv_ts_ns", "int64", False),
        ("recv_time", "timestamp", False),
    ),
}

#: The slot fields C copies per table (names of the record dtypes' fields).
#: Tables of :data:`HAS_SYMBOL` get their symbols' codes from C too, as ``symbol``.
_RAW: dict[str, tuple[str, ...]] = {
    "bookTicker": ("seq", "bid_price", "bid_qty", "ask_price", "ask_qty", "recv_ts_ns",
                   "timestamp"),
    "trade": ("trade_id", "price", "qty", "trade_ts_us", "event_ts_us", "trade_flags",
              "recv_ts_ns"),
    "gap": ("stream", "last_seq", "next_seq", "reason", "recv_ts_ns"),
    "connection": ("event", "conn_id", "code", "detail", "recv_ts_ns"),
    "recovery": ("event", "segment_seq", "slot", "count", "detail", "recv_ts_ns"),
    "symbol": ("symbol_id", "name", "recv_ts_ns"),
}

#: Tables whose records belong to a symbol, which ``symbols`` selects (the others are kept
#: whatever it says; symbol definitions are not market data of their symbol).
HAS_SYMBOL = frozenset(("bookTicker", "trade", "gap"))


def type_mask(names: list[str] | tuple[str, ...]) -> int:
    """The set of record types of these tables as C's ``BFR_TYPE_BIT`` mask."""
    mask = 0
    for name in names:
        mask |= 1 << int(TYPE_NAMES[name])
    return mask


@dataclass(frozen=True, slots=True)
class Column:
    """One column of a batch.

    Attributes:
        kind: see :data:`Kind`.
        values: the values (codes for ``category``; Python strings for ``string``).
        valid: False where the value is null; None when none is.
        categories: what a ``category`` column's codes stand for.
    """

    kind: Kind
    values: np.ndarray
    valid: np.ndarray | None = None
    categories: tuple[str, ...] | None = None


Batch = dict[str, Column]


class SymbolCodes:
    """Dictionary codes of symbol ids for one read: categories only grow, so the codes of
    every batch of the read stay valid; they start as the selected names, sorted.

    Args:
        selected: the names kept (upper-case); empty: every name of the queue.
    """

    def __init__(self, selected: frozenset[str] = frozenset()) -> None:
        self._selected = selected
        self._names: list[str] = []
        self._code: dict[str, int] = {}
        self._lut = np.zeros(0, np.int32)
        self._known: dict[int, str] = {}

    def update(self, symbols: Mapping[int, str]) -> None:
        """Takes the queue's id -> name table (as a reader has learnt it so far)."""
        if len(symbols) == len(self._known):
            return
        new = {i: n for i, n in symbols.items() if i not in self._known}
        self._known.update(new)
        for name in sorted(set(new.values())):
            if (not self._selected or name in self._selected) and name not in self._code:
                self._code[name] = len(self._names)
                self._names.append(name)
        size = max(self._known) + 1
        lut = np.full(size, -1, np.int32)
        for sid, name in self._known.items():
            lut[sid] = self._code.get(name, -1)
        self._lut = lut

    @property
    def categories(self) -> tuple[str, ...]:
        return tuple(self._names)

    @property
    def lut(self) -> np.ndarray:
        """``lut[id]``: the code of symbol id (-1: not selected, or not defined)."""
        return self._lut

    def column(self, codes: np.ndarray) -> Column:
        """The symbol column of these codes (from :attr:`lut`); an id no SYMBOL record
        defined (-1) is ``?``, as in the JSON lines."""
        if len(codes) and int(codes.min()) < 0:
            if "?" not in self._code:
                self._code["?"] = len(self._names)
                self._names.append("?")
            codes = np.where(codes < 0, np.int32(self._code["?"]), codes)
        return Column("category", codes, None, self.categories)


def _constant(name: str, n: int) -> Column:
    return Column("category", np.zeros(n, np.int8), None, (name,))


def _named(values: np.ndarray, names: Mapping[int, str]) -> Column:
    """A category column of small integers through a name map (unknown values as digits,
    as the JSON lines print them)."""
    uniq, codes = np.unique(values, return_inverse=True)
    cats = tuple(names.get(int(v), str(int(v))) for v in uniq)
    return Column("category", codes.astype(np.int32).reshape(-1), None, cats)


def _i64(a: np.ndarray) -> Column:
    return Column("int64", a.view(np.int64) if a.dtype.kind == "u" and a.itemsize == 8
                  else a.astype(np.int64))


def _text(raw: np.ndarray) -> Column:
    values = np.array([b.decode("utf-8", "replace") for b in raw.tolist()], dtype=object)
    return Column("string", values)


def _book_ticker(raw: dict[str, np.ndarray], codes: SymbolCodes) -> Batch:
    n = len(raw["seq"])
    ts = raw["timestamp"].view(np.int64)
    has_ts = ts != 0
    # Binance Spot sends no exchange time: all null, and zeros need no division
    ts_ms = ts // 1000 if has_ts.any() else ts
    recv = raw["recv_ts_ns"].view(np.int64)
    return {
        "type": _constant("bookTicker", n), "symbol": codes.column(raw["symbol"]),
        "update_id": _i64(raw["seq"]),
        "bid_price": Column("float64", raw["bid_price"]),
        "bid_qty": Column("float64", raw["bid_qty"]),
        "ask_price": Column("float64", raw["ask_price"]),
        "ask_qty": Column("float64", raw["ask_qty"]),
        "recv_ts_ns": Column("int64", recv),
        "timestamp_ms": Column("int64", ts_ms, has_ts),
        "timestamp_us": Column("int64", ts, has_ts),
        "recv_time": Column("timestamp", recv),
    }


def _trade(raw: dict[str, np.ndarray], codes: SymbolCodes) -> Batch:
    n = len(raw["trade_id"])
    flags = raw["trade_flags"]
    tt = raw["trade_ts_us"].view(np.int64)
    et = raw["event_ts_us"].view(np.int64)
    recv = raw["recv_ts_ns"].view(np.int64)
    return {
        "type": _constant("trade", n), "symbol": codes.column(raw["symbol"]),
        "trade_id": _i64(raw["trade_id"]),
        "price": Column("float64", raw["price"]), "qty": Column("float64", raw["qty"]),
        "trade_ts_ms": Column("int64", tt // 1000),
        "event_ts_ms": Column("int64", et // 1000),
        "buyer_is_maker": Column("bool", (flags & TRADE_BUYER_IS_MAKER) != 0),
        "recv_ts_ns": Column("int64", recv),
        "best_match": Column("bool", (flags & TRADE_BEST_MATCH) != 0,
                             (flags & TRADE_BEST_MATCH_KNOWN) != 0),
        "trade_ts_us": Column("int64", tt), "event_ts_us": Column("int64", et),
        "recv_time": Column("timestamp", recv),
        "trade_time": Column("timestamp", tt * 1000),
        "event_time": Column("timestamp", et * 1000),
    }


def _gap(raw: dict[str, np.ndarray], codes: SymbolCodes) -> Batch:
    n = len(raw["recv_ts_ns"])
    symbol = codes.column(raw["symbol"])
    assert symbol.categories is not None
    # the stream's name is symbol@kind, as streams spell it: one per (symbol, stream) pair
    pair = symbol.values.astype(np.int64) << 32 | raw["stream"].astype(np.int64)
    uniq, inv = np.unique(pair, return_inverse=True)
    streams = tuple(stream_name(symbol.categories[p >> 32],
                                STREAM_NAMES.get(p & 0xFFFFFFFF, str(p & 0xFFFFFFFF)))
                    for p in uniq.tolist())
    last = raw["last_seq"].view(np.int64)
    nxt = raw["next_seq"].view(np.int64)
    recv = raw["recv_ts_ns"].view(np.int64)
    return {
        "type": _constant("gap", n), "symbol": symbol,
        "stream": Column("category", inv.astype(np.int32).reshape(-1), None, streams),
        "last_seq": Column("int64", last, last != 0),
        "next_seq": Column("int64", nxt, nxt != 0),
        "reason": _named(raw["reason"], GAP_REASON_NAMES),
        "recv_ts_ns": Column("int64", recv), "recv_time": Column("timestamp", recv),
    }


def _connection(raw: dict[str, np.ndarray], codes: SymbolCodes) -> Batch:
    recv = raw["recv_ts_ns"].view(np.int64)
    return {
        "type": _constant("connection", len(recv)),
        "event": _named(raw["event"], CONNECTION_EVENT_NAMES),
        "conn_id": _i64(raw["conn_id"]), "code": _i64(raw["code"]),
        "detail": _text(raw["detail"]),
        "recv_ts_ns": Column("int64", recv), "recv_time": Column("timestamp", recv),
    }


def _recovery(raw: dict[str, np.ndarray], codes: SymbolCodes) -> Batch:
    recv = raw["recv_ts_ns"].view(np.int64)
    return {
        "type": _constant("recovery", len(recv)),
        "event": _named(raw["event"], RECOVERY_EVENT_NAMES),
        "segment_seq": _i64(raw["segment_seq"]), "slot": _i64(raw["slot"]),
        "count": _i64(raw["count"]), "detail": _text(raw["detail"]),
        "recv_ts_ns": Column("int64", recv), "recv_time": Column("timestamp", recv),
    }


def _symbol(raw: dict[str, np.ndarray], codes: SymbolCodes) -> Batch:
    recv = raw["recv_ts_ns"].view(np.int64)
    names = [b.decode("utf-8", "replace") for b in raw["name"].tolist()]
    cats = tuple(sorted(set(names)))
    code = {name: i for i, name in enumerate(cats)}
    return {
        "type": _constant("symbol", len(recv)), "symbol_id": _i64(raw["symbol_id"]),
        "symbol": Column("category", np.array([code[n] for n in names], np.int32), None,
                         cats),
        "recv_ts_ns": Column("int64", recv), "recv_time": Column("timestamp", recv),
    }


_DERIVE: dict[str, Callable[[dict[str, np.ndarray], SymbolCodes], Batch]] = {
    "bookTicker": _book_ticker, "trade": _trade, "gap": _gap, "connection": _connection,
    "recovery": _recovery, "symbol": _symbol,
}


class Gatherer:
    """Columns of one table filled by C from runs of verified slots, up to ``capacity``
    records; :meth:`take` hands them out as a :data:`Batch` and starts new ones.

    Args:
        name: the table (a key of :data:`TYPE_NAMES`).
        capacity: records per batch.
        keep: ``keep[id]`` true for the symbol ids kept; None: every id.
        start_ns, end_ns: keep records received in [start_ns, end_ns) (None: no bound).
    """

    def __init__(self, name: str, capacity: int, keep: np.ndarray | None,
                 start_ns: int | None, end_ns: int | None) -> None:
        self.name = name
        self.capacity = capacity
        self.count = 0
        dtype = DTYPES[TYPE_NAMES[name]]
        self._fields = [(f, dtype.fields[f][0], int(dtype.fields[f][1]))  # type: ignore[index]
                        for f in _RAW[name]]
        spec = ffi.new("bf_py_gather *")
        spec.type = int(TYPE_NAMES[name])
        spec.nfields = len(self._fields)
        for k, (_, fdt, off) in enumerate(self._fields):
            spec.offsets[k] = off
            spec.sizes[k] = fdt.itemsize
        self._codes_lut: np.ndarray | None = None
        if name in HAS_SYMBOL:
            spec.symbol_offset = int(dtype.fields["symbol_id"][1])  # type: ignore[index]
            self._fields.append(("symbol", np.dtype(np.int32), -1))  # codes, from C
        self._keep = None if keep is None else np.ascontiguousarray(keep, dtype=np.uint8)
        if self._keep is not None:
            self._keep_buf = ffi.from_buffer(self._keep)
            spec.keep = ffi.cast("const uint8_t *", self._keep_buf)
            spec.keep_len = len(self._keep)
        spec.start_ns = 0 if start_ns is None else max(start_ns, 0)
        spec.end_ns = 2**64 - 1 if end_ns is None else max(end_ns, 0)
        self.spec = spec
        self._new_arrays()

    def _new_arrays(self) -> None:
        # np.empty takes no memory until written: a rare type's columns stay small
        self._arrays = [np.empty(self.capacity, fdt) for _, fdt, _ in self._fields]
        self._bufs = [ffi.from_buffer(a) for a in self._arrays]
        for k, ((_, _, offset), buf) in enumerate(zip(self._fields, self._bufs, strict=True)):
            if offset < 0:
                self.spec.codes_out = ffi.cast("int32_t *", buf)
            else:
                self.spec.out[k] = ffi.cast("void *", buf)
        self.count = 0

    def set_codes(self, lut: np.ndarray) -> None:
        """Where C looks up the symbols' codes (:attr:`SymbolCodes.lut`), kept alive here."""
        self._codes_lut = np.ascontiguousarray(lut, dtype=np.int32)
        self._codes_buf = ffi.from_buffer(self._codes_lut)
        self.spec.codes = ffi.cast("const int32_t *", self._codes_buf)
        self.spec.codes_len = len(self._codes_lut)

    @property
    def room(self) -> int:
        return self.capacity - self.count

    def gather(self, reader: RunReader, first: int, count: int) -> None:
        """Copies the kept records of a run (``RunReader.next_run``) into the columns."""
        self.count += reader.gather(first, count, self.spec, self.count)

    def take(self, codes: SymbolCodes) -> Batch:
        """The columns gathered so far, as the table's columns; then empty ones."""
        n = self.count
        arrays = self._arrays
        for buf in self._bufs:
            ffi.release(buf)
        raw = {}
        for (field, _, _), a in zip(self._fields, arrays, strict=True):
            # shrinking gives the unused tail back (realloc: no copy for large arrays)
            a.resize(n, refcheck=False)
            raw[field] = a
        self._new_arrays()
        return _DERIVE[self.name](raw, codes)
