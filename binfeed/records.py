"""Record kinds and their numpy layouts, taken from the C headers through ``lib``.

The file format is specified in ``csrc/include/binfeed_reader.h``; this module only mirrors
it: every offset below is checked against the compiler's view of the C structs at import.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np

from binfeed._ffi import ffi, lib
from binfeed.symbols import stream_name

SLOT_SIZE: int = lib.BF_SLOT_SIZE
HEADER_SIZE: int = lib.BF_HEADER_SIZE
BODY: int = lib.BF_SLOT_HEADER_SIZE
FORMAT_VERSION: int = lib.BF_FORMAT_VERSION
SYMBOL_MAX: int = lib.BF_SYMBOL_MAX
QUEUE_ID_SIZE: int = lib.BF_QUEUE_ID_SIZE


class RecordType(enum.IntEnum):
    """The ``type`` field of a slot."""

    BOOK_TICKER = lib.BF_REC_BOOK_TICKER
    TRADE = lib.BF_REC_TRADE
    SYMBOL = lib.BF_REC_SYMBOL
    GAP = lib.BF_REC_GAP
    CONNECTION = lib.BF_REC_CONNECTION
    RECOVERY = lib.BF_REC_RECOVERY

    @property
    def json_name(self) -> str:
        """The name of the type in binfeed's JSON lines (their ``type`` key), e.g.
        ``bookTicker``; also how a record type is named in filters."""
        return _TYPE_JSON[self]

    @classmethod
    def parse(cls, value: RecordType | int | str) -> RecordType:
        """A record type from itself, its number, its JSON name (``bookTicker``, ``trade``,
        ``gap``, ``symbol``, ``connection``, ``recovery``; any case) or its enum name
        (``BOOK_TICKER``).

        Raises:
            ValueError: no such record type (the message lists them).
        """
        if isinstance(value, cls):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            try:
                return cls(value)
            except ValueError:
                pass
        elif isinstance(value, str):
            for rtype in cls:
                if value.lower() in (rtype.json_name.lower(), rtype.name.lower()):
                    return rtype
        names = ", ".join(t.json_name for t in cls)
        raise ValueError(f"unknown record type {value!r}: use one of {names}")


_TYPE_JSON = {RecordType.BOOK_TICKER: "bookTicker", RecordType.TRADE: "trade",
              RecordType.SYMBOL: "symbol", RecordType.GAP: "gap",
              RecordType.CONNECTION: "connection", RecordType.RECOVERY: "recovery"}


class Stream(enum.IntEnum):
    """Binance stream kinds binfeed stores; the value is stored in GAP records."""

    BOOK_TICKER = lib.BF_STREAM_BOOK_TICKER
    TRADE = lib.BF_STREAM_TRADE

    @property
    def wire_name(self) -> str:
        """The stream suffix as Binance spells it (``bookTicker``, ``trade``)."""
        return _STREAM_WIRE[self]

    @classmethod
    def from_wire(cls, name: str) -> Stream:
        """``bookTicker`` / ``trade`` (any case) to a Stream.

        Raises:
            ValueError: for a stream binfeed does not record.
        """
        for stream, wire in _STREAM_WIRE.items():
            if wire.lower() == name.lower():
                return stream
        raise ValueError(f"unknown stream {name!r}: binfeed records bookTicker and trade")


_STREAM_WIRE = {Stream.BOOK_TICKER: "bookTicker", Stream.TRADE: "trade"}


class GapReason(enum.IntEnum):
    """Why a GAP record was written."""

    SEQUENCE_JUMP = lib.BF_GAP_SEQUENCE_JUMP
    DISCONNECTED = lib.BF_GAP_DISCONNECTED
    STALLED = lib.BF_GAP_STALLED
    WRITER_RESTART = lib.BF_GAP_WRITER_RESTART
    SERVER_SHUTDOWN = lib.BF_GAP_SERVER_SHUTDOWN


class ConnectionEvent(enum.IntEnum):
    """The ``event`` of a CONNECTION record."""

    CONNECTED = lib.BF_CONN_CONNECTED
    DISCONNECTED = lib.BF_CONN_DISCONNECTED
    SUBSCRIBED = lib.BF_CONN_SUBSCRIBED
    SUBSCRIBE_REFUSED = lib.BF_CONN_SUBSCRIBE_REFUSED
    ROTATED = lib.BF_CONN_ROTATED
    SERVER_SHUTDOWN = lib.BF_CONN_SERVER_SHUTDOWN
    STALLED = lib.BF_CONN_STALLED
    UNSUBSCRIBED = lib.BF_CONN_UNSUBSCRIBED


class RecoveryEvent(enum.IntEnum):
    """The ``event`` of a RECOVERY record: what a writer's recovery found at open."""

    TORN_TAIL = lib.BF_RECOVERY_TORN_TAIL
    DAMAGED = lib.BF_RECOVERY_DAMAGED
    HOLE = lib.BF_RECOVERY_HOLE
    OLDER_FORMAT = lib.BF_RECOVERY_OLDER_FORMAT


