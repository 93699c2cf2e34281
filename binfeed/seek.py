"""Where a read of a receive-time window starts and stops: whole segments left out by the
span of their records' receive times, slots found by binary search where records are in
receive-time order.

A queue is in append order, which is not always receive-time order (a queue imported from
two captures of the same hours holds the first file's hours, then the second's; a clock
may be stepped back). So for each segment C says whether the records of the wanted types
are in order, and their smallest and largest receive times (``bf_slots_time_span``, one
pass over the first cache line of each slot); :func:`plan` decides (pure);
only ordered segments are searched (``bf_slots_time_lower_bound``), the others are read whole
and the window is applied record by record. Either way a read returns exactly the records
of the window, as ``binfeed replay --from/--to`` does. A :class:`SeekCache` keeps each
segment's span, so the next read of the same :func:`binfeed.open` dataset only searches.

Example::

    for extent in extents("data/q", type_mask(["trade"]), start_ns, end_ns, SeekCache()):
        ...  # read slots [extent.first, extent.stop) of segment extent.seq
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from enum import Enum

from binfeed import errors
from binfeed.queue import QueueReader, Segment, list_segments

__all__ = ["Extent", "Plan", "SeekCache", "Span", "extents", "plan"]


@dataclass(frozen=True, slots=True)
class Span:
    """The receive times of the records of some types in one segment.

    Attributes:
        count: how many records of those types it holds.
        min_ns, max_ns: their smallest and largest receive times.
        ordered: their receive times never decrease in slot order.
    """

    count: int
    min_ns: int
    max_ns: int
    ordered: bool


class Plan(Enum):
    """What a windowed read does with one segment."""

    SKIP = "skip"      # nothing in it is in the window
    WHOLE = "whole"    # read every slot, keep the records in the window
    SEARCH = "search"  # in order: read only the slots between the window's bounds


def plan(span: Span, start_ns: int | None, end_ns: int | None) -> Plan:
    """What to do with a segment whose records of the wanted types have this span, for
    the window [start_ns, end_ns) (None: unbounded)."""
    if span.count == 0:
        return Plan.SKIP
    if start_ns is None and end_ns is None:
        return Plan.WHOLE
    if start_ns is not None and span.max_ns < start_ns:
        return Plan.SKIP
    if end_ns is not None and span.min_ns >= end_ns:
        return Plan.SKIP
    return Plan.SEARCH if span.ordered else Plan.WHOLE


@dataclass(frozen=True, slots=True)
class Extent:
    """Slots [first, stop) of segment ``seq`` to read (stop None: to its end)."""

    seq: int
    first: int
    stop: int | None


@dataclass
class SeekCache:
    """What a dataset has measured of its queue: segment spans by (segment, records
    published, types), and the queue's names by its newest segment and count. Published
    slots never change, so both stay true while the count is the same."""

    spans: dict[tuple[int, int, int], Span] = field(default_factory=dict)
    _names: tuple[tuple[int, int], dict[int, str]] | None = None

    def span(self, segment: Segment, types: int) -> Span:
        """The span of ``types`` in ``segment``."""
        key = (segment.seq, segment.committed(), types)
        found = self.spans.get(key)
        if found is None:
            found = self.spans[key] = Span(*segment.time_span(types))
        return found

    def names(self, path: str | os.PathLike[str]) -> dict[int, str]:
        """The queue's id -> name table: every id its newest segment defines, which is
        every id of the queue (ids are stable; a segment begins by defining the names
        known when it was created).

        Raises:
            QueueNotFoundError: no queue, or no segment, at ``path``.
        """
        segments = list_segments(path)
        key = (0, 0)
        if segments:
            with Segment(segments[-1][1]) as newest:
                key = (newest.seq, newest.committed())
        if self._names is None or self._names[0] != key:
            with QueueReader(path, from_end=True) as reader:
                self._names = (key, dict(reader.symbols))
        return dict(self._names[1])


def extents(path: str | os.PathLike[str], types: int, start_ns: int | None,
            end_ns: int | None, cache: SeekCache) -> list[Extent]:
    """The parts of the queue at ``path`` a read of ``types`` (a mask of ``1 << type``)
    in [start_ns, end_ns) must look at, oldest first. Segments are mapped (judged by C,
    read-locked) but not read ahead: a search touches a few pages of each. A segment that
    cannot be opened is listed whole (reading it reports why); one deleted meanwhile
    (retention) is left out."""
    out = []
    for seq, file in list_segments(path):
        try:
            segment = Segment(file)
        except errors.QueueNotFoundError:
            continue
        except errors.QueueError:
            out.append(Extent(seq, 0, None))
            continue
        with segment:
            span = cache.span(segment, types)
            what = plan(span, start_ns, end_ns)
            if what is Plan.WHOLE:
                out.append(Extent(seq, 0, None))
            elif what is Plan.SEARCH:
                first = 0 if start_ns is None else segment.time_lower_bound(types, start_ns)
                stop = None if end_ns is None else segment.time_lower_bound(types, end_ns,
                                                                            first)
                if stop is None or stop > first:
                    out.append(Extent(seq, first, stop))
    return out
