"""Damage met by a command's reader: one line on stderr each, exit status 1 at the end.

Every command that reads a queue (replay, info, monitor, replay --serve) hands a
:class:`DamageLog` to its :class:`~binfeed.queue.QueueReader` as ``on_damage``: good records
are all printed, each damaged record, hole or unreadable segment is reported where it was
met, and :meth:`DamageLog.finish` turns any damage into ``Error: ...``, exit 1.
"""

from __future__ import annotations

from pathlib import Path

import click

from binfeed.queue import Damage


class DamageLog:
    """Reports each :class:`~binfeed.queue.Damage` on stderr and counts it."""

    def __init__(self, queue_dir: Path) -> None:
        self.queue_dir = queue_dir
        self.damage: list[Damage] = []
        self.warnings: list[Damage] = []

    def __call__(self, damage: Damage) -> None:
        if damage.severity == "warning":
            self.warnings.append(damage)
            click.echo(f"binfeed: warning: {damage.message}", err=True)
        else:
            self.damage.append(damage)
            click.echo(f"binfeed: damage: {damage.message}", err=True)

    def finish(self) -> None:
        """Raises ``Error: ...`` (exit 1) if any damage was met."""
        if self.damage:
            raise click.ClickException(
                f"{len(self.damage)} damaged record(s) or segment(s) of {self.queue_dir} were "
                "skipped (listed above); every good record was read. Run `binfeed verify "
                f"{self.queue_dir}` for the full report.")
