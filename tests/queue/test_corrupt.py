"""Damaged segment files are refused with a clear error, never read as records."""

from __future__ import annotations

import os
import signal
import struct
from pathlib import Path

import pytest

from binfeed import errors
from binfeed.queue import QueueReader, QueueWriter, Segment, list_segments
from binfeed.records import BookTicker
from tests.queue.helpers import spawn_writer, wait_line, write_book_tickers


def make_queue(tmp_path: Path, n: int = 100) -> tuple[Path, Path]:
    q = tmp_path / "q"
    with QueueWriter(q) as w:
        write_book_tickers(w, 0, n, ["BTCUSDT"])
    return q, list_segments(q)[-1][1]


def patch(path: Path, offset: int, data: bytes) -> None:
    with path.open("r+b") as f:
        f.seek(offset)
        f.write(data)


def test_bad_magic_is_refused(tmp_path: Path) -> None:
    q, seg = make_queue(tmp_path)
    patch(seg, 0, b"NOTBINF!")
    with pytest.raises(errors.QueueCorruptError, match="not a binfeed segment"):
        Segment(seg)
    # the reader opens, and reports the segment (skipped) instead of returning its data
    with QueueReader(q) as reader, pytest.raises(errors.DamagedRecordError,
                                                 match="not a binfeed segment") as caught:
        reader.poll()
    assert caught.value.damage.kind == "header"
    with pytest.raises(errors.QueueCorruptError):
        QueueWriter(q)  # the writer refuses to append after garbage too


def test_newer_format_version_is_refused(tmp_path: Path) -> None:
    q, seg = make_queue(tmp_path)
    patch(seg, 8, struct.pack("<I", 99))
    with pytest.raises(errors.QueueVersionError, match="upgrade binfeed"):
        Segment(seg)
    with pytest.raises(errors.QueueVersionError):
        QueueWriter(q)


def test_truncated_segment_is_refused(tmp_path: Path) -> None:
    _, seg = make_queue(tmp_path)
    os.truncate(seg, 4096 + 128 * 10)  # claims 100 records, holds 10
    with pytest.raises(errors.QueueCorruptError, match="truncated"):
        Segment(seg)
    os.truncate(seg, 100)
    with pytest.raises(errors.QueueCorruptError, match="truncated"):
        Segment(seg)


def test_header_field_damage_is_detected_by_the_header_crc(tmp_path: Path) -> None:
    q, seg = make_queue(tmp_path)
    patch(seg, 40, struct.pack("<Q", 12345))  # created_ns changed, crc not updated
    with pytest.raises(errors.QueueCorruptError, match="corrupt header"):
        Segment(seg)
    with pytest.raises(errors.QueueCorruptError):
        QueueWriter(q)


def test_torn_record_is_cut_by_recovery(tmp_path: Path) -> None:
    """A crash that left write_index ahead of the slots' bytes (power loss): the next writer
    checks crc32c of the unsealed segment and cuts the torn tail after the last good slot."""
    q = tmp_path / "q"
    proc = spawn_writer(q, 50, symbols="BTCUSDT", hold=True)
    wait_line(proc, "DONE")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    seg = list_segments(q)[-1][1]
    slot_40 = 4096 + 128 * (1 + 40)  # slot 0 holds the SYMBOL record
    patch(seg, slot_40, b"\x00" * 128 * 10)  # the pages of records 41..50 never landed
    with QueueWriter(q) as w:
        assert w.stats().recovered_cut == 10
        assert [r.event.name for r in w.recovery] == ["TORN_TAIL"]
    recs = [r for r in QueueReader(q).records() if isinstance(r, BookTicker)]
    assert [r.update_id for r in recs] == list(range(1, 41))
