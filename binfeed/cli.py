"""The ``binfeed`` command line: one click group, one module per command."""

from __future__ import annotations

import importlib

import click

from binfeed import __version__
from binfeed.commands.common import setup_logging

#: (module under binfeed.commands, attribute): the commands, in the order --help lists them.
COMMANDS = [
    ("demo_cmd", "demo"),
    ("record_cmd", "record"),
    ("import_cmd", "import_"),
    ("replay_cmd", "replay"),
    ("info_cmd", "info"),
    ("monitor_cmd", "monitor"),
    ("prune_cmd", "prune"),
]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="binfeed")
@click.option("-v", "--verbose", count=True, help="More log output on stderr (-vv: debug).")
def main(verbose: int) -> None:
    """Record Binance Spot market data into a memory-mapped queue, and read it back.

    A queue is a directory of fixed-size 128-byte records that any number of processes can
    read while one writer appends (format: docs/format.md).

    Example:

        binfeed record --queue data/q --symbols btcusdt,ethusdt --streams bookTicker,trade

        binfeed replay data/q --format jsonl | head
    """
    setup_logging(verbose)


for _module, _attr in COMMANDS:
    main.add_command(getattr(importlib.import_module(f"binfeed.commands.{_module}"), _attr))
