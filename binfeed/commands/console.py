"""The CLI's console: UTF-8 output whatever the locale, logs on stderr, and binfeed's
expected failures as ``Error: ...`` with the exit codes every command shares.
"""

from __future__ import annotations

import codecs
import functools
import io
import logging
import sys
from collections.abc import Callable
from typing import IO, Any, TypeVar

import click

from binfeed.errors import BinfeedError

F = TypeVar("F", bound=Callable[..., Any])

#: Exit codes shared by every command (also listed in each command's --help); an expected
#: failure, ``Error: ...`` (:func:`translate_errors`), exits 1, click's code for it.
EXIT_OK = 0
EXIT_USAGE = 2  # bad arguments (click's own code)


def utf8_stdout() -> IO[str]:
    """Standard output, writing UTF-8 whatever the locale says: JSON lines and CSV are UTF-8
    by contract, also for symbols such as 币安人生USDT."""
    out = sys.stdout
    if isinstance(out, io.TextIOWrapper) and not _is_utf8(out):
        out.reconfigure(encoding="utf-8")
    return out


def readable_console() -> None:
    """Text for people on a console whose locale cannot show every character (a UTF-8 symbol
    on a Latin-1 terminal) is written with backslash escapes instead of failing."""
    for out in (sys.stdout, sys.stderr):
        if isinstance(out, io.TextIOWrapper) and not _is_utf8(out):
            out.reconfigure(errors="backslashreplace")


def _is_utf8(out: IO[str]) -> bool:
    return codecs.lookup(out.encoding or "ascii").name == "utf-8"


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
