"""Which records of a queue a reader keeps: some record types, some symbols, a window of
receive times.

One :class:`Selection` serves every reader of a queue with ``--symbols``, ``--from`` and
``--to`` (``binfeed replay`` when it prints records and when it serves them as Binance
frames, ``binfeed export``, :func:`binfeed.open`'s tables), and the live iterators of
:class:`~binfeed.queue.QueueReader` (``tail``, ``atail``: types and symbols);
:func:`parse_time` is what a time given as text means everywhere.

Example::

    sel = Selection.of(["btcusdt"], start_ns=parse_time("2024-08-09T00:00:00Z"))
    batch = sel.window(reader.poll())
    ids = sel.symbol_ids(reader.symbols)  # None: every symbol
    keep = Selection.of(["btcusdt"], types=["trade"]).keep(batch, reader.symbols)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime

import numpy as np

from binfeed import errors
from binfeed.records import RecordType, slot_symbol_ids
from binfeed.symbols import symbol_key

__all__ = ["EVERYTHING", "Selection", "no_match_message", "parse_time", "time_ns"]


def parse_time(text: str) -> int:
    """``--from``/``--to``: an ISO 8601 time (UTC unless it says otherwise; a date alone
    means its midnight) or an integer of nanoseconds since the epoch (as ``recv_ts_ns``
    prints). Returns ns since the epoch.

    Raises:
        ConfigError: anything else.
    """
    s = text.strip()
    if s.isdigit():
        return int(s)
    try:
        dt = datetime.fromisoformat(s.replace("Z", "+00:00") if s.endswith("Z") else s)
    except ValueError:
        raise errors.ConfigError(
            f"invalid time {text!r}: give an ISO 8601 time like 2024-08-09T00:00:00Z (UTC "
            "unless an offset is given) or nanoseconds since the epoch") from None
    return _datetime_ns(dt)


def _datetime_ns(dt: datetime) -> int:
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    seconds = int(dt.timestamp())
    return seconds * 1_000_000_000 + dt.microsecond * 1000


TimeLike = int | str | datetime | date | np.datetime64


def time_ns(value: object) -> int:
    """A time as ns since the epoch: an int (ns), text (:func:`parse_time`), a
    ``datetime`` (UTC when naive), a ``date`` (its midnight, UTC), a ``numpy.datetime64``
    or a ``pandas.Timestamp`` (UTC when naive).

    Raises:
        ConfigError: anything else.
    """
    if isinstance(value, bool):
        raise errors.ConfigError(f"invalid time {value!r}")
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, str):
        return parse_time(value)
    as_ns = getattr(value, "value", None)  # pandas.Timestamp: ns since the epoch, UTC
    if isinstance(as_ns, int) and hasattr(value, "tz_localize"):
        return as_ns
    if isinstance(value, datetime):
        return _datetime_ns(value)
    if isinstance(value, date):
        return _datetime_ns(datetime(value.year, value.month, value.day))
    if isinstance(value, np.datetime64):
        return int(value.astype("datetime64[ns]").astype(np.int64))
    raise errors.ConfigError(
        f"invalid time {value!r}: give ns since the epoch, an ISO 8601 string, a datetime, "
        "a numpy.datetime64 or a pandas.Timestamp")


@dataclass(frozen=True)
class Selection:
    """Records of some types and symbols received in [start_ns, end_ns).

    Attributes:
        symbols: names as the queue stores them (ASCII letters upper-case); empty: every
            symbol. Records that name no symbol (connection, recovery) concern every
            symbol: a symbol filter keeps them (``types`` can leave them out).
        start_ns: keep records received at or after this time (ns since the epoch).
        end_ns: keep records received before this time.
        types: record types to keep; empty: every type.
    """

    symbols: frozenset[str] = frozenset()
    start_ns: int | None = None
    end_ns: int | None = None
    types: frozenset[RecordType] = frozenset()

    @classmethod
    def of(cls, symbols: Iterable[str] | None = None, *, start_ns: int | None = None,
           end_ns: int | None = None,
           types: Iterable[RecordType | int | str] | None = None) -> Selection:
        """A selection of symbols in any case of their ASCII letters (``btcusdt`` is
        ``BTCUSDT``, ``币安人生usdt`` is ``币安人生USDT``) and of record types by
        :meth:`RecordType.parse` (``"trade"``, ``RecordType.TRADE``, ...).

        Raises:
            ValueError: an unknown record type, or a symbol that is not a string.
            InvalidRecordError: a name no queue can hold.
        """
        if isinstance(symbols, str) or isinstance(types, str):
            raise ValueError("symbols and types are collections of names: write "
                             "symbols=['BTCUSDT'], not symbols='BTCUSDT'")
        names = frozenset(symbol_key(s) for s in symbols or ())
        return cls(names, start_ns, end_ns, frozenset(RecordType.parse(t) for t in types or ()))

    @property
    def has_window(self) -> bool:
        """Whether receive times are bounded at all."""
        return self.start_ns is not None or self.end_ns is not None

    def symbol_ids(self, names: Mapping[int, str]) -> set[int] | None:
        """The ids among ``names`` (id -> name) of the selected symbols; None when every
        symbol is selected."""
        if not self.symbols:
            return None
        return {sid for sid, name in names.items() if name in self.symbols}

    def missing(self, names: Iterable[str]) -> list[str]:
        """The selected symbols that are not among ``names`` (a queue's), sorted."""
        return sorted(self.symbols - set(names))

    def in_window(self, recv_ts_ns: np.ndarray) -> np.ndarray | None:
        """Which of these receive times are in the window (a bool array); None when there
        is no window (every time is)."""
        if not self.has_window:
            return None
        keep = np.ones(len(recv_ts_ns), dtype=bool)
        if self.start_ns is not None:
            keep &= recv_ts_ns >= self.start_ns
        if self.end_ns is not None:
            keep &= recv_ts_ns < self.end_ns
        return keep

    def keep(self, batch: np.ndarray, names: Mapping[int, str]) -> np.ndarray | None:
        """Which slots of a batch the selection keeps (a bool array), by type, symbol and
        receive time; None when it keeps every slot.

        Args:
            batch: slots (:data:`binfeed.records.SLOT_DTYPE`).
            names: id -> name, holding every id the batch uses (``QueueReader.symbols``).
        """
        ids = self.symbol_ids(names)
        return self.keep_ids(batch, None if ids is None else np.array(sorted(ids), np.uint64))

    def keep_ids(self, batch: np.ndarray, ids: np.ndarray | None) -> np.ndarray | None:
        """:meth:`keep` with the selected symbols' ids given (from :meth:`symbol_ids`, as
        a uint64 array; None: every symbol), for a caller that keeps them between
        batches."""
        keep = self.in_window(batch["recv_ts_ns"])
        if self.types:
            wanted = np.isin(batch["type"], np.array(sorted(self.types), dtype=np.uint16))
            keep = wanted if keep is None else keep & wanted
        if ids is not None:
            sid = slot_symbol_ids(batch)
            wanted = (sid == 0) | np.isin(sid, ids)
            keep = wanted if keep is None else keep & wanted
        return keep

    def window(self, batch: np.ndarray) -> np.ndarray:
        """The slots of a batch received in the window (a copy), or the batch itself when
        there is no window."""
        keep = self.in_window(batch["recv_ts_ns"])
        return batch if keep is None else batch[keep]


#: Every record (no symbol filter, no window).
EVERYTHING = Selection()


def no_match_message(selection: Selection, queue: object, names: Iterable[str]) -> str | None:
    """What to say when symbols of the selection are not in the queue (None: all are):
    names the missing ones and what the queue has."""
    missing = selection.missing(names)
    if not missing:
        return None
    have = sorted(set(names))
    shown = ", ".join(have[:20]) + (f" and {len(have) - 20} more" if len(have) > 20 else "")
    return (f"{queue} has no {', '.join(missing)} (its symbols: {shown or 'none'}); check "
            "the spelling, or `binfeed info` the queue")
