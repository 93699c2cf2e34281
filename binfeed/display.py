"""How binfeed writes sizes, times and durations for people: one formatter of each.

Two styles: for reading (:func:`size`, :func:`utc_time`, :func:`duration`: rounded, in the
unit that reads best) and exact (:func:`exact_size`, :func:`exact_duration`: text that
reads back to the same value, as retention policies are shown). Columns of text that may
hold wide characters (a symbol such as 币安人生USDT takes two terminal cells per CJK
character) are padded and cut by terminal width: :func:`ljust`, :func:`clip`.

Example::

    >>> size(3 * 1024**3 // 2), exact_size(50 * 1024**3), duration(0.0123)
    ('1.5 GiB', '50GiB', '12.3 ms')
"""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime

__all__ = [
    "AGE_UNITS",
    "IEC_UNITS",
    "clip",
    "duration",
    "exact_duration",
    "exact_size",
    "ljust",
    "size",
    "utc_time",
    "width",
]

#: Binary size units, smallest first, with their factors.
IEC_UNITS: tuple[tuple[str, int], ...] = (
    ("B", 1), ("KiB", 1024), ("MiB", 1024**2), ("GiB", 1024**3), ("TiB", 1024**4))
#: Age units, smallest first, with their lengths in seconds.
AGE_UNITS: tuple[tuple[str, int], ...] = (
    ("s", 1), ("m", 60), ("h", 3600), ("d", 86400), ("w", 7 * 86400))


def _cells(ch: str) -> int:
    if unicodedata.combining(ch):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def width(text: str) -> int:
    """Terminal cells ``text`` takes: 2 for wide (CJK, fullwidth) characters, 0 for
    combining marks, 1 for the others."""
    return sum(_cells(ch) for ch in text) if not text.isascii() else len(text)


def ljust(text: str, cells: int) -> str:
    """``text`` padded with spaces to ``cells`` terminal cells (``str.ljust`` counts
    characters, which misaligns wide ones)."""
    return text + " " * max(cells - width(text), 0)


def clip(text: str, cells: int) -> str:
    """The longest start of ``text`` that fits in ``cells`` terminal cells."""
    if text.isascii():
        return text[:cells]
    used = 0
    for i, ch in enumerate(text):
        used += _cells(ch)
        if used > cells:
            return text[:i]
    return text


def size(n: int | None) -> str:
    """A byte count to read: '512 B', '1.5 KiB' ... '2.0 TiB'; '-' for None."""
    if n is None:
        return "-"
    for unit, factor in reversed(IEC_UNITS[1:]):
        if n >= factor:
            return f"{n / factor:.1f} {unit}"
    return f"{n} B"


def exact_size(n: int) -> str:
    """A byte count in the largest binary unit that holds it whole: '50GiB', '1536B'."""
    for unit, factor in reversed(IEC_UNITS[1:]):
        if n >= factor and n % factor == 0:
            return f"{n // factor}{unit}"
    return f"{n}B"


def exact_duration(seconds: float) -> str:
    """An age in the largest unit that holds it whole: '7d', '36h', '90s', '1.5s'."""
    for unit, factor in reversed(AGE_UNITS[1:]):
        n = seconds / factor
        if n >= 1 and n == int(n):
            return f"{int(n)}{unit}"
    return f"{seconds:g}s"


def utc_time(ns: int | None) -> str:
    """A time in ns since the epoch: '2024-08-09 00:00:00.123Z' (UTC, ms); '-' for None/0."""
    if not ns:
        return "-"
    return datetime.fromtimestamp(ns / 1e9, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + "Z"


def duration(seconds: float | None) -> str:
    """A duration (a lag, an age) in the unit that reads best: '850 us', '12.3 ms',
    '4.20 s', '3m05s', '3h12m', '2d04h'; '-' for None."""
    if seconds is None:
        return "-"
    if seconds < 0:
        return f"-{duration(-seconds)} (clock skew)"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} us"
    if seconds < 1:
        return f"{seconds * 1e3:.1f} ms"
    if seconds < 120:
        return f"{seconds:.2f} s"
    minutes = int(seconds // 60)
    if minutes < 120:
        return f"{minutes}m{int(seconds % 60):02d}s"
    hours = minutes // 60
    if hours < 48:
        return f"{hours}h{minutes % 60:02d}m"
    return f"{hours // 24}d{hours % 24:02d}h"
