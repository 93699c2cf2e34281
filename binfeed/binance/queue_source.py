"""A queue as a Binance market-stream source (``binfeed replay DIR --serve``): records
back into the frames Binance sent.

:func:`queue_source` turns a recorded queue back into the frames Binance sent, for the
loopback server (:mod:`binfeed.binance.server`): bookTicker and trade records become
payloads in Binance's own JSON format, paced by their recorded receive times. Which records
is a :class:`binfeed.selection.Selection` (symbols, a window of receive times), the same
one ``binfeed replay`` prints with.

- bookTicker: ``{"u":..,"s":"BTCUSDT","b":"61837.63000000","B":..,"a":..,"A":..}``
  (plus ``"E"`` when the record carries an exchange time, as USD-M futures frames do);
- trade: ``{"e":"trade","E":..,"s":..,"t":..,"p":..,"q":..,"T":..,"m":..,"M":..}``
  (``"M"`` only when the record knows it).

Prices and quantities are written as plain decimals (Binance's grammar: digits, a point,
at least 8 decimals like Binance's own ``"61837.63000000"``) carrying the shortest digits
that give the stored double back, so recording a replay stores the same values bit for bit.
The symbol is written as the queue stores it (ASCII letters upper-case, as Binance sends
it; UTF-8 as it is: ``"s":"币安人生USDT"``) and streams are named with its ASCII letters
lower-case (``btcusdt@trade``, ``币安人生usdt@trade``). Times go out in the unit each client
asks for (``timeUnit`` in its URL): milliseconds by default, exact microseconds with
``timeUnit=MICROSECOND``. Symbol definitions, gaps and connection
records are not frames and are not sent.

Frames go out in receive-time order (a queue filled by importing captures one after the
other is merged by time). Each call of the source reads the queue again, so every server
connection replays from the beginning (``--from``) on its own clock.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from binfeed import errors
from binfeed.binance.sources import Source, SourceFrame
from binfeed.export import json_text
from binfeed.queue import Damage, QueueReader
from binfeed.records import (
    BOOK_TICKER_DTYPE,
    SLOT_DTYPE,
    TRADE_BEST_MATCH,
    TRADE_BEST_MATCH_KNOWN,
    TRADE_BUYER_IS_MAKER,
    TRADE_DTYPE,
    RecordType,
)
from binfeed.selection import EVERYTHING, Selection
from binfeed.symbols import stream_symbol

log = logging.getLogger(__name__)

#: Decimals every price and quantity string has at least (Binance sends 8).
MIN_DECIMALS = 8
_BT = int(RecordType.BOOK_TICKER)
_TR = int(RecordType.TRADE)


def decimal_text(x: float) -> str:
    """A double as Binance writes prices: '61837.63000000'; ``float()`` of it is ``x``.

    Raises:
        InvalidRecordError: NaN, an infinity or a negative value (not a Binance decimal).
    """
    if not math.isfinite(x) or x < 0 or (x == 0 and math.copysign(1.0, x) < 0):
        raise errors.InvalidRecordError(f"{x!r} cannot be written as a Binance decimal")
    text = repr(x)
    if "e" in text:
        text = np.format_float_positional(x, unique=True, trim="-")
    whole, _, frac = text.partition(".")
    if len(frac) < MIN_DECIMALS:
        frac += "0" * (MIN_DECIMALS - len(frac))
    return f"{whole}.{frac}"


# Payloads are written in milliseconds (Binance's default unit), and once more with exact
# microseconds when a time has a part below the millisecond (a stream recorded with
# timeUnit=MICROSECOND); otherwise the server converts the millisecond text exactly.
Payloads = list[tuple[str, str | None]]


def _book_payloads(batch: np.ndarray, idx: np.ndarray, names: list[str]) -> Payloads:
    r = batch.view(BOOK_TICKER_DTYPE)
    dec = decimal_text
    out: Payloads = []
    for u, s, b, bq, a, aq, ts in zip(
        r["seq"][idx].tolist(), names, r["bid_price"][idx].tolist(),
        r["bid_qty"][idx].tolist(), r["ask_price"][idx].tolist(), r["ask_qty"][idx].tolist(),
        r["timestamp"][idx].tolist(), strict=True,
    ):
        tail = f'"s":"{s}","b":"{dec(b)}","B":"{dec(bq)}","a":"{dec(a)}","A":"{dec(aq)}"}}'
        if not ts:
            out.append((f'{{"u":{u},{tail}', None))
            continue
        us = f'{{"u":{u},"E":{ts},{tail}' if ts % 1000 else None
        out.append((f'{{"u":{u},"E":{ts // 1000},{tail}', us))
    return out


def _trade_payloads(batch: np.ndarray, idx: np.ndarray, names: list[str]) -> Payloads:
    r = batch.view(TRADE_DTYPE)
    dec = decimal_text
    out: Payloads = []
    for s, t, p, q, tt, et, f in zip(
        names, r["trade_id"][idx].tolist(), r["price"][idx].tolist(), r["qty"][idx].tolist(),
        r["trade_ts_us"][idx].tolist(), r["event_ts_us"][idx].tolist(),
        r["trade_flags"][idx].tolist(), strict=True,
    ):
        maker = "true" if f & TRADE_BUYER_IS_MAKER else "false"
        best = ""
        if f & TRADE_BEST_MATCH_KNOWN:
            best = ',"M":true' if f & TRADE_BEST_MATCH else ',"M":false'
        mid = f'"s":"{s}","t":{t},"p":"{dec(p)}","q":"{dec(q)}"'
        end = f'"m":{maker}{best}}}'
        us = (f'{{"e":"trade","E":{et},{mid},"T":{tt},{end}' if tt % 1000 or et % 1000
              else None)
        out.append((f'{{"e":"trade","E":{et // 1000},{mid},"T":{tt // 1000},{end}', us))
    return out


def batch_frames(
    batch: np.ndarray, symbols: dict[int, str], selection: Selection = EVERYTHING
) -> list[SourceFrame]:
    """The bookTicker and trade records of a batch of slots as frames, in queue order.

    Args:
        batch: slots from :meth:`QueueReader.poll`.
        symbols: id -> name, holding every id of the batch.
        selection: which records to keep (default: all).
    """
    types = batch["type"]
    keep = (types == _BT) | (types == _TR)
    in_window = selection.in_window(batch["recv_ts_ns"])
    if in_window is not None:
        keep &= in_window
    # symbol_id sits at different offsets in the two bodies.
    sid = np.where(types == _BT, batch.view(BOOK_TICKER_DTYPE)["symbol_id"],
                   batch.view(TRADE_DTYPE)["symbol_id"])
    ids = selection.symbol_ids(symbols)
    if ids is not None:
        keep &= np.isin(sid, np.array(sorted(ids), dtype=np.uint64))
    idx = np.flatnonzero(keep)
    if not len(idx):
        return []
    out: list[SourceFrame | None] = [None] * len(idx)
    kinds = types[idx]
    recvs = batch["recv_ts_ns"][idx].tolist()
    for rtype, stream, make in ((_BT, "bookTicker", _book_payloads),
                                (_TR, "trade", _trade_payloads)):
        where = np.flatnonzero(kinds == rtype)
        if not len(where):
            continue
        rows = idx[where]
        names = [symbols.get(s, f"?{s}") for s in sid[rows].tolist()]
        quoted = [json_text(n) for n in names]  # inside "s":"..."
        for k, name, (payload, payload_us) in zip(where.tolist(), names,
                                                  make(batch, rows, quoted), strict=True):
            out[k] = SourceFrame(recvs[k], stream_symbol(name), stream, payload, payload_us)
    return out  # type: ignore[return-value]


def queue_frames(
    queue_dir: str | os.PathLike[str],
    selection: Selection = EVERYTHING,
    *,
    batch_records: int = 4096,
) -> Iterator[SourceFrame]:
    """Every bookTicker and trade frame of the queue in receive-time order (ties in queue
    order), as committed when called, of the records ``selection`` keeps.

    A recorded queue is already in receive order and is streamed as it is read. A queue
    filled by importing several captures one after the other is not: its frames are then
    served in the order of their receive times (what was captured at the same moment is
    served at the same moment), from an index of 16 bytes per record (the slots themselves
    are read from the mapped segments, not loaded).

    Raises:
        QueueNotFoundError, QueueCorruptError, QueueVersionError: from the reader.
    """
    if _in_receive_order(queue_dir):
        yield from _frames_in_queue_order(queue_dir, selection, batch_records)
    else:
        yield from _frames_in_time_order(queue_dir, selection, batch_records)


def _market(slots: np.ndarray) -> np.ndarray:
    types = slots["type"]
    return (types == _BT) | (types == _TR)


def _log_damage(damage: Damage) -> None:
    """Damage met while serving: logged (stderr) and skipped; good frames are still served."""
    log.warning("%s", damage.message)


def _in_receive_order(queue_dir: str | os.PathLike[str]) -> bool:
    last = -1
    with QueueReader(queue_dir, on_damage=_log_damage) as reader:
        while len(slots := reader.poll(1 << 20)):
            recv = slots["recv_ts_ns"][_market(slots)].astype(np.int64)
            del slots
            if len(recv):
                if recv[0] < last or (len(recv) > 1 and bool((np.diff(recv) < 0).any())):
                    return False
                last = int(recv[-1])
    return True


def _frames_in_queue_order(queue_dir: str | os.PathLike[str], selection: Selection,
                           batch_records: int) -> Iterator[SourceFrame]:
    with QueueReader(queue_dir, on_damage=_log_damage) as reader:
        while True:
            batch = reader.poll(batch_records)
            if not len(batch):
                return
            frames = batch_frames(batch, reader.symbols, selection)
            del batch
            yield from frames


def _frames_in_time_order(queue_dir: str | os.PathLike[str], selection: Selection,
                          batch_records: int) -> Iterator[SourceFrame]:
    # The reader's batches are zero-copy views of the mapped segments: keeping them keeps
    # the slots readable without loading them; only the index below is built.
    with QueueReader(queue_dir, on_damage=_log_damage) as reader:
        batches: list[np.ndarray] = []
        batch_of, slot_of, recv_of = [], [], []
        while len(slots := reader.poll(1 << 20)):
            idx = np.flatnonzero(_market(slots))
            batches.append(slots)
            batch_of.append(np.full(len(idx), len(batches) - 1, dtype=np.int32))
            slot_of.append(idx)
            recv_of.append(slots["recv_ts_ns"][idx])
        symbols = dict(reader.symbols)
    if not batches:
        return
    batch_all = np.concatenate(batch_of)
    slot_all = np.concatenate(slot_of)
    order = np.argsort(np.concatenate(recv_of), kind="stable")
    for start in range(0, len(order), batch_records):
        chunk = order[start:start + batch_records]
        which, rows = batch_all[chunk], slot_all[chunk]
        out = np.empty(len(chunk), SLOT_DTYPE)
        for k in np.unique(which).tolist():
            here = which == k
            out[here] = batches[k][rows[here]]
        yield from batch_frames(out, symbols, selection)


def queue_source(queue_dir: str | os.PathLike[str], selection: Selection = EVERYTHING
                 ) -> Source:
    """A :data:`~binfeed.binance.sources.Source` replaying the queue: each call (each
    server connection) reads it again from the beginning.

    Raises:
        QueueNotFoundError (and the reader's other errors): checked once, now.
    """
    path = Path(queue_dir)
    QueueReader(path).close()  # fail now, not in the first connection
    return lambda: queue_frames(path, selection)


__all__ = [
    "batch_frames",
    "decimal_text",
    "queue_frames",
    "queue_source",
]
