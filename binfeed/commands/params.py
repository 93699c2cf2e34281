"""What command-line values mean: the click types of times, speeds, sync levels, retention.

Each type wraps one parse function that raises :class:`~binfeed.errors.ConfigError`; click
shows its message as the usage error (exit 2), and a config file's value goes through the
same type (:mod:`binfeed.config`).

- :data:`TIME`: ``--from``/``--to`` (:func:`binfeed.selection.parse_time`).
- :data:`SPEED`: ``--speed``, see :func:`parse_speed`.
- :data:`FAULT`: ``replay --serve --fault KIND=VALUE``, see :func:`parse_fault`.
- :data:`PERIOD`: ``--symbols-refresh 1h``, see :func:`parse_period`.
- :data:`SYNC`: ``--sync none|seal|interval:S`` (:func:`binfeed.durability.parse_sync`).
- :data:`RETENTION`: ``--retain 7d,50GiB`` (:func:`binfeed.retention.parse_retention`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

import click

from binfeed import errors
from binfeed.binance.faults import (
    DEFAULT_SHUTDOWN_GRACE,
    Fault,
    FaultOption,
    Injection,
    PingEvery,
)
from binfeed.display import AGE_UNITS
from binfeed.durability import SyncPolicy, parse_sync
from binfeed.retention import RetentionPolicy, parse_retention
from binfeed.selection import parse_time

__all__ = ["FAULT", "FAULT_KINDS", "PERIOD", "RETENTION", "SPEED", "SYNC", "TIME", "ParsedType",
           "parse_fault", "parse_period", "parse_speed", "parse_time"]

_PERIOD_RE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*")
_AGE_UNITS = dict(AGE_UNITS)


def parse_speed(text: str) -> float | None:
    """``--speed``: '1' (the recorded pace), 'N' (N times faster), 'max' (None).

    Raises:
        ConfigError: not a positive number or 'max'.
    """
    s = text.strip().lower()
    if s in ("max", "inf", "0"):
        return None
    try:
        speed = float(s.rstrip("x"))
    except ValueError:
        speed = -1.0
    if not math.isfinite(speed) or speed <= 0:
        raise errors.ConfigError(f"invalid speed {text!r}: give 1 (recorded pace), a factor "
                                 "like 10 or 0.5, or max")
    return speed


#: ``--fault`` kinds: KIND -> (the VALUE's form, what it does). The help shows this table.
FAULT_KINDS = {
    "drop-every": ("N", "after N market-data frames, drop the TCP connection without a close "
                   "frame (the client sees 1006; what was sent is delivered)"),
    "reset-every": ("N", "after N frames, reset the TCP connection (RST)"),
    "stall-after": ("N", "after N frames, send nothing more, not even pings or pongs; the "
                    "socket stays open"),
    "close": ("CODE@N", "after N frames, a close frame with CODE (1000, 1001, 1008, 1011, "
              "3000-4999...)"),
    "shutdown-after": ("S[+G]", "S seconds after the connection opened, Binance's "
                       f"serverShutdown event; close 1001 G seconds later (default "
                       f"{DEFAULT_SHUTDOWN_GRACE:g}) while frames keep flowing"),
    "malformed-every": ("K", "after every K frames, one malformed frame inserted (truncated, "
                        "not JSON, a mistyped field, a bad decimal, in turn)"),
    "unsubscribed-every": ("K", "after every K frames, the latest frame of a stream the "
                           "client did not subscribe to"),
    "ping-every": ("S", "ping every S seconds instead of 20 (0.02: a flood of 50/s)"),
}


def _count(kind: str, text: str, minimum: int) -> int:
    if not text.isdigit() or int(text) < minimum:
        raise errors.ConfigError(f"{kind}: {text!r} is not a whole number >= {minimum}")
    return int(text)


def _seconds(kind: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise errors.ConfigError(f"{kind}: {text!r} is not a number of seconds")
    return value


def parse_fault(text: str) -> FaultOption:
    """``--fault [C:]KIND=VALUE``: one fault of :data:`FAULT_KINDS`, on every connection or,
    with the prefix ``C:``, on the C-th accepted connection only (not for ``ping-every``).

    Raises:
        ConfigError: an unknown kind, a malformed value, or a close code that cannot be
            sent.
    """
    s = text.strip()
    head, sep, rest = s.partition(":")
    connection = 0
    if sep and head.isdigit():
        connection, s = int(head), rest
        if connection < 1:
            raise errors.ConfigError(f"invalid fault {text!r}: connections count from 1")
    kind, eq, value = (part.strip() for part in s.partition("="))
    if kind not in FAULT_KINDS or not eq:
        raise errors.ConfigError(
            f"invalid fault {text!r}: give KIND=VALUE with KIND one of "
            f"{', '.join(FAULT_KINDS)} (e.g. drop-every=1500, close=1011@500, "
            "shutdown-after=30)")
    label = text.strip()
    try:
        if kind in ("drop-every", "reset-every", "stall-after"):
            action = {"drop-every": "abort", "reset-every": "reset", "stall-after": "stall"}
            return Fault(action[kind], _count(kind, value, 0),  # type: ignore[arg-type]
                         connection=connection, label=label)
        if kind == "close":
            code, at, frames = value.partition("@")
            if not at:
                raise errors.ConfigError(f"close: give CODE@N (e.g. close=1011@500), not "
                                         f"{value!r}")
            return Fault("close", _count(kind, frames, 0), connection=connection,
                         code=_count(kind, code, 1000), label=label)
        if kind == "shutdown-after":
            after, plus, grace = value.partition("+")
            return Fault("shutdown", connection=connection, after_seconds=_seconds(kind, after),
                         grace=_seconds(kind, grace) if plus else DEFAULT_SHUTDOWN_GRACE,
                         label=label)
        if kind in ("malformed-every", "unsubscribed-every"):
            return Injection("malformed" if kind == "malformed-every" else "unsubscribed",
                             _count(kind, value, 1), connection=connection, label=label)
        if connection:
            raise errors.ConfigError("ping-every applies to every connection: drop the "
                                     f"{connection}: prefix")
        interval = _seconds(kind, value)
        if interval <= 0:
            raise errors.ConfigError("ping-every: give a number of seconds > 0 (0.02 is 50 "
                                     "pings per second)")
        return PingEvery(interval, label=label)
    except (errors.ConfigError, ValueError) as exc:  # ValueError: the fault's own checks
        raise errors.ConfigError(f"invalid fault {text!r}: {exc}") from None


def parse_period(text: str) -> float:
    """A period: a number with a unit of :data:`binfeed.display.AGE_UNITS` ('90s', '30m',
    '1h', '1d', '1w'; a bare number is seconds). Returns seconds.

    Raises:
        ConfigError: anything else, or not more than zero.
    """
    m = _PERIOD_RE.fullmatch(text)
    unit = m.group(2).lower() if m else ""
    if not m or (unit and unit not in _AGE_UNITS) or float(m.group(1)) <= 0:
        units = ", ".join(_AGE_UNITS)
        raise errors.ConfigError(f"invalid period {text!r}: give a number above zero with "
                                 f"a unit ({units}), like 30m or 1h")
    return float(m.group(1)) * (_AGE_UNITS[unit] if unit else 1)


class ParsedType(click.ParamType):
    """A click type made of a parse function (text -> value, ConfigError when invalid).

    Args:
        name: what the help shows as the value's form.
        parse: the parse function.
        parsed: values of these types are already parsed (a default, a config file's
            number) and pass as they are; so does None.
    """

    def __init__(self, name: str, parse: Callable[[str], Any],
                 parsed: Callable[[Any], bool] = lambda value: False) -> None:
        self.name = name
        self._parse = parse
        self._parsed = parsed

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> Any:
        if value is None or self._parsed(value):
            return value
        try:
            return self._parse(str(value))
        except errors.ConfigError as exc:
            self.fail(str(exc), param, ctx)


TIME = ParsedType("time", parse_time, lambda value: isinstance(value, int))
SPEED = ParsedType("speed", parse_speed, lambda value: isinstance(value, float))
PERIOD = ParsedType("period", parse_period, lambda value: isinstance(value, float | int))
SYNC = ParsedType("none|seal|interval:S", parse_sync,
                  lambda value: isinstance(value, SyncPolicy))
RETENTION = ParsedType("retention", parse_retention,
                       lambda value: isinstance(value, RetentionPolicy))
FAULT = ParsedType("KIND=VALUE", parse_fault,
                   lambda value: isinstance(value, Fault | Injection | PingEvery))
