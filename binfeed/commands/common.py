"""Shared pieces of the CLI commands: option decorators and error translation."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import click

from binfeed.errors import BinfeedError

F = TypeVar("F", bound=Callable[..., Any])

#: Exit codes shared by every command (also listed in each command's --help).
EXIT_OK = 0
EXIT_FAILURE = 1  # an expected failure: the message says what to do
EXIT_USAGE = 2  # bad arguments (click's own code)


def queue_dir_option(required: bool = True) -> Callable[[F], F]:
    """``--queue DIR``: the queue directory a command writes or reads."""
    return click.option(
        "--queue", "-q", "queue", required=required,
        type=click.Path(file_okay=False, dir_okay=True, writable=True, resolve_path=False),
        help="Queue directory (created if missing when writing).",
    )


def symbols_option(help_text: str) -> Callable[[F], F]:
    """``--symbols a,b``: comma-separated symbols, any case."""
    return click.option("--symbols", "-s", default=None, metavar="SYM[,SYM...]",
                        help=help_text)


def split_symbols(value: str | None) -> list[str]:
    """'btcusdt, ETHUSDT' -> ['BTCUSDT', 'ETHUSDT'] (empty entries dropped)."""
    if not value:
        return []
    return [s.strip().upper() for s in value.split(",") if s.strip()]


def translate_errors(fn: F) -> F:
    """Turns binfeed's expected failures into ``Error: ...`` with exit 1, no traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except BinfeedError as exc:
            raise click.ClickException(str(exc)) from exc

    return wrapper  # type: ignore[return-value]


def setup_logging(verbose: int) -> None:
    """Logs to stderr: warnings by default, -v info, -vv debug."""
    level = logging.WARNING if verbose <= 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