TRADE_BUYER_IS_MAKER: int = lib.BF_TRADE_F_BUYER_IS_MAKER
TRADE_BEST_MATCH: int = lib.BF_TRADE_F_BEST_MATCH
TRADE_BEST_MATCH_KNOWN: int = lib.BF_TRADE_F_BEST_MATCH_KNOWN


def _slot_offset(field: str) -> int:
    return int(ffi.offsetof("bf_slot", *field.split(".")))


def _dtype(fields: list[tuple[str, str, str]]) -> np.dtype:
    """A 128-byte structured dtype: the slot header plus one body, offsets from C."""
    names = ["crc32c", "type", "flags", "seq", "recv_ts_ns"]
    formats = ["<u4", "<u2", "<u2", "<u8", "<u8"]
    offsets = [_slot_offset(n) for n in names]
    for name, fmt, c_field in fields:
        names.append(name)
        formats.append(fmt)
        offsets.append(_slot_offset(c_field))
    return np.dtype({"names": names, "formats": formats, "offsets": offsets,
                     "itemsize": SLOT_SIZE})


#: Any slot: the header and the raw body.
SLOT_DTYPE = _dtype([("body", "V104", "body")])
#: A BOOK_TICKER slot (the design's 48-byte body after the 24-byte slot header).
BOOK_TICKER_DTYPE = _dtype([
    ("timestamp", "<u8", "body.book_ticker.timestamp"),
    ("bid_price", "<f8", "body.book_ticker.bid_price"),
    ("bid_qty", "<f8", "body.book_ticker.bid_qty"),
    ("ask_price", "<f8", "body.book_ticker.ask_price"),
    ("ask_qty", "<f8", "body.book_ticker.ask_qty"),
    ("symbol_id", "<u8", "body.book_ticker.symbol_id"),
])
#: A TRADE slot.
TRADE_DTYPE = _dtype([
    ("price", "<f8", "body.trade.price"),
    ("qty", "<f8", "body.trade.qty"),
    ("trade_id", "<u8", "body.trade.trade_id"),
    ("trade_ts_us", "<u8", "body.trade.trade_ts_us"),
    ("event_ts_us", "<u8", "body.trade.event_ts_us"),
    ("symbol_id", "<u8", "body.trade.symbol_id"),
    ("trade_flags", "u1", "body.trade.flags"),
])
#: A SYMBOL slot.
SYMBOL_DTYPE = _dtype([
    ("symbol_id", "<u8", "body.symbol.symbol_id"),
    ("name_len", "<u4", "body.symbol.name_len"),
    ("name", f"S{SYMBOL_MAX}", "body.symbol.name"),
])
#: A GAP slot.
GAP_DTYPE = _dtype([
    ("symbol_id", "<u8", "body.gap.symbol_id"),
    ("stream", "<u4", "body.gap.stream"),
    ("reason", "<u4", "body.gap.reason"),
    ("last_seq", "<u8", "body.gap.last_seq"),
    ("next_seq", "<u8", "body.gap.next_seq"),
])
#: A CONNECTION slot.
CONNECTION_DTYPE = _dtype([
    ("event", "<u4", "body.connection.event"),
    ("conn_id", "<u4", "body.connection.conn_id"),
    ("code", "<i8", "body.connection.code"),
    ("detail", "S88", "body.connection.detail"),
])

#: A RECOVERY slot.
RECOVERY_DTYPE = _dtype([
    ("event", "<u4", "body.recovery.event"),
    ("segment_seq", "<u8", "body.recovery.segment_seq"),
    ("slot", "<u8", "body.recovery.slot"),
    ("count", "<u8", "body.recovery.count"),
    ("detail", "S72", "body.recovery.detail"),
])



