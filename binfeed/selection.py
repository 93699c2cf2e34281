"""Which records of a queue a reader keeps: some symbols, a window of receive times.

One :class:`Selection` serves every command that reads a queue with ``--symbols``,
``--from`` and ``--to`` (``binfeed replay`` when it prints records, and when it serves them
as Binance frames).

Example::

    sel = Selection.of(["btcusdt"], start_ns=t0)
    batch = sel.window(reader.poll())
    ids = sel.symbol_ids(reader.symbols)  # None: every symbol
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

__all__ = ["EVERYTHING", "Selection"]


@dataclass(frozen=True)
class Selection:
    """Records of some symbols received in [start_ns, end_ns).

    Attributes:
        symbols: names as the queue stores them (upper-case); empty: every symbol.
        start_ns: keep records received at or after this time (ns since the epoch).
        end_ns: keep records received before this time.
    """

    symbols: frozenset[str] = frozenset()
    start_ns: int | None = None
    end_ns: int | None = None

    @classmethod
    def of(cls, symbols: Iterable[str] | None = None, *, start_ns: int | None = None,
           end_ns: int | None = None) -> Selection:
        """A selection of symbols in any case (``btcusdt`` is ``BTCUSDT``)."""
        return cls(frozenset(s.upper() for s in symbols or ()), start_ns, end_ns)

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

    def window(self, batch: np.ndarray) -> np.ndarray:
        """The slots of a batch received in the window (a copy), or the batch itself when
        there is no window."""
        keep = self.in_window(batch["recv_ts_ns"])
        return batch if keep is None else batch[keep]


#: Every record (no symbol filter, no window).
EVERYTHING = Selection()
