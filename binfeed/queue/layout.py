"""The files of a queue directory, by name: its segments (listed, oldest first) and the
writer lock file (who holds or last held the queue).

The names are those of ``csrc/include/binfeed_reader.h`` ("Directory layout"), made and
recognised by C; whether a writer is live is answered by C (an OFD lock probe), what the
lock file says is read here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from binfeed import errors
from binfeed._ffi import check, ffi, lib, string

#: The writer lock file of a queue directory.
LOCK_FILE: str = string(lib.bf_py_lock_file_name())


def segment_name(seq: int) -> str:
    """File name of segment ``seq`` inside a queue directory ("00000000000000000042.bfq")."""
    buf = ffi.new("char[]", lib.BF_SEGMENT_NAME_MAX)
    lib.bf_py_segment_name(buf, len(buf), seq)
    return string(buf)


def parse_segment_name(name: str) -> int | None:
    """The seq of a segment file name, None for any other name (temporary files too)."""
    seq = ffi.new("uint64_t *")
    return int(seq[0]) if lib.bf_py_parse_segment_name(os.fsencode(name), seq) else None


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
        seq = parse_segment_name(name)
        if seq is not None:
            found.append((seq, root / name))
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
