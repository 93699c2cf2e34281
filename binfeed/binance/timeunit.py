"""Exchange time units: milliseconds (Binance's default) or microseconds, as a recorder asks
for them and as the loopback server serves them.

Binance's WebSocket streams (changelog 2024-12-17) take an optional ``timeUnit`` in the
connect URL, ``MILLISECOND`` / ``millisecond`` (the default) or ``MICROSECOND`` /
``microsecond``, and then write every time field in that unit: ``/stream?streams=
btcusdt@trade&timeUnit=MICROSECOND`` sends ``"T":1764633600123456``.

Records keep microseconds whichever unit a stream uses: the parser tells the unit of each
time by its magnitude (``BF_MICROSECOND_TIMES_FROM`` = 10^14: a millisecond time below it
is before the year 5138, a microsecond time above it after 1973), so millisecond times are
stored times 1000 and microsecond times exactly, live or imported. The server converts the
same way (:func:`payload_in_unit`).

Sans-I/O: plain values and text.
"""

from __future__ import annotations

import enum
import json
import re
from typing import Any

from binfeed._ffi import lib
from binfeed.errors import ConfigError

__all__ = ["MICROSECOND_TIMES_FROM", "TimeUnit", "payload_in_unit"]

#: The parser's bound between millisecond and microsecond times (``BF_MICROSECOND_TIMES_FROM``).
MICROSECOND_TIMES_FROM: int = int(lib.BF_MICROSECOND_TIMES_FROM)

#: The keys that hold times in Binance's stream events: the event time ``E`` of every event,
#: ``T`` (trade time, transaction time, a kline's close time) where there is one.
TIME_KEYS = ("E", "T")
_TIME_FIELD = re.compile(r'"[ET]":(\d+)')


class TimeUnit(enum.Enum):
    """The unit of a stream's times; the value is the ``record --time-unit`` spelling."""

    MS = "ms"
    US = "us"

    @property
    def url_value(self) -> str | None:
        """``timeUnit`` as binfeed names it in a URL: None for milliseconds (Binance's
        default, left out), ``MICROSECOND`` for microseconds."""
        return "MICROSECOND" if self is TimeUnit.US else None

    @classmethod
    def parse(cls, text: str) -> TimeUnit:
        """'ms' / 'us' (any case) to a TimeUnit.

        Raises:
            ConfigError: anything else.
        """
        try:
            return cls(text.strip().lower())
        except ValueError:
            raise ConfigError(f"unknown time unit {text!r}: use ms (milliseconds, Binance's "
                              "default) or us (microseconds)") from None

    @classmethod
    def from_url_value(cls, value: str) -> TimeUnit:
        """A ``timeUnit`` URL value as Binance accepts it (``MILLISECOND``,
        ``millisecond``, ``MICROSECOND``, ``microsecond``).

        Raises:
            ValueError: any other value.
        """
        if value in ("MICROSECOND", "microsecond"):
            return cls.US
        if value in ("MILLISECOND", "millisecond"):
            return cls.MS
        raise ValueError(f"invalid timeUnit {value!r}: use MILLISECOND or MICROSECOND")


def payload_in_unit(payload: str, unit: TimeUnit) -> str:
    """A stream event's JSON text with its times in ``unit``: every integer ``E`` and ``T``,
    at any depth, converted exactly (milliseconds times 1000; microseconds to whole
    milliseconds, rounded down, as Binance truncates). The unit of each value is told by
    its magnitude, as the parser tells it. Text that needs no change is returned as it is,
    byte for byte, and so is text that is not JSON (a source may serve broken frames on
    purpose); changed text is compact JSON with its keys in their order."""
    micros = unit is TimeUnit.US
    if not any((int(m.group(1)) >= MICROSECOND_TIMES_FROM) is not micros
               for m in _TIME_FIELD.finditer(payload)):
        return payload
    try:
        doc = json.loads(payload)
    except ValueError:
        return payload
    _convert(doc, micros)
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False)


def _convert(node: Any, micros: bool) -> None:
    if isinstance(node, list):
        for item in node:
            _convert(item, micros)
        return
    if not isinstance(node, dict):
        return
    for key, value in node.items():
        if key in TIME_KEYS and type(value) is int:
            if micros and value < MICROSECOND_TIMES_FROM:
                node[key] = value * 1000
            elif not micros and value >= MICROSECOND_TIMES_FROM:
                node[key] = value // 1000
        else:
            _convert(value, micros)
