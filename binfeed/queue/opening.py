"""Opening the header's reader on a queue directory: at once (``bfr_open``), at a given slot
(``bfr_open_at``), or waiting for the queue to appear (``bfr_open_wait``, in slices so that
Python sees its signals between them), for :class:`~binfeed.queue.QueueReader`."""

from __future__ import annotations

import os
from pathlib import Path

from binfeed._ffi import ffi, lib, raise_status, string
from binfeed.queue.segment import MESSAGE_MAX

#: How long one C wait of ``QueueReader.wait_for`` lasts (s): between two, Python sees its
#: signals (Ctrl-C), which cannot interrupt the C call.
WAIT_SLICE = 0.1
#: How often ``QueueReader.wait_for_async`` looks for the queue (s).
DEFAULT_OPEN_POLL = 0.01


def reader_flags(from_end: bool, verify: bool) -> int:
    """The BFR_* flags of a reader that starts at the end or not, verifies or not."""
    return (lib.BFR_FROM_END if from_end else 0) | (0 if verify else lib.BFR_NO_VERIFY)


def open_reader(path: Path, flags: int, wait_s: float | None) -> object | None:
    """The header's reader on ``path`` (bfr_open; with ``wait_s``, bfr_open_wait for up to
    that long, None when no queue appeared), freed when garbage.

    Raises:
        QueueNotFoundError (without a wait), QueueIOError, QueueVersionError, ...: as C
        says.
    """
    rc = ffi.new("int *")
    msg = ffi.new("char[]", MESSAGE_MAX)
    if wait_s is None:
        r = lib.bf_py_reader_open(os.fsencode(path), flags, rc, msg, len(msg))
    else:
        r = lib.bf_py_reader_open_wait(os.fsencode(path), flags, int(wait_s * 1e9), rc, msg,
                                       len(msg))
    if r == ffi.NULL:
        if wait_s is not None and rc[0] == lib.BF_ETIMEOUT:
            return None
        raise_status(rc[0], string(msg))
    return ffi.gc(r, lib.bf_py_reader_close)


def open_reader_at(path: Path, seq: int, index: int, flags: int) -> object:
    """The header's reader on ``path`` at slot ``index`` of segment ``seq`` (bfr_open_at),
    freed when garbage.

    Raises:
        QueueNotFoundError: that segment does not exist (or retention is deleting it).
        QueueCorruptError, QueueVersionError, QueueIOError: it cannot be read.
    """
    rc = ffi.new("int *")
    msg = ffi.new("char[]", MESSAGE_MAX)
    r = lib.bf_py_reader_open_at(os.fsencode(path), seq, index, flags, rc, msg, len(msg))
    if r == ffi.NULL:
        raise_status(rc[0], string(msg))
    return ffi.gc(r, lib.bf_py_reader_close)


class Opener:
    """Opens a queue that may not exist yet in several waits (bfr_open_wait's slices)."""

    def __init__(self, path: Path, flags: int) -> None:
        self.path = path
        self.flags = flags

    def attempt(self, wait_s: float) -> object | None:
        """The reader, or None when no queue appeared within ``wait_s`` seconds."""
        handle = open_reader(self.path, self.flags, wait_s)
        if handle is None:
            # the header's rule for waiting in slices: the queue had nothing when the
            # first wait began, so "from the end" means from its first record
            self.flags &= ~lib.BFR_FROM_END
        return handle

    def timed_out(self, timeout: float | None) -> str:
        """The ReadTimeout message after ``timeout`` seconds of attempts."""
        return (f"no queue appeared at {self.path} within {timeout} s: start its writer "
                "(binfeed record), or wait longer")
