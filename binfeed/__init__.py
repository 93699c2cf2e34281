"""binfeed: Binance Spot market data recorded into a memory-mapped, fixed-record queue.

The queue format is specified in ``csrc/include/binfeed_reader.h`` (and ``docs/format.md``).
:func:`open` gives a queue's records as Arrow, pandas and polars tables
(:mod:`binfeed.dataset`); :mod:`binfeed.queue` reads and writes it record by record.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from binfeed.dataset import Dataset
    from binfeed.queue import DamageHook

__version__ = "0.1.0"

__all__ = ["__version__", "open"]


def open(path: str | os.PathLike[str], *, on_damage: DamageHook | None = None) -> Dataset:
    """The records of the queue at ``path`` as tables: see :func:`binfeed.dataset.open`
    (imported on first use, so that ``import binfeed`` stays light)."""
    from binfeed.dataset import open as open_dataset

    return open_dataset(path, on_damage=on_damage)
