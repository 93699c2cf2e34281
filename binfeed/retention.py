"""Retention: drop a queue's oldest whole segments beyond an age or a size.

``--retain`` takes an age (``36h``, ``7d``, ``2w``, also ``90m``, ``600s``), a size
(``50GiB``, ``500MB``; IEC units are powers of 1024, SI units powers of 1000) or both
separated by a comma (``7d,50GiB``: whichever drops more).

Rules (``docs/operations.md``):

- Only whole segments go, oldest first, and only a contiguous run from the oldest: a
  segment that must stay (held by a reader, or not old enough) protects every newer one,
  so the queue never gets a hole a reader could silently skip.
- Never the newest segment, never an unsealed one (the writer's, or one a crashed writer
  left for the next writer's recovery), never a file that is not a valid binfeed segment.
- Never a segment a reader has open: readers hold an OFD read lock on every segment they
  map (:class:`binfeed.queue.Segment`); retention takes an OFD write lock on the file
  without waiting, and a segment whose lock is refused stays, with every newer one. The
  file is unlinked while that lock is held, so a reader that opens it meanwhile still maps
  a complete file (its data lives until it is unmapped).
- Age is measured from when the segment was sealed (its last record was written), in wall
  clock time; size is the queue's space on disk, all segments included.

:func:`apply_retention` is blocking (it opens, locks and unlinks files): a recorder runs it
from a worker thread, e.g. through :func:`retention_task` in its task group.
"""

from __future__ import annotations

import logging
import math
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import anyio.abc

from binfeed import errors
from binfeed._ffi import ffi, lib, string
from binfeed.display import AGE_UNITS, IEC_UNITS, exact_duration, exact_size
from binfeed.queue import list_segments
from binfeed.records import HEADER_SIZE

log = logging.getLogger(__name__)

_AGE_UNITS = dict(AGE_UNITS)
# the binary units (KiB, ... also spelt K, ...) and their decimal cousins (kB = 1000 B, ...)
_SIZE_UNITS = {"b": 1} | {
    spelling: factor
    for power, (unit, binary) in enumerate(IEC_UNITS[1:], 1)
    for spelling, factor in ((unit.lower(), binary), (unit[0].lower(), binary),
                             (unit[0].lower() + "b", 1000**power))
}
_PART_RE = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([A-Za-z]+)\s*")
#: Default pause between two retention passes of a recorder.
DEFAULT_INTERVAL_S = 60.0


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """How much of a queue to keep; None means no limit of that kind.

    Attributes:
        max_age_s: drop segments sealed longer ago than this.
        max_bytes: drop the oldest segments while the queue takes more than this on disk.
    """

    max_age_s: float | None = None
    max_bytes: int | None = None

    def __str__(self) -> str:
        parts = []
        if self.max_age_s is not None:
            parts.append(exact_duration(self.max_age_s))
        if self.max_bytes is not None:
            parts.append(exact_size(self.max_bytes))
        return ",".join(parts) or "keep everything"


def parse_retention(text: str) -> RetentionPolicy:
    """'7d' / '36h' / '50GiB' / '7d,50GiB' -> a :class:`RetentionPolicy`.

    Raises:
        ConfigError: anything else (a bare number, an unknown unit, zero, twice the same
            kind); the message shows valid examples.
    """
    age: float | None = None
    size: int | None = None
    if not text.strip():
        raise _invalid(text, "it is empty")
    for part in text.split(","):
        m = _PART_RE.fullmatch(part)
        if not m:
            raise _invalid(text, f"{part.strip()!r} is not a number with a unit")
        number, unit = float(m.group(1)), m.group(2)
        # 'm' is minutes and 'M' mebibytes; other age units are case-insensitive.
        if unit != "M" and unit.lower() in _AGE_UNITS:
            unit = unit.lower()
            if age is not None:
                raise _invalid(text, "it gives two ages")
            age = number * _AGE_UNITS[unit]
            if age <= 0:
                raise _invalid(text, "the age must be more than zero")
        elif unit.lower() in _SIZE_UNITS:
            if size is not None:
                raise _invalid(text, "it gives two sizes")
            size = math.floor(number * _SIZE_UNITS[unit.lower()])
            if size <= 0:
                raise _invalid(text, "the size must be more than zero")
        else:
            raise _invalid(text, f"unknown unit {unit!r}")
    return RetentionPolicy(age, size)


def _invalid(text: str, why: str) -> errors.ConfigError:
    return errors.ConfigError(
        f"invalid retention {text!r}: {why}; give an age like 36h, 7d, 2w or a size like "
        "50GiB, 500MB, or both: 7d,50GiB")


@dataclass
class PruneResult:
    """What one retention pass did."""

    deleted: list[Path] = field(default_factory=list)
    bytes_freed: int = 0
    #: The segment that stopped the pass because a reader holds it (it and newer stay).
    held_by_reader: Path | None = None
    #: Segments and bytes left.
    kept_segments: int = 0
    kept_bytes: int = 0


@dataclass(frozen=True, slots=True)
class _Candidate:
    seq: int
    path: Path
    bytes_on_disk: int


