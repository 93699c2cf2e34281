"""The files of a queue directory, by name: its segments (listed, oldest first) and the
writer lock file (who holds or last held the queue).

The names are those of ``csrc/include/binfeed_reader.h`` ("Directory layout"); whether a
writer is live is answered by C (an OFD lock probe), what the lock file says is read here.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from binfeed import errors
from binfeed._ffi import check, lib

SEGMENT_RE = re.compile(r"^(\d{20})\.bfq$")
LOCK_FILE = "writer.lock"


def segment_name(seq: int) -> str:
    """File name of segment ``seq`` inside a queue directory."""
    return f"{seq:020d}.bfq"


def list_segments(path: str | os.PathLike[str]) -> list[tuple[int, Path]]:
    """The queue's segments as (seq, path), oldest first; [] when there are none.

    Raises:
        QueueNotFoundError: ``path`` is not a directory.
    """
    root = Path(path)
    try:
        names = os.listdir(root)
    except FileNotFoundError:
        raise errors.QueueNotFoundError(
            f"no queue at {root}: the directory does not exist (record or import into it first)",
            lib.BF_ENOTFOUND,
        ) from None
    except NotADirectoryError:
        raise errors.QueueNotFoundError(
            f"{root} is a file, not a queue directory", lib.BF_ENOTFOUND
        ) from None
    found = []
    for name in names:
        m = SEGMENT_RE.match(name)
        if m:
            found.append((int(m.group(1)), root / name))
    found.sort()
    return found


@dataclass(frozen=True, slots=True)
class WriterStatus:
    """Who holds (or last held) a queue's writer lock."""

    live: bool
    pid: int | None
    host: str | None
    started_ns: int | None
    command: str | None


def writer_status(path: str | os.PathLike[str]) -> WriterStatus:
    """Whether a live writer holds the queue, and what its lock file says (takes no lock)."""
    root = Path(path)
    rc = lib.bf_py_writer_live(os.fsencode(root))
    if rc == lib.BF_ENOTFOUND:
        return WriterStatus(False, None, None, None, None)
    check(rc, f"cannot probe the writer lock of {root}")
    fields: dict[str, str] = {}
    try:
        for line in (root / LOCK_FILE).read_text(errors="replace").splitlines():
            key, _, value = line.partition("=")
            fields[key.strip()] = value.strip()
    except OSError:
        pass
    pid = fields.get("pid")
    started = fields.get("started_ns")
    return WriterStatus(rc == 1, int(pid) if pid and pid.isdigit() else None,
                        fields.get("host"), int(started) if started and started.isdigit()
                        else None, fields.get("command"))
