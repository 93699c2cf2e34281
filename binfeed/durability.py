"""How much a writer does to make records survive a power cut: the ``--sync`` policy.

| level            | what binfeed does                                  | survives a power cut     |
|------------------|----------------------------------------------------|--------------------------|
| ``none``         | nothing: the kernel writes pages back when it      | what the kernel happened |
|                  | chooses (Linux: within ~30 s)                      | to write back            |
| ``seal``         | fdatasync each segment when it is sealed (at a     | every sealed segment     |
|                  | roll or at close), and fsync the directory         |                          |
| ``interval:S``   | ``seal``, plus fdatasync of the segment being      | sealed segments, and the |
|                  | written every S seconds                            | open one up to S s ago   |

A process crash (kill -9, a bug) loses no published record at any level: the pages live in
the kernel's page cache, not in the process. Whatever a power cut leaves torn at the end of
the newest segment, the next writer cuts by checksum (docs/format.md, "Damage").
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from binfeed.errors import ConfigError

NONE = "none"
SEAL = "seal"
INTERVAL = "interval"


@dataclass(frozen=True, slots=True)
class SyncPolicy:
    """A ``--sync`` level.

    Attributes:
        mode: ``none``, ``seal`` or ``interval``.
        interval_s: with ``interval``, seconds between two syncs of the open segment.
    """

    mode: str = NONE
    interval_s: float | None = None

    @property
    def on_seal(self) -> bool:
        """Sealed segments are synced (``seal`` and ``interval``)."""
        return self.mode != NONE

    @property
    def every_s(self) -> float:
        """Seconds between periodic syncs of the open segment; 0 for none."""
        return self.interval_s or 0.0

    def __str__(self) -> str:
        return f"interval:{self.interval_s:g}" if self.mode == INTERVAL else self.mode


def parse_sync(text: str) -> SyncPolicy:
    """``none``, ``seal`` or ``interval:SECONDS`` (SECONDS > 0, e.g. ``interval:1``).

    Raises:
        ConfigError: anything else (the message lists the choices).
    """
    value = text.strip().lower()
    if value in (NONE, SEAL):
        return SyncPolicy(value)
    head, sep, tail = value.partition(":")
    if head == INTERVAL and sep:
        try:
            seconds = float(tail)
        except ValueError:
            seconds = math.nan
        if math.isfinite(seconds) and seconds > 0:
            return SyncPolicy(INTERVAL, seconds)
    raise ConfigError(f"invalid sync level {text!r}: give none, seal or interval:SECONDS "
                      "(e.g. interval:1)")


__all__ = ["SyncPolicy", "parse_sync"]
