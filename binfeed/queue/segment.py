"""One segment file mapped read-only: :class:`Segment`, judged by the C code (the format's
one judge), with zero-copy numpy views of its slots; and what a run of slots says
(:func:`symbols_in`, :func:`upgrade_v1`)."""

from __future__ import annotations

import contextlib
import mmap
import os
from pathlib import Path

import numpy as np

from binfeed import errors
from binfeed._ffi import ffi, lib, raise_status, string
from binfeed.queue.layout import parse_segment_name
from binfeed.records import HEADER_SIZE, SLOT_DTYPE, SLOT_SIZE, SYMBOL_DTYPE, RecordType

#: Room for the C judge's messages (a path, a file name and what is wrong).
MESSAGE_MAX = 2048


class Segment:
    """One segment file mapped read-only, judged by the C code, with a read lock held on it.

    ``slots()`` returns zero-copy numpy views of the published slots as they are in the file
    (not verified: :class:`QueueReader` is the checked way to read; :meth:`first_bad` checks
    a range). They stay valid while the Segment (or the views) are alive.

    Raises (from the constructor):
        QueueNotFoundError: the file does not exist.
        QueueIOError: it cannot be opened or mapped (the message says why).
        QueueCorruptError: the header or the file size is not valid.
        QueueVersionError: written by a newer binfeed.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            raise errors.QueueNotFoundError(f"segment {self.path} does not exist",
                                            lib.BF_ENOTFOUND) from None
        except OSError as exc:
            raise errors.QueueIOError(
                f"cannot open segment {self.path}: {exc.strerror}; check its permissions, "
                "then run `binfeed verify` on the queue", lib.BF_EIO) from None
        try:
            size = os.fstat(fd).st_size
            name_seq = parse_segment_name(self.path.name) or 0
            if size < HEADER_SIZE:
                self._judge(ffi.NULL, size, name_seq)
            # The lock tells retention this file is in use; failure to lock is not fatal.
            lib.bf_py_lock_shared(fd)
            self._mm, size = self._map(fd, size)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        self._size = size
        self._ptr = ffi.from_buffer(self._mm)
        try:
            info = self._judge(self._ptr, size, name_seq)
        except BaseException:
            self.close()
            raise
        self.version = int(info.version)
        self.seq = int(info.segment_seq)
        self.capacity = int(info.capacity)
        self.slot_size = int(info.slot_size)
        self.header_size = int(info.header_size)
        self.created_ns = int(info.created_ns)
        self.first_index = int(info.first_index)
        self.flags = int(info.flags)
        self.queue_id = bytes(info.queue_id)  # zero in version-1 segments
        self.damaged = bool(info.seal_flags & lib.BF_SEAL_F_DAMAGED)
        self.damage_first = int(info.damage_first)
        self.damage_count = int(info.damage_count)
        self._stride_dtype = SLOT_DTYPE if self.slot_size == SLOT_SIZE else np.dtype(
            {"names": ["raw"], "formats": [f"V{SLOT_SIZE}"], "offsets": [0],
             "itemsize": self.slot_size})

    def _judge(self, ptr: object, size: int, seq: int) -> object:
        """bf_segment_check (the one judge) on the mapped header; its fields, or raises."""
        info = ffi.new("bf_py_segment_info *")
        msg = ffi.new("char[]", MESSAGE_MAX)
        rc = lib.bf_py_segment_check(ptr, size, seq, os.fsencode(self.path), info, msg,
                                     len(msg))
        if rc < 0:
            hint = "" if rc == lib.BF_EVERSION else "; run `binfeed verify` on the queue"
            raise_status(rc, string(msg) + hint)
        return info

    def _map(self, fd: int, size: int) -> tuple[mmap.mmap, int]:
        """Maps the file read-only. The writer may truncate it (sealing shrinks a segment to
        its used length) between our fstat and mmap: then size again."""
        for _ in range(100):
            try:
                return mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ), size
            except ValueError:  # "mmap length is greater than file size": it just shrank
                size = os.fstat(fd).st_size
                if size < HEADER_SIZE:
                    break
            except OSError as exc:
                raise errors.QueueIOError(
                    f"cannot map segment {self.path}: {exc.strerror}", lib.BF_EIO) from None
        raise errors.QueueCorruptError(
            f"segment {self.path} keeps changing size ({size} bytes) while being mapped",
            lib.BF_ECORRUPT)

    def committed(self) -> int:
        """Records published so far (load-acquire of write_index)."""
        return int(lib.bf_py_segment_write_index(self._ptr))

    def sealed(self) -> bool:
        """True once the writer will append nothing more here (load-acquire)."""
        return bool(lib.bf_py_segment_sealed(self._ptr))

    def slots(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Zero-copy view of published slots [start, stop) as :data:`SLOT_DTYPE`, as they
        are in the file (version-1 segments: version-1 values; see :meth:`QueueReader.poll`
        for checked, converted records).

        Reinterpret with ``.view(binfeed.records.BOOK_TICKER_DTYPE)`` and friends after
        selecting a type (``view[view["type"] == RecordType.BOOK_TICKER]``).
        """
        n = self.committed()
        stop = n if stop is None else min(stop, n)
        start = min(start, stop)
        arr = np.frombuffer(self._mm, self._stride_dtype, count=stop - start,
                            offset=self.header_size + start * self.slot_size)
        if self._stride_dtype is not SLOT_DTYPE:
            arr = np.ndarray(arr.shape, SLOT_DTYPE, arr, 0, (self.slot_size,))
        return arr

    def first_bad(self, start: int = 0, stop: int | None = None) -> int | None:
        """Index of the first slot in [start, stop) failing its checksum, or None."""
        n = self.committed()
        stop = n if stop is None else min(stop, n)
        if stop <= start:
            return None
        first = int(lib.bf_py_slots_first_bad(
            self._ptr + self.header_size + start * self.slot_size, stop - start,
            self.slot_size))
        return None if first == stop - start else start + first

    def time_span(self, types: int) -> tuple[int, int, int, bool]:
        """(count, min, max, ordered) of the receive times of the published records of
        ``types`` (a mask of ``1 << type``): ``ordered`` when they never decrease in slot
        order (C's ``bf_slots_time_span``; slots are not verified, see there)."""
        span = ffi.new("bfr_time_span *")
        lib.bf_py_slots_time_span(self._ptr + self.header_size, self._mapped_committed(),
                                  self.slot_size, types, span)
        return int(span.count), int(span.min_ns), int(span.max_ns), bool(span.ordered)

    def time_lower_bound(self, types: int, t_ns: int, lo: int = 0,
                         hi: int = 2**64 - 1) -> int:
        """The first slot in [lo, hi) holding a record of ``types`` received at or after
        ``t_ns`` (hi, at most the published count, if none): a binary search, exact when
        :meth:`time_span` says those records are ordered."""
        return int(lib.bf_py_slots_time_lower_bound(
            self._ptr + self.header_size, self._mapped_committed(), self.slot_size, types,
            max(t_ns, 0), lo, hi))

    def _mapped_committed(self) -> int:
        """Records published, at most the slots the mapping holds (C then never reads past
        it, whatever the header says by now)."""
        return min(self.committed(), (self._size - self.header_size) // self.slot_size)

    def close(self) -> None:
        """Unmaps when no numpy view is left; the fd (and its lock) is released now."""
        if self._fd < 0:
            return
        self._ptr = None
        with contextlib.suppress(BufferError):  # numpy views still alive: the map goes with them
            self._mm.close()
        os.close(self._fd)
        self._fd = -1

    def __enter__(self) -> Segment:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def symbols_in(slots: np.ndarray) -> dict[int, str]:
    """id -> name from the SYMBOL records in ``slots`` (names are UTF-8)."""
    sym = slots[slots["type"] == RecordType.SYMBOL].view(SYMBOL_DTYPE)
    return {int(i): n.decode("utf-8", "replace") for i, n in zip(
        sym["symbol_id"].tolist(), sym["name"].tolist(), strict=True)}


def upgrade_v1(slots: np.ndarray) -> np.ndarray:
    """A version-2 copy of version-1 slots (times to microseconds), converted by C."""
    out = np.array(slots, dtype=SLOT_DTYPE, copy=True)
    if len(out):
        lib.bf_py_slots_upgrade_v1(ffi.from_buffer(out), len(out), SLOT_SIZE)
    return out
