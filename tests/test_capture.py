"""Capture files (binfeed.capture): gzip by content, line splitting, receive times.

The packed batches (C splitter when the extension has it, and the numpy splitter) must
give exactly the frames, receive times and line numbers of the simple line reader, on the
real captures and on every edge case of the line format.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from binfeed import capture
from binfeed.capture import CaptureError, pack_blocks, read_blocks, read_frames

DATA = Path(__file__).resolve().parent / "data" / "binance"

SPLITTERS = [pytest.param(False, id="numpy"),
             pytest.param(True, id="c", marks=pytest.mark.skipif(
                 capture._capture_split is None,
                 reason="the extension does not expose bf_capture_split yet"))]


def batched(path: Path, use_c: bool, block_size: int) -> list[tuple[int, int, bytes]]:
    out = []
    for batch in pack_blocks(read_blocks(path, block_size=block_size), use_c=use_c):
        for i in range(len(batch)):
            out.append((int(batch.line_nos[i]), int(batch.recv_ts_ns[i]), batch.frame(i)))
    return out


@pytest.mark.parametrize("use_c", SPLITTERS)
@pytest.mark.parametrize("name", ["spot_btcusdt_20240808.gz", "spot_ethusdt_20240808.gz"])
def test_real_captures(name: str, use_c: bool) -> None:
    path = DATA / name
    frames = list(read_frames(path))
    assert len(frames) == {"spot_btcusdt_20240808.gz": 41249,
                           "spot_ethusdt_20240808.gz": 33618}[name]
    assert frames[0][:2] == (1, 1723161253937085768) if "btc" in name else True
    assert batched(path, use_c, 1 << 16) == frames  # many blocks


EDGE_LINES = [
    b"1723161254087891268 {\"a\":1}",
    b"",
    b"{\"bare\":2}\r",
    b"12 ",  # a receive time and an empty frame
    b"1234567890123456789 {\"19 digits\":3}",
    b"12345678901234567890 {\"20 digits: not a time\":4}",
    b"   ",
    b"0 {\"zero\":5}",
    b"777",  # digits only: a bare frame
    b"42\t{\"tab\":6}",  # not "<digits> ": a bare frame
    b"\r",
    b"9 {\"last\":7}",
]


@pytest.mark.parametrize("use_c", SPLITTERS)
@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("final_newline", [False, True])
def test_line_format_edges(tmp_path: Path, use_c: bool, compress: bool,
                           final_newline: bool) -> None:
    data = b"\n".join(EDGE_LINES) + (b"\n" if final_newline else b"")
    path = tmp_path / "edges.txt"  # the name says nothing: content decides
    path.write_bytes(gzip.compress(data) if compress else data)
    frames = list(read_frames(path))
    assert frames == [
        (1, 1723161254087891268, b'{"a":1}'),
        (3, 0, b'{"bare":2}'),
        (4, 12, b""),
        (5, 1234567890123456789, b'{"19 digits":3}'),
        (6, 0, b'12345678901234567890 {"20 digits: not a time":4}'),
        (7, 0, b"   "),
        (8, 0, b'{"zero":5}'),
        (9, 0, b"777"),
        (10, 0, b'42\t{"tab":6}'),
        (12, 9, b'{"last":7}'),
    ]
    # batches strip trailing whitespace from frame() (what the parser ignores anyway)
    want = [(n, t, f.rstrip()) for n, t, f in frames]
    for block_size in (7, 64, 1 << 20):
        assert batched(path, use_c, block_size) == want


def test_concatenated_gzip_members_and_padding(tmp_path: Path) -> None:
    path = tmp_path / "multi"
    path.write_bytes(gzip.compress(b"1 {}\n2 {}\n") + gzip.compress(b"3 {}\n") + b"\0" * 64)
    assert [t for _, t, _ in read_frames(path)] == [1, 2, 3]


def test_damaged_gzip_keeps_the_lines_before(tmp_path: Path) -> None:
    whole = gzip.compress(b"".join(b"%d {\"n\":%d}\n" % (i, i) for i in range(1, 20001)))
    path = tmp_path / "cut.gz"
    path.write_bytes(whole[: len(whole) // 2])
    got: list[tuple[int, int, bytes]] = []
    frames = read_frames(path, block_size=4096)
    with pytest.raises(CaptureError) as raised:
        got.extend(frames)
    assert "damaged: the gzip stream ends early" in str(raised.value)
    assert "the lines before the damage were read" in str(raised.value)
    assert len(got) > 1000
    assert [t for _, t, _ in got] == list(range(1, len(got) + 1))  # whole lines only
    corrupt = tmp_path / "corrupt.gz"
    corrupt.write_bytes(whole[:5000] + b"\xff" * 100 + whole[5100:])
    with pytest.raises(CaptureError, match="damaged"):
        list(read_frames(corrupt))
    trailing = tmp_path / "trailing.gz"
    trailing.write_bytes(gzip.compress(b"1 {}\n") + b"not gzip")
    with pytest.raises(CaptureError):
        list(read_frames(trailing))


def test_missing_file() -> None:
    with pytest.raises(CaptureError, match="cannot open capture"):
        list(read_frames("/nonexistent/capture.gz"))
    assert capture.is_gzip(DATA / "spot_btcusdt_20240808.gz")
    assert not capture.is_gzip(DATA / "excerpts" / "trade.jsonl")
