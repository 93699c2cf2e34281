"""Capture files: recorded WebSocket frames, one per line, plain or gzip-compressed.

A line is either ``<receive time, ns since the epoch> <frame>`` (the form of the real captures
in ``tests/data/binance``) or a bare frame, whose receive time is then unknown (0). Empty
lines are skipped; line numbers count every line, from 1. Compression is recognised by the
gzip magic bytes, whatever the file is called.

Files are read in large blocks, so reading is streaming (memory stays bounded). The lines
of a block are split by the one parser of the line format, ``bf_capture_split``
(``csrc/src/parse_capture.c``), in place: :func:`read_batches` gives each block as one
packed buffer for :meth:`binfeed.ingest.Ingestor.ingest_packed` (what the import command
uses); :func:`read_frames` yields one frame at a time from the same batches.

Example::

    for line_no, recv_ns, frame in read_frames("capture.gz"):
        print(line_no, recv_ns, frame[:40])
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np

from binfeed import errors
from binfeed._ffi import ffi, lib

try:  # ISA-L's inflate (python-isal) is about three times as fast as zlib's: used if installed
    from isal import isal_zlib as _inflate

    _INFLATE_ERRORS: tuple[type[Exception], ...] = (_inflate.error, zlib.error)
except ImportError:  # pragma: no cover - depends on the environment
    _inflate = zlib  # type: ignore[assignment]
    _INFLATE_ERRORS = (zlib.error,)

__all__ = [
    "GZIP_MAGIC",
    "CaptureBatch",
    "CaptureError",
    "is_gzip",
    "pack_blocks",
    "read_batches",
    "read_blocks",
    "read_frames",
]

GZIP_MAGIC = b"\x1f\x8b"
#: Decompressed bytes read at a time.
BLOCK_SIZE = 1 << 22


class CaptureError(errors.BinfeedError):
    """A capture file cannot be read (missing, unreadable, or a corrupt gzip stream)."""


def is_gzip(path: str | os.PathLike[str]) -> bool:
    """True if the file starts with the gzip magic bytes."""
    with open(path, "rb") as f:
        return f.read(2) == GZIP_MAGIC


#: Compressed bytes read at a time.
_READ_SIZE = 1 << 20


def _gunzip(raw: BinaryIO, block_size: int) -> Iterator[bytes]:
    """The decompressed bytes of a gzip stream (all its members), in pieces of at most
    ``block_size``. Everything before a damage is yielded before the error is raised, which
    ``gzip.GzipFile.read`` does not do."""
    inflater = _inflate.decompressobj(wbits=31)
    fed = False  # the current member has started
    padding = False  # NUL bytes after the last member (tolerated, as gzip does)
    while True:
        data = raw.read(_READ_SIZE)
        if not data:
            if fed:
                raise CaptureError("the gzip stream ends early (the file was cut short)")
            return
        if padding:
            if data.strip(b"\0"):
                raise CaptureError("the gzip stream is followed by data that is not gzip")
            continue
        while data:
            fed = True
            try:
                out = inflater.decompress(data, block_size)
            except _INFLATE_ERRORS as exc:
                raise CaptureError(f"the gzip stream is corrupt ({exc})") from exc
            if out:
                yield out
            data = inflater.unconsumed_tail
            if inflater.eof:  # a member ended: another may follow (concatenated gzip)
                data = inflater.unused_data + data
                inflater = _inflate.decompressobj(wbits=31)
                fed = False
                if data and not data.strip(b"\0"):
                    padding, data = True, b""


def _blocks(path: str | os.PathLike[str], block_size: int) -> Iterator[bytearray]:
    """Decompressed content in blocks that end at a line end (the last may not), each a
    new bytearray that the caller may modify.

    Raises:
        CaptureError: the file cannot be opened, or is damaged (after the whole lines
            before the damage were yielded).
    """
    name = os.fspath(path)
    try:
        raw = open(path, "rb")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise CaptureError(f"cannot open capture {name}: {exc.strerror}; check the path") \
            from exc
    with raw:
        pieces = (_gunzip(raw, block_size) if raw.peek(2)[:2] == GZIP_MAGIC
                  else iter(lambda: raw.read(block_size), b""))
        tail = bytearray()
        try:
            for piece in pieces:
                cut = piece.rfind(b"\n")
                if cut < 0:
                    tail += piece
                    continue
                block, tail = tail, bytearray(memoryview(piece)[cut + 1 :])
                block += memoryview(piece)[: cut + 1]  # the one copy of the data
                yield block
        except CaptureError as exc:  # the incomplete last line is dropped
            raise CaptureError(f"capture {name} is damaged: {exc}; the lines before the "
                               "damage were read") from exc
        except OSError as exc:
            raise CaptureError(f"cannot read capture {name}: {exc.strerror}") from exc
        if tail:
            yield tail


@dataclass(frozen=True)
class CaptureBatch:
    """The frames of one block of a capture, packed for one
    :meth:`~binfeed.ingest.Ingestor.ingest_packed` call.

    The buffer is the block itself with each line's receive time and its separator
    overwritten by spaces, so frame i is ``buf[offsets[i]:offsets[i + 1]]``: the line's
    frame followed by JSON whitespace only (its line end, empty lines, the next line's
    blanked receive time), which the parser ignores.

    Attributes:
        buf: the block, timestamps blanked.
        offsets: uint64 numpy array of n + 1 byte offsets.
        recv_ts_ns: uint64 numpy array: the receive time of each frame (0 when none).
        line_nos: int64 numpy array: the line number of each frame.
    """

    buf: bytearray
    offsets: np.ndarray
    recv_ts_ns: np.ndarray
    line_nos: np.ndarray

    def __len__(self) -> int:
        return len(self.recv_ts_ns)

    def frame(self, i: int) -> bytes:
        """Frame i (with its trailing whitespace removed)."""
        return bytes(self.buf[int(self.offsets[i]) : int(self.offsets[i + 1])]).rstrip()


def read_blocks(path: str | os.PathLike[str], *, block_size: int = BLOCK_SIZE
                ) -> Iterator[bytearray]:
    """The decompressed content of a capture in blocks of whole lines (about
    ``block_size`` bytes; the last block may lack its final newline), as new bytearrays.

    Raises:
        CaptureError: as :func:`read_frames`.
    """
    return _blocks(path, block_size)


def pack_blocks(blocks: Iterable[bytearray]) -> Iterator[CaptureBatch]:
    """One :class:`CaptureBatch` per block of whole lines (from :func:`read_blocks`); line
    numbers count from the first block's first line. Each block is modified in place (its
    receive times blanked) and becomes the batch's buffer. The lines are split in C
    (``bf_capture_split``), with no Python step per line."""
    first_line = 1
    for block in blocks:
        batch, lines = _pack_block(block, first_line)
        first_line += lines
        if batch is not None:
            yield batch


def read_batches(
    path: str | os.PathLike[str], *, block_size: int = BLOCK_SIZE
) -> Iterator[CaptureBatch]:
    """Yields the frames of a capture, one :class:`CaptureBatch` per block read.

    Raises:
        CaptureError: as :func:`read_frames`.
    """
    return pack_blocks(read_blocks(path, block_size=block_size))


def read_frames(
    path: str | os.PathLike[str], *, block_size: int = BLOCK_SIZE
) -> Iterator[tuple[int, int, bytes]]:
    """Yields ``(line number, receive ns, frame)`` for every non-empty line of a capture;
    the frame is the rest of the line as it is (without its line end).

    Raises:
        CaptureError: the file cannot be opened, or its gzip stream is damaged (raised
            when the damage is reached, after the frames before it).
    """
    for batch in read_batches(path, block_size=block_size):
        buf = batch.buf
        offsets = batch.offsets.tolist()
        for i, (line_no, recv) in enumerate(zip(batch.line_nos.tolist(),
                                                batch.recv_ts_ns.tolist(), strict=True)):
            start = offsets[i]
            end = buf.find(b"\n", start, offsets[i + 1])
            if end < 0:  # the last line of the file, without a line end
                end = offsets[i + 1]
            if end > start and buf[end - 1] == 13:  # "\r\n"
                end -= 1
            yield line_no, recv, bytes(buf[start:end])


def _pack_block(block: bytearray, first_line: int) -> tuple[CaptureBatch | None, int]:
    """Packs a block of whole lines with bf_capture_split; returns the batch (None if no
    frame) and the block's line count."""
    cap = block.count(b"\n") + 1
    offsets = np.empty(cap + 1, np.uint64)
    recv = np.empty(cap, np.uint64)
    line_nos = np.empty(cap, np.uint64)
    lines = ffi.new("uint64_t *")
    n = lib.bf_capture_split(ffi.from_buffer(block), len(block), 1, cap, first_line,
                             ffi.from_buffer("size_t[]", offsets),
                             ffi.from_buffer("uint64_t[]", recv),
                             ffi.from_buffer("uint64_t[]", line_nos), lines)
    if n == 0:
        return None, int(lines[0])
    return (CaptureBatch(block, offsets[: n + 1], recv[:n], line_nos[:n].astype(np.int64)),
            int(lines[0]))
