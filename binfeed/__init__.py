"""binfeed: Binance Spot market data recorded into a memory-mapped, fixed-record queue.

The queue format is specified in ``csrc/include/binfeed_reader.h`` (and ``docs/format.md``).
"""

from __future__ import annotations

__version__ = "0.1.0"
