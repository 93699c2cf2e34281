"""Which records of a queue a reader keeps: some record types, some symbols, a window of
receive times.

One :class:`Selection` serves every command that reads a queue with ``--symbols``,
``--from`` and ``--to`` (``binfeed replay`` when it prints records, and when it serves them
as Binance frames), and the live iterators of :class:`~binfeed.queue.QueueReader`
(``tail``, ``atail``: types and symbols).

Example::

    sel = Selection.of(["btcusdt"], start_ns=t0)
    batch = sel.window(reader.poll())
    ids = sel.symbol_ids(reader.symbols)  # None: every symbol
    keep = Selection.of(["btcusdt"], types=["trade"]).keep(batch, reader.symbols)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from binfeed.records import RecordType, slot_symbol_ids
from binfeed.symbols import symbol_key

__all__ = ["EVERYTHING", "Selection"]


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

    def symbol_ids(self, names: Mapping[int, str]) -> set[int] | None:
        """The ids among ``names`` (id -> name) of the selected symbols; None when every
        symbol is selected."""
        if not self.symbols:
            return None
        return {sid for sid, name in names.items() if name in self.symbols}

    def in_window(self, recv_ts_ns: np.ndarray) -> np.ndarray | None:
        """Which of these receive times are in the window (a bool array); None when there
        is no window (every time is)."""
        if self.start_ns is None and self.end_ns is None:
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
