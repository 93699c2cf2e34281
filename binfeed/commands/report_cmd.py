"""``binfeed report``: a queue on one HTML page, figures embedded."""

from __future__ import annotations

import os
from pathlib import Path

import click

import binfeed
from binfeed import arrow
from binfeed.commands.common import config_option, queue_location, symbols_option, window_options
from binfeed.commands.console import translate_errors
from binfeed.commands.damage import DamageLog
from binfeed.queue import Damage
from binfeed.report import ReportData, build

_TYPES = ("bookTicker", "trade", "gap", "connection")


@click.command("report")
@queue_location(param="queue_dir")
@click.option("--output", "-o", "out", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("report.html"), show_default=True, metavar="FILE",
              help="The HTML file to write (replaced if it exists).")
@symbols_option("Only these symbols (comma-separated, any case). Default: all.")
@window_options()
@config_option()
@translate_errors
def report(queue_dir: Path, out: Path, symbols: list[str], time_from: int | None,
           time_to: int | None) -> None:
    """Write one self-contained HTML page about the queue at DIR: records per second per
    stream, mid price and spread per symbol, exchange-to-receive latency of trades (with
    what the clock offset means for it), and gaps and connection events on a timeline.

    The figures are PNGs inside the page (no script, nothing fetched): the file can be
    mailed or archived. Long queues are drawn in time bins (at most 400 per line), so the
    page stays small. Needs the arrow extra and matplotlib (`pip install
    'binfeed[report]'`).

    Every record is checked as it is read; damage is reported on stderr, listed on the
    page, left out of the figures, and makes the exit status 1.

    Exit status: 0; 1 when the queue cannot be read or holds damage, or --symbols matches
    no symbol of the queue; 2 for bad arguments.

    Example:

    \b
        binfeed report data/q -o report.html
        binfeed report data/q -o btc.html --symbols btcusdt --from 2024-08-09T00:00:00Z
    """
    arrow.require("pandas")
    _require_matplotlib()
    damage = DamageLog(queue_dir)
    seen: list[str] = []

    def on_damage(d: Damage) -> None:
        # each record type is a read of its own: the same damage is met once per type
        if d.message not in seen:
            seen.append(d.message)
            damage(d)

    ds = binfeed.open(queue_dir, on_damage=on_damage)
    # the first read refuses --symbols that match nothing (SelectionError: exit 1)
    tables = {t: ds.to_pandas(t, symbols=symbols or None, start=time_from, end=time_to)
              for t in _TYPES}
    page = build(ReportData(str(queue_dir), tables["bookTicker"], tables["trade"],
                            tables["gap"], tables["connection"], damage=seen))
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(page, encoding="utf-8")
    os.replace(tmp, out)  # a reader of OUT never sees half a page
    click.echo(f"{out}\t{len(page.encode()):,} bytes")
    damage.finish()


def _require_matplotlib() -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise click.ClickException(
            "matplotlib is not installed: `binfeed report` needs the report extra "
            "(pip install 'binfeed[report]')") from None
