"""Slots into record objects: :func:`decode_slots` turns a batch of version-2 slots into
:mod:`binfeed.records` values (the readable, slower way to look at records)."""

from __future__ import annotations

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
    BookTicker,
    Connection,
    ConnectionEvent,
    Gap,
    GapReason,
    Record,
    RecordType,
    Recovery,
    RecoveryEvent,
    Stream,
    SymbolDefinition,
    Trade,
)


def decode_slots(
    batch: np.ndarray, symbols: dict[int, str], *, include_symbols: bool = False
) -> list[Record]:
    """Record objects for a batch of version-2 slots; ``symbols`` must already hold their
    ids. Records of unknown types are skipped."""
    out: list[Record] = []
    types = batch["type"].tolist()
    seqs = batch["seq"].tolist()
    recvs = batch["recv_ts_ns"].tolist()
    bt = batch.view(BOOK_TICKER_DTYPE)
    tr = batch.view(TRADE_DTYPE)
    for i, t in enumerate(types):
        if t == RecordType.BOOK_TICKER:
            r = bt[i]
            out.append(BookTicker(symbols.get(int(r["symbol_id"]), "?"), seqs[i],
                                  float(r["bid_price"]), float(r["bid_qty"]),
                                  float(r["ask_price"]), float(r["ask_qty"]), recvs[i],
                                  int(r["timestamp"])))
        elif t == RecordType.TRADE:
            r = tr[i]
            f = int(r["trade_flags"])
            out.append(Trade(symbols.get(int(r["symbol_id"]), "?"), int(r["trade_id"]),
                             float(r["price"]), float(r["qty"]), int(r["trade_ts_us"]),
                             int(r["event_ts_us"]), bool(f & TRADE_BUYER_IS_MAKER),
                             bool(f & TRADE_BEST_MATCH) if f & TRADE_BEST_MATCH_KNOWN else None,
                             recvs[i]))
        elif t == RecordType.GAP:
            g = batch[i:i + 1].view(GAP_DTYPE)[0]
            out.append(Gap(symbols.get(int(g["symbol_id"]), "?"), Stream(int(g["stream"])),
                           GapReason(int(g["reason"])), int(g["last_seq"]) or None,
                           int(g["next_seq"]) or None, recvs[i]))
        elif t == RecordType.CONNECTION:
            c = batch[i:i + 1].view(CONNECTION_DTYPE)[0]
            out.append(Connection(ConnectionEvent(int(c["event"])), int(c["conn_id"]),
                                  int(c["code"]),
                                  bytes(c["detail"]).decode("utf-8", "replace"), recvs[i]))
        elif t == RecordType.RECOVERY:
            v = batch[i:i + 1].view(RECOVERY_DTYPE)[0]
            out.append(Recovery(RecoveryEvent(int(v["event"])), int(v["segment_seq"]),
                                int(v["slot"]), int(v["count"]),
                                bytes(v["detail"]).decode("utf-8", "replace"), recvs[i]))
        elif t == RecordType.SYMBOL and include_symbols:
            s = batch[i:i + 1].view(SYMBOL_DTYPE)[0]
            out.append(SymbolDefinition(int(s["symbol_id"]),
                                        s["name"].decode("utf-8", "replace"), recvs[i]))
    return out
