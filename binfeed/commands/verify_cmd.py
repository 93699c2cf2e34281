"""``binfeed verify``: check a whole queue for damage, offline."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click

from binfeed import errors
from binfeed.verify import verify_queue

#: Exit status when damage was found.
EXIT_DAMAGE = 1
#: Exit status when the directory cannot be checked (and for bad usage).
EXIT_CANNOT_CHECK = 2


@click.command("verify")
@click.argument("queue_dir", metavar="DIR",
                type=click.Path(file_okay=False, dir_okay=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True,
              help='Print one JSON object: {"ok", "segments", "records", "findings": [...]}.')
def verify(queue_dir: Path, as_json: bool) -> None:
    """Check every segment of the queue at DIR and list what is wrong.

    Checked: segments without holes; every header valid; each segment's first_index
    continuing the previous one; write_index consistent with the file size and the sealed
    flag; every published record's checksum and type; symbols defined before use. Legal
    states are information, not damage (a sealed segment not yet truncated; complete but
    unpublished records after a writer was killed). Per-stream duplicates and reversals are
    warnings (an import without --dedup stores duplicates on purpose).

    Output: one line per finding, "<segment file> slot <n>: <severity>: <what>" (or
    "<segment file>: ..." for the whole file), then a summary line. With --json, one
    object: {"ok": bool, "segments": n, "records": n, "findings": [{"segment", "slot",
    "kind", "severity", "detail", "count"}]}.

    It only reads: safe while a writer appends (the newest segment is checked as far as
    it was published).

    \b
    Exit status:
      0  no damage (warnings and information allowed)
      1  damage found
      2  bad usage, or DIR cannot be checked (not a queue, unreadable)

    Example:

    \b
        binfeed verify data/q
        binfeed verify data/q --json | jq '.findings[] | select(.severity == "damage")'
    """
    started = time.monotonic()
    try:
        report = verify_queue(queue_dir)
    except (errors.QueueNotFoundError, errors.QueueIOError) as exc:
        click.echo(f"Error: cannot check {queue_dir}: {exc}", err=True)
        sys.exit(EXIT_CANNOT_CHECK)
    seconds = time.monotonic() - started
    if as_json:
        click.echo(json.dumps({
            "ok": report.ok, "segments": report.segments, "records": report.records,
            "findings": [f.as_json() for f in report.findings]}))
    else:
        for f in report.findings:
            click.echo(f.line())
        verdict = "ok" if report.ok else "DAMAGED"
        click.echo(f"{verdict}: {queue_dir}: {report.segments} segment(s), "
                   f"{report.records:,} records ({report.slots:,} slots checked in "
                   f"{seconds:.2f} s); {report.damage} damage, {report.warnings} warning(s), "
                   f"{report.info} info")
    if not report.ok:
        sys.exit(EXIT_DAMAGE)
