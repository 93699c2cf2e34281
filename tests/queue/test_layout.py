"""A queue directory's names come from C (binfeed_reader.h, "Directory layout")."""

from __future__ import annotations

from pathlib import Path

from binfeed.queue import LOCK_FILE, list_segments, parse_segment_name, segment_name


def test_segment_names_are_twenty_digits_and_bfq() -> None:
    assert segment_name(42) == "00000000000000000042.bfq"
    assert parse_segment_name(segment_name(42)) == 42
    assert parse_segment_name(segment_name(2**64 - 1)) == 2**64 - 1
    assert LOCK_FILE == "writer.lock"


def test_only_what_the_c_reader_reads_is_listed(tmp_path: Path) -> None:
    others = ["00000000000000000000.bfq",  # seq 0 is no segment
              ".00000000000000000002.bfq.tmp", "2.bfq", "00000000000000000002.bfq.x",
              "0000000000000000000a.bfq", "99999999999999999999.bfq", LOCK_FILE]
    for name in [*others, segment_name(3), segment_name(1)]:
        (tmp_path / name).touch()
    assert all(parse_segment_name(n) is None for n in others)
    assert list_segments(tmp_path) == [(1, tmp_path / segment_name(1)),
                                       (3, tmp_path / segment_name(3))]
