"""What command-line values mean: the click types of times, speeds, sync levels, retention.

Each type wraps one parse function that raises :class:`~binfeed.errors.ConfigError`; click
shows its message as the usage error (exit 2), and a config file's value goes through the
same type (:mod:`binfeed.config`).

- :data:`TIME`: ``--from``/``--to``, see :func:`parse_time`.
- :data:`SPEED`: ``--speed``, see :func:`parse_speed`.
- :data:`SYNC`: ``--sync none|seal|interval:S`` (:func:`binfeed.durability.parse_sync`).
- :data:`RETENTION`: ``--retain 7d,50GiB`` (:func:`binfeed.retention.parse_retention`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import click

from binfeed import errors
from binfeed.durability import SyncPolicy, parse_sync
from binfeed.retention import RetentionPolicy, parse_retention

__all__ = ["RETENTION", "SPEED", "SYNC", "TIME", "ParsedType", "parse_speed", "parse_time"]


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
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    seconds = int(dt.timestamp())
    return seconds * 1_000_000_000 + dt.microsecond * 1000


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
SYNC = ParsedType("none|seal|interval:S", parse_sync,
                  lambda value: isinstance(value, SyncPolicy))
RETENTION = ParsedType("retention", parse_retention,
                       lambda value: isinstance(value, RetentionPolicy))