def _known_types() -> np.ndarray:
    """The record types C's judge accepts (``bf_record_type_known``), ascending."""
    n = int(lib.bf_py_record_types(ffi.NULL, 0))
    buf = ffi.new("uint16_t[]", n)
    lib.bf_py_record_types(buf, n)
    return np.frombuffer(ffi.buffer(buf), dtype=np.uint16).copy()


#: The record types this binfeed knows, as C judges them (others come from a newer writer).
KNOWN_TYPES: np.ndarray = _known_types()

DTYPES: dict[RecordType, np.dtype] = {
    RecordType.BOOK_TICKER: BOOK_TICKER_DTYPE,
    RecordType.TRADE: TRADE_DTYPE,
    RecordType.SYMBOL: SYMBOL_DTYPE,
    RecordType.GAP: GAP_DTYPE,
    RecordType.CONNECTION: CONNECTION_DTYPE,
    RecordType.RECOVERY: RECOVERY_DTYPE,
}

#: The record types whose body names a symbol (by its id), with the dtype that finds it;
#: the other types concern every symbol.
SYMBOL_ID_DTYPES: dict[RecordType, np.dtype] = {
    RecordType.BOOK_TICKER: BOOK_TICKER_DTYPE,
    RecordType.TRADE: TRADE_DTYPE,
    RecordType.GAP: GAP_DTYPE,
    RecordType.SYMBOL: SYMBOL_DTYPE,
}


def slot_symbol_ids(batch: np.ndarray) -> np.ndarray:
    """The symbol id each slot of a batch names (uint64), 0 for a record that names none
    (ids start at 1). The id sits at another offset in each body."""
    types = batch["type"]
    out = np.zeros(len(batch), dtype=np.uint64)
    for rtype, dtype in SYMBOL_ID_DTYPES.items():
        where = types == rtype
        if where.any():
            out[where] = batch.view(dtype)["symbol_id"][where]
    return out


@dataclass(frozen=True, slots=True)
class BookTicker:
    """Best bid/ask of one symbol (Binance ``<symbol>@bookTicker``)."""

    symbol: str
    update_id: int
    bid_price: float
    bid_qty: float
    ask_price: float
    ask_qty: float
    recv_ts_ns: int
    timestamp_us: int = 0  # exchange event time (us); 0 on Binance Spot, which sends none

    @property
    def timestamp_ms(self) -> int:
        """The exchange event time in whole milliseconds."""
        return self.timestamp_us // 1000


@dataclass(frozen=True, slots=True)
class Trade:
    """One trade (Binance ``<symbol>@trade``)."""

    symbol: str
    trade_id: int
    price: float
    qty: float
    trade_ts_us: int  # trade time `T`, microseconds
    event_ts_us: int  # event time `E`, microseconds
    buyer_is_maker: bool
    best_match: bool | None
    recv_ts_ns: int

    @property
    def trade_ts_ms(self) -> int:
        """The trade time in whole milliseconds."""
        return self.trade_ts_us // 1000

    @property
    def event_ts_ms(self) -> int:
        """The event time in whole milliseconds."""
        return self.event_ts_us // 1000


@dataclass(frozen=True, slots=True)
class Gap:
    """Records of one stream may be missing between ``last_seq`` and ``next_seq``."""

    symbol: str
    stream: Stream
    reason: GapReason
    last_seq: int | None
    next_seq: int | None
    recv_ts_ns: int

    @property
    def stream_name(self) -> str:
        """Binance's name of the stream, e.g. ``btcusdt@trade``."""
        return stream_name(self.symbol, self.stream.wire_name)


@dataclass(frozen=True, slots=True)
class SymbolDefinition:
    """Defines ``symbol_id`` as ``symbol`` for the rest of the queue."""

    symbol_id: int
    symbol: str
    recv_ts_ns: int


@dataclass(frozen=True, slots=True)
class Connection:
    """A recorder's connection event, kept for audit."""

    event: ConnectionEvent
    conn_id: int
    code: int
    detail: str
    recv_ts_ns: int


@dataclass(frozen=True, slots=True)
class Recovery:
    """What a writer's recovery found when it opened the queue (kept for audit)."""

    event: RecoveryEvent
    segment_seq: int
    slot: int
    count: int
    detail: str
    recv_ts_ns: int


Record = BookTicker | Trade | Gap | SymbolDefinition | Connection | Recovery
