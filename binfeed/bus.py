"""The bus: one root directory that holds many named queues, for recorders and readers.

Layout (documented in ``docs/operations.md``)::

    ROOT/                       the bus root (``--bus-root ROOT``, or $BINFEED_BUS_ROOT)
      binance-spot/             one queue per name: an ordinary queue directory
        writer.lock
        00000000000000000001.bfq
        ...
      binance-spot-bookticker-trade/
      my-research-feed/         a user's --name

A queue's place is ``ROOT/<name>/``, nothing else: any tool that knows the root and the
name finds the queue, and several recorders (one per name, each the single writer of its
queue) and any number of readers share one root. A recorder's default name derives from
the exchange, the market and the streams it records (:func:`recorder_queue_name`), so two
recorders of different streams on one root never collide; give ``--name`` for anything
else. Names are portable file names: letters, digits, ``.``, ``_``, ``-``, at most 100
characters, not starting with ``.`` (hidden entries of the root are never queues).

No module state; nothing here opens a queue for writing.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from binfeed import errors
from binfeed.queue import (
    LOCK_FILE,
    Segment,
    WriterStatus,
    list_segments,
    parse_segment_name,
    writer_status,
)

#: Environment variable that supplies ``--bus-root`` when the flag is not given.
BUS_ROOT_ENV = "BINFEED_BUS_ROOT"
#: A queue name on the bus.
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
#: The exchange and market binfeed records.
DEFAULT_EXCHANGE = "binance"
DEFAULT_MARKET = "spot"
#: Stream kinds in the order they appear in derived names, with a recorder's default set.
_KIND_ORDER = ("bookticker", "trade")
_DEFAULT_KINDS = ("bookticker",)


def validate_name(name: str) -> str:
    """Returns ``name`` if it is a valid queue name on a bus.

    Raises:
        ConfigError: empty, too long, a path, hidden, or other characters.
    """
    if not NAME_RE.fullmatch(name):
        raise errors.ConfigError(
            f"invalid queue name {name!r}: use letters, digits, '.', '_' and '-' (at most 100 "
            "characters, not starting with '.'), for example binance-spot"
        )
    return name


def recorder_queue_name(
    streams: str | Iterable[str] | None = None,
    *,
    exchange: str = DEFAULT_EXCHANGE,
    market: str = DEFAULT_MARKET,
) -> str:
    """The default queue name of a recorder: ``<exchange>-<market>[-<kinds>]``.

    The recorder's default streams (``bookTicker``) give the bare ``binance-spot``; any
    other set appends its kinds, lower-case, in a fixed order, so the name does not depend
    on how the flag was spelled: ``trade`` -> ``binance-spot-trade``, ``trade,bookTicker``
    -> ``binance-spot-bookticker-trade``.

    Args:
        streams: the recorder's ``--streams`` value: 'bookTicker,trade', a list, or None
            for the default.

    Raises:
        ConfigError: an unknown stream kind.
    """
    if streams is None:
        items: list[str] = []
    elif isinstance(streams, str):
        items = streams.split(",")
    else:
        items = [str(s) for s in streams]
    kinds = {s.strip().lower() for s in items if s.strip()}
    unknown = kinds - set(_KIND_ORDER)
    if unknown:
        raise errors.ConfigError(
            f"unknown stream type {sorted(unknown)[0]!r}: binfeed records bookTicker and trade")
    ordered = tuple(k for k in _KIND_ORDER if k in kinds) or _DEFAULT_KINDS
    base = f"{exchange}-{market}".lower()
    return base if ordered == _DEFAULT_KINDS else "-".join((base, *ordered))


def queue_path(root: str | os.PathLike[str], name: str) -> Path:
    """``ROOT/<name>``: where the queue called ``name`` lives on the bus at ``root``.

    Raises:
        ConfigError: ``name`` is not a valid queue name.
    """
    return Path(root) / validate_name(name)


def is_queue_dir(path: Path) -> bool:
    """True when ``path`` is a directory holding a writer lock or a segment file."""
    try:
        names = os.listdir(path)
    except OSError:
        return False
    return any(n == LOCK_FILE or parse_segment_name(n) is not None for n in names)


def queue_names(root: str | os.PathLike[str]) -> list[str]:
    """Names of the queues on the bus, sorted; [] for an empty or missing root.

    Raises:
        ConfigError: ``root`` exists but is not a directory.
    """
    base = Path(root)
    try:
        entries = sorted(os.scandir(base), key=lambda e: e.name)
    except FileNotFoundError:
        return []
    except NotADirectoryError:
        raise errors.ConfigError(f"bus root {base} is a file, not a directory") from None
    return [e.name for e in entries
            if NAME_RE.fullmatch(e.name) and e.is_dir() and is_queue_dir(Path(e.path))]


def resolve_reader_queue(root: str | os.PathLike[str], name: str | None) -> Path:
    """The queue a reading command uses: ``ROOT/<name>``, or the only queue on the bus.

    Raises:
        ConfigError: no name given and the bus holds no queue or several (the message
            lists them); or an invalid name.
    """
    if name is not None:
        return queue_path(root, name)
    names = queue_names(root)
    if len(names) == 1:
        return Path(root) / names[0]
    if not names:
        raise errors.ConfigError(
            f"no queue on the bus at {root} yet: pass --name NAME (the queue ROOT/NAME may be "
            "created later), or start a recorder with --bus-root first")
    raise errors.ConfigError(
        f"the bus at {root} holds {len(names)} queues ({', '.join(names)}): choose one with "
        "--name NAME")


@dataclass(frozen=True, slots=True)
class BusQueue:
    """One queue on a bus, summarized from segment headers only (cheap at any size)."""

    name: str
    path: Path
    segments: int
    records: int
    bytes_on_disk: int
    first_created_ns: int | None
    last_recv_ns: int | None
    writer: WriterStatus
    error: str | None = None


def describe_queue(path: Path) -> BusQueue:
    """Segment count, committed records, disk use, newest receive time and writer of one
    queue. Unreadable segments are reported in ``error``, not raised."""
    segments = list_segments(path)
    records = 0
    disk = 0
    first_created: int | None = None
    last_recv: int | None = None
    problem: str | None = None
    for i, (_, seg_path) in enumerate(segments):
        try:
            disk += seg_path.stat().st_blocks * 512
            with Segment(seg_path) as seg:
                n = seg.committed()
                records += n
                if first_created is None:
                    first_created = seg.created_ns
                if i == len(segments) - 1 and n:
                    recv = seg.slots(n - 1, n)["recv_ts_ns"]
                    last_recv = int(recv[0]) or None
                    del recv
        except FileNotFoundError:
            continue  # removed by retention while we looked
        except errors.QueueNotFoundError:
            continue
        except errors.BinfeedError as exc:
            problem = str(exc)
    return BusQueue(path.name, path, len(segments), records, disk, first_created, last_recv,
                    writer_status(path), problem)


def list_queues(root: str | os.PathLike[str]) -> list[BusQueue]:
    """Every queue on the bus at ``root``, by name."""
    return [describe_queue(Path(root) / name) for name in queue_names(root)]


__all__ = [
    "BUS_ROOT_ENV",
    "BusQueue",
    "describe_queue",
    "is_queue_dir",
    "list_queues",
    "queue_names",
    "queue_path",
    "recorder_queue_name",
    "resolve_reader_queue",
    "validate_name",
]
