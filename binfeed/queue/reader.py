"""Reading a queue in order: :class:`QueueReader` follows the queue with the header's own
reader (verification, rolls, holes) and hands out the records it vouches for as zero-copy
numpy views of the segment files; damage is reported (:class:`Damage`), never returned."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from binfeed import errors
from binfeed._ffi import ffi, lib, raise_status, string
from binfeed.queue.decode import KNOWN_TYPES, decode_slots
from binfeed.queue.layout import list_segments, segment_name
from binfeed.queue.segment import MESSAGE_MAX, Segment, symbols_in, upgrade_v1
from binfeed.records import SLOT_DTYPE, Record

log = logging.getLogger("binfeed.queue")


@dataclass(frozen=True, slots=True)
class Damage:
    """What a reader met instead of good data; it was skipped, never returned.

    Attributes:
        kind: ``checksum`` (a record failing its checksum), ``hole`` (segment files
            missing), ``header`` (a segment that cannot be read or has an invalid header),
            ``index`` (records vanished between two segments), ``write_index`` (a sealed
            segment's count disagrees with its file), ``record`` (an invalid SYMBOL record),
            or ``unknown_type`` (a record type this binfeed does not know, written by a
            newer one: a warning, not damage).
        segment: path of the segment file concerned (the first missing one for a hole).
        slot: the slot, for ``checksum``, ``record`` and ``unknown_type``; else None.
        count: records or segments concerned.
        message: one line naming the file and saying what to do.
        severity: ``damage`` or ``warning``.
    """

    kind: str
    segment: Path
    slot: int | None
    count: int
    message: str
    severity: str = "damage"


#: Called with each :class:`Damage` a reader meets (then reading goes on).
DamageHook = Callable[[Damage], None]


class QueueReader:
    """Reads a queue's records in order, across segments, while a writer may append.

    Every record is verified (checksum, type) before it is returned; damage is skipped and
    reported: raised as :class:`~binfeed.errors.DamagedRecordError` from :meth:`poll` (the
    reader has moved past it, so calling again goes on), or, with ``on_damage``, given to
    that callable and reading goes on. A hole (missing segment files) is read past and
    reported the same way. Records of a type this binfeed does not know (a newer writer)
    are returned in :meth:`poll` batches, skipped by :meth:`decode`, and reported once per
    type as a warning (to ``on_damage``, else to the log).

    Args:
        path: the queue directory.
        from_end: start after the records published at open time (tail) instead of at the
            oldest record.
        on_damage: called with each :class:`Damage` instead of raising.
        verify: False skips the checks (damage may then pass as data).

    Raises:
        QueueNotFoundError: no queue or no segment yet (see :meth:`wait_for`).
        QueueVersionError: a segment was written by a newer binfeed.

    A reader is used by one thread at a time; any number may run in any processes.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        from_end: bool = False,
        on_damage: DamageHook | None = None,
        verify: bool = True,
    ) -> None:
        self.path = Path(path)
        self.on_damage = on_damage
        self.symbols: dict[int, str] = {}
        self._seg: Segment | None = None
        self._warned_types: set[int] = set()
        if not list_segments(self.path):  # also says when the directory does not exist
            raise errors.QueueNotFoundError(
                f"queue {self.path} has no segment yet: start the writer first, or use "
                "QueueReader.wait_for()", lib.BF_ENOTFOUND)
        flags = (lib.BFR_FROM_END if from_end else 0) | (0 if verify else lib.BFR_NO_VERIFY)
        rc = ffi.new("int *")
        msg = ffi.new("char[]", MESSAGE_MAX)
        r = lib.bf_py_reader_open(os.fsencode(self.path), flags, rc, msg, len(msg))
        if r == ffi.NULL:
            raise_status(rc[0], string(msg))
        self._r = ffi.gc(r, lib.bf_py_reader_close)
        self._seq = ffi.new("uint64_t *")
        self._first = ffi.new("uint64_t *")
        self._count = ffi.new("uint64_t *")
        self._empty = np.empty(0, SLOT_DTYPE)
        self._symbols_seen = 0
        self._unknown_seen = 0
        if from_end:  # the symbols defined before the start point, learnt by C
            for sid in range(1, int(lib.bf_py_reader_symbol_capacity(self._r)) + 1):
                name = lib.bf_py_reader_symbol(self._r, sid)
                if name != ffi.NULL:
                    self.symbols[sid] = ffi.string(name).decode("utf-8", "replace")

    @classmethod
    def wait_for(
        cls,
        path: str | os.PathLike[str],
        *,
        from_end: bool = False,
        timeout: float | None = None,
        poll_s: float = 0.05,
        on_damage: DamageHook | None = None,
    ) -> QueueReader:
        """Opens the queue once its first segment exists (it may not exist yet).

        Raises:
            ReadTimeout: still no queue after ``timeout`` seconds.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            try:
                return cls(path, from_end=from_end, on_damage=on_damage)
            except errors.QueueNotFoundError:
                if deadline is not None and time.monotonic() >= deadline:
                    raise errors.ReadTimeout(
                        f"no queue appeared at {path} within {timeout} s", lib.BF_ETIMEOUT
                    ) from None
                time.sleep(poll_s)

    @property
    def segment(self) -> Segment:
        """The segment the reader is in (mapped on first use).

        Raises:
            QueueError: it cannot be read (the reader skips such a segment).
        """
        seq, _ = self.position
        if self._seg is None or self._seg.seq != seq:
            new = Segment(self.path / segment_name(seq))
            if self._seg is not None:
                self._seg.close()
            self._seg = new
        return self._seg

    @property
    def position(self) -> tuple[int, int]:
        """(segment seq, slot index) of the next record to read."""
        pos = ffi.new("bfr_position *")
        lib.bf_py_reader_tell(self._reader(), pos)
        return int(pos.segment_seq), int(pos.index)

    def _reader(self) -> object:
        if self._r is None:
            raise errors.QueueClosedError(f"reader of {self.path} is closed", lib.BF_ECLOSED)
        return self._r

    def close(self) -> None:
        """Releases the reader's mappings and locks. Idempotent."""
        if self._seg is not None:
            self._seg.close()
            self._seg = None
        if self._r is not None:
            r, self._r = self._r, None
            ffi.release(r)

    def __enter__(self) -> QueueReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def symbol(self, symbol_id: int) -> str:
        """Name of a symbol id seen so far ("?<id>" if not defined yet)."""
        return self.symbols.get(symbol_id, f"?{symbol_id}")

    # -- the core: batches of checked slots -------------------------------------------
    def poll(self, max_records: int = 65536) -> np.ndarray:
        """The next published records, verified (at most ``max_records``, maybe none), as a
        zero-copy :data:`SLOT_DTYPE` view into one segment (a converted copy for a
        version-1 segment). Moves to the next segment when this one is finished. Never
        blocks. An empty batch means nothing more is published now.

        Raises:
            DamagedRecordError: damage was met (without ``on_damage``); the reader has
                moved past it, so polling again goes on.
        """
        r = self._reader()
        while True:
            rc = lib.bf_py_reader_next_batch(r, max_records, self._seq, self._first,
                                             self._count)
            if rc == 1:
                return self._batch(int(self._seq[0]), int(self._first[0]),
                                   int(self._count[0]))
            if rc == 0:
                return self._empty
            if rc == lib.BF_EDAMAGED:
                self._report(self._damage())
                continue
            raise_status(rc, string(lib.bf_py_reader_error(r)))

    def _batch(self, seq: int, first: int, count: int) -> np.ndarray:
        seg = self._seg
        if seg is None or seg.seq != seq:
            new = Segment(self.path / segment_name(seq))
            if seg is not None:
                seg.close()
            self._seg = seg = new
        batch = seg.slots(first, first + count)
        if seg.version < 2:
            batch = upgrade_v1(batch)
        # C counts what needs a look, so that a small batch costs no numpy scan
        symbols_seen = int(lib.bf_py_reader_symbols_seen(self._r))
        if symbols_seen != self._symbols_seen:
            self._symbols_seen = symbols_seen
            self.symbols.update(symbols_in(batch))
        unknown_seen = int(lib.bf_py_reader_unknown_seen(self._r))
        if unknown_seen != self._unknown_seen:
            self._unknown_seen = unknown_seen
            self._warn_unknown(batch, seg, first)
        return batch

    def _warn_unknown(self, batch: np.ndarray, seg: Segment, first: int) -> None:
        types = batch["type"]
        for i in np.flatnonzero(~np.isin(types, KNOWN_TYPES)).tolist():
            t = int(types[i])
            if t in self._warned_types:
                continue
            self._warned_types.add(t)
            self._report(Damage(
                "unknown_type", seg.path, first + i, 1,
                f"{seg.path} slot {first + i}: record type {t} is unknown to this binfeed "
                "(written by a newer one?): such records are skipped; upgrade binfeed to "
                "read them", "warning"))

    def _damage(self) -> Damage:
        d = ffi.new("bfr_damage *")
        lib.bf_py_reader_damage(self._r, d)
        kind = ffi.string(lib.bf_py_damage_kind_name(d.kind)).decode()
        slot = int(d.slot) if d.kind in (lib.BFR_DAMAGE_CHECKSUM, lib.BFR_DAMAGE_RECORD) \
            else None
        return Damage(kind, self.path / segment_name(int(d.segment_seq)), slot, int(d.count),
                      string(lib.bf_py_reader_error(self._r)))

    def _report(self, damage: Damage) -> None:
        if self.on_damage is not None:
            self.on_damage(damage)
        elif damage.severity == "warning":
            log.warning("%s", damage.message)
        else:
            raise errors.DamagedRecordError(damage.message, lib.BF_EDAMAGED, damage)

    # -- records ----------------------------------------------------------------------
    def records(self, *, include_symbols: bool = False) -> Iterator[Record]:
        """Every record available now, in order (does not wait)."""
        while True:
            batch = self.poll()
            if len(batch) == 0:
                return
            yield from self.decode(batch, include_symbols=include_symbols)

    def tail(
        self,
        *,
        idle_timeout: float | None = None,
        include_symbols: bool = False,
        poll_interval: float = 0.0005,
    ) -> Iterator[Record]:
        """Records as they are published; ends after ``idle_timeout`` seconds without any
        (None: never). Spins briefly, then sleeps ``poll_interval`` between empty polls."""
        last = time.monotonic()
        spins = 0
        while True:
            batch = self.poll()
            if len(batch):
                spins = 0
                last = time.monotonic()
                yield from self.decode(batch, include_symbols=include_symbols)
                continue
            if idle_timeout is not None and time.monotonic() - last >= idle_timeout:
                return
            spins += 1
            if spins > 200:
                time.sleep(poll_interval)

    def decode(self, batch: np.ndarray, *, include_symbols: bool = False) -> list[Record]:
        """Turns a batch of slots (from :meth:`poll`) into record objects."""
        return decode_slots(batch, self.symbols, include_symbols=include_symbols)