def prune(
    queue_dir: str | os.PathLike[str],
    policy: RetentionPolicy,
    *,
    now_ns: int | None = None,
    dry_run: bool = False,
) -> PruneResult:
    """Drops the segments ``policy`` says to drop (see the module doc for the rules).

    Args:
        queue_dir: the queue directory.
        policy: what to keep.
        now_ns: the wall-clock time ages are measured at (default: now).
        dry_run: only report what would go (held segments are still detected).

    Raises:
        QueueNotFoundError: no queue directory there.
        QueueIOError: a segment could not be deleted (permissions).
    """
    now = time.time_ns() if now_ns is None else now_ns
    segments = list_segments(queue_dir)
    result = PruneResult()
    sizes = [_disk_bytes(p) for _, p in segments]
    total = sum(sizes)
    # Never the newest segment: it is the writer's, or the next writer's to recover.
    for i, (seq, path) in enumerate(segments[:-1]):
        over_size = policy.max_bytes is not None and total > policy.max_bytes
        fd = _open_rw(path)
        if fd is None:
            continue  # vanished meanwhile (another pruner)
        try:
            header = _header(fd, seq, path)
            if header is None:
                break
            sealed, sealed_ns = header
            if not sealed:
                break  # unsealed: a crashed writer's, left for recovery
            sealed_ns = sealed_ns or _mtime_ns(fd)
            too_old = policy.max_age_s is not None and \
                (now - sealed_ns) > policy.max_age_s * 1e9
            if not (too_old or over_size):
                break
            got = lib.bf_py_try_lock_exclusive(fd)
            if got == 0:
                result.held_by_reader = path
                log.info("retention: %s is open in a reader; keeping it and newer segments",
                         path)
                break
            if got < 0:
                raise errors.QueueIOError(
                    f"cannot lock {path} for retention: {os.strerror(-got)}", lib.BF_EIO)
            if not dry_run:
                try:
                    os.unlink(path)
                except FileNotFoundError:
                    continue
                except OSError as exc:
                    raise errors.QueueIOError(
                        f"cannot delete {path}: {exc.strerror}; check the queue directory's "
                        "permissions", lib.BF_EIO) from exc
            result.deleted.append(path)
            result.bytes_freed += sizes[i]
            total -= sizes[i]
        finally:
            os.close(fd)  # drops the write lock
    result.kept_segments = len(segments) - len(result.deleted)
    result.kept_bytes = total
    if result.deleted and not dry_run:
        _fsync_dir(Path(queue_dir))
        log.info("retention (%s): deleted %d segment(s), %d bytes", policy,
                 len(result.deleted), result.bytes_freed)
    return result


def apply_retention(queue_dir: str | os.PathLike[str], policy: RetentionPolicy) -> list[Path]:
    """One retention pass over ``queue_dir``; returns the segment files it deleted.

    Blocking: call it from a worker thread in an event loop
    (``await anyio.to_thread.run_sync(apply_retention, queue_dir, policy)``).

    Raises:
        QueueNotFoundError, QueueIOError: see :func:`prune`.
    """
    return prune(queue_dir, policy).deleted


async def retention_task(
    queue_dir: str | os.PathLike[str],
    policy: RetentionPolicy,
    interval_s: float = DEFAULT_INTERVAL_S,
    *,
    task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Applies ``policy`` now and then every ``interval_s`` seconds, in a worker thread,
    until cancelled. Start it in the recorder's task group:
    ``await tg.start(retention_task, queue_dir, policy)``.

    A failed pass is logged and retried at the next interval (retention must never stop
    a recorder); only cancellation ends the task.
    """
    started = False
    while True:
        try:
            await anyio.to_thread.run_sync(apply_retention, queue_dir, policy)
        except errors.BinfeedError as exc:
            log.warning("retention pass failed (will retry in %g s): %s", interval_s, exc)
        if not started:
            started = True
            task_status.started()
        await anyio.sleep(interval_s)


def _open_rw(path: Path) -> int | None:
    try:
        return os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise errors.QueueIOError(
            f"cannot open {path} for retention: {exc.strerror}; retention needs write "
            "access to the queue directory and its files", lib.BF_EIO) from exc


def _header(fd: int, seq: int, path: Path) -> tuple[bool, int] | None:
    """(sealed, sealed_ns) of a segment whose header the C judge accepts; else None (logged)."""
    raw = os.pread(fd, HEADER_SIZE, 0)
    buf = ffi.from_buffer(raw)
    msg = ffi.new("char[]", 1024)
    info = ffi.new("bf_py_segment_info *")
    size = os.fstat(fd).st_size
    rc = lib.bf_py_segment_check(buf if len(raw) >= HEADER_SIZE else ffi.NULL, size, seq,
                                 os.fsencode(path), info, msg, len(msg))
    if rc < 0:
        log.warning("retention: %s; stopping here (run `binfeed verify`)", string(msg))
        return None
    return bool(lib.bf_py_segment_sealed(buf)), int(info.sealed_ns)


def _mtime_ns(fd: int) -> int:
    return os.fstat(fd).st_mtime_ns


def _disk_bytes(path: Path) -> int:
    try:
        return path.stat().st_blocks * 512
    except OSError:
        return 0


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


__all__ = [
    "DEFAULT_INTERVAL_S",
    "PruneResult",
    "RetentionPolicy",
    "apply_retention",
    "parse_retention",
    "prune",
    "retention_task",
]
