"""The ``binfeed`` command line: one click group, one module per command.

Commands are imported only when run (or listed with their help), so ``binfeed import``
does not pay for the recorder's imports (anyio, websockets...) at start-up.
"""

from __future__ import annotations

import importlib

import click

from binfeed import __version__
from binfeed.commands.console import readable_console, setup_logging

#: command name -> (module under binfeed.commands, attribute holding the click command).
COMMANDS = {
    "demo": ("demo_cmd", "demo"),
    "record": ("record_cmd", "record"),
    "import": ("import_cmd", "import_"),
    "replay": ("replay_cmd", "replay"),
    "export": ("export_cmd", "export"),
    "info": ("info_cmd", "info"),
    "monitor": ("monitor_cmd", "monitor"),
    "prune": ("prune_cmd", "prune"),
    "verify": ("verify_cmd", "verify"),
    "report": ("report_cmd", "report"),
}


class LazyGroup(click.Group):
    """A group whose commands are imported on first use (click's documented pattern)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in COMMANDS and cmd_name not in self.commands:
            module, attr = COMMANDS[cmd_name]
            cmd = getattr(importlib.import_module(f"binfeed.commands.{module}"), attr)
            self.add_command(cmd, cmd_name)
        return super().get_command(ctx, cmd_name)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
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
    readable_console()
    setup_logging(verbose)


def all_commands() -> dict[str, click.Command]:
    """Every command, imported (for docs checks and tools that inspect options)."""
    ctx = click.Context(main)
    return {name: cmd for name in main.list_commands(ctx)
            if (cmd := main.get_command(ctx, name)) is not None}
