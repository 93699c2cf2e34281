"""``binfeed prune``: one retention pass over a queue (what ``record --retain`` does
periodically)."""

from __future__ import annotations

from pathlib import Path

import click

from binfeed import retention
from binfeed.commands.common import config_option, queue_location, retain_option
from binfeed.commands.console import translate_errors
from binfeed.display import size
from binfeed.retention import RetentionPolicy


@click.command("prune")
@queue_location(param="queue_dir")
@retain_option(required=True)
@click.option("--dry-run", "-n", is_flag=True,
              help="Only show what would be deleted.")
@config_option()
@translate_errors
def prune(queue_dir: Path, retain: RetentionPolicy, dry_run: bool) -> None:
    """Delete the oldest whole segments of the queue at DIR beyond --retain.

    Only sealed segments go, oldest first and without leaving a hole: never the newest
    segment, never an unsealed one, never one a reader has open (readers hold a read lock
    on the segments they map; a held segment stays, with every newer one). Ages count
    from when a segment was sealed; sizes are the queue's space on disk. Safe while a
    writer appends and readers read. It prints one line per deleted segment and a summary.

    Exit status: 0 (also when nothing was deleted), 1 when the queue cannot be read or a
    segment cannot be deleted, 2 for bad arguments.

    Example:

    \b
        binfeed prune data/q --retain 7d
        binfeed prune --bus-root /srv/binfeed --name binance-spot --retain 7d,50GiB
        binfeed prune data/q --retain 50GiB --dry-run
    """
    result = retention.prune(queue_dir, retain, dry_run=dry_run)
    verb = "would delete" if dry_run else "deleted"
    for path in result.deleted:
        click.echo(f"{verb} {path}")
    summary = (f"{verb} {len(result.deleted)} segment(s), {size(result.bytes_freed)}; "
               f"kept {result.kept_segments} ({size(result.kept_bytes)}) under "
               f"--retain {retain}")
    if result.held_by_reader is not None:
        summary += f"; {result.held_by_reader.name} is open in a reader, kept with newer ones"
    click.echo(summary)
