"""Runs of verified slots read in place: :class:`RunReader`, a
:class:`~binfeed.queue.QueueReader` that can start at any slot and hands out where each run
of checked records is in C's own mapping, for C to copy fields out of it
(:mod:`binfeed.tables`) without a numpy view or a Python mapping of the file."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from binfeed._ffi import lib, raise_status, string
from binfeed.queue.opening import open_reader_at, reader_flags
from binfeed.queue.reader import DamageHook, QueueReader

__all__ = ["RunReader"]


class RunReader(QueueReader):
    """A queue reader that reads runs of records in place (:meth:`next_run`,
    :meth:`gather`). Damage is reported as by :meth:`QueueReader.poll`."""

    @classmethod
    def at(cls, path: str | os.PathLike[str], seq: int, index: int, *,
           names: Mapping[int, str] | None = None, on_damage: DamageHook | None = None,
           verify: bool = True) -> RunReader:
        """A reader from slot ``index`` of segment ``seq`` (see
        :meth:`~binfeed.queue.Segment.time_lower_bound`); the names defined before that
        slot are learnt, unless given as ``names`` (the queue's id -> name table: ids are
        stable, the newest segment defines them all), which saves reading the slots before.

        Raises:
            QueueNotFoundError: no such segment; QueueCorruptError, QueueIOError,
            QueueVersionError: it cannot be read.
        """
        flags = reader_flags(False, verify) | (0 if names is None else
                                               lib.BFR_NO_PRIOR_NAMES)
        handle = open_reader_at(Path(path), seq, index, flags)
        reader = cls._opened(path, handle, on_damage)
        if names is not None:
            reader.symbols.update(names)
        return reader  # type: ignore[return-value]

    def next_run(self, max_records: int) -> tuple[int, int, int] | None:
        """The next run of verified records as (segment seq, first slot, count), left in
        the mapping C's reader holds (valid until the next call; read it with
        :meth:`gather`), or None when nothing more is published now; names are learnt
        (:attr:`symbols`)."""
        r = self._reader()
        while True:
            rc = lib.bf_py_reader_next_batch(r, max_records, self._seq, self._first,
                                             self._count)
            if rc == 1:
                symbols_seen = int(lib.bf_py_reader_symbols_seen(r))
                if symbols_seen != self._symbols_seen:
                    self._symbols_seen = symbols_seen
                    self._learn_symbols()
                return int(self._seq[0]), int(self._first[0]), int(self._count[0])
            if rc == 0:
                return None
            if rc == lib.BF_EDAMAGED:
                self._report(self._damage())
                continue
            raise_status(rc, string(lib.bf_py_reader_error(r)))

    def gather(self, first: int, count: int, spec: object, at: int) -> int:
        """Copies fields of the kept records of slots [first, first + count) of the current
        segment (a run from :meth:`next_run`) into columns, as ``spec`` (a
        ``bf_py_gather *``, ``csrc/src/tables.h``) says, from element ``at`` on. Returns
        the records copied."""
        return int(lib.bf_py_gather_slots(self._reader(), first, count, spec, at))

    def lag(self) -> int:
        """Records published in the current segment and not yet returned."""
        return int(lib.bf_py_reader_lag(self._reader()))
