"""Capture files (binfeed.capture): gzip by content, line splitting, receive times.

The one parser of the line format is C's ``bf_capture_split``. An independent numpy splitter
below (:func:`oracle_pack`, written from the format's description and nothing else) is the
oracle: on the real captures and on every edge case of the line format, the C batches must
give exactly its frames, receive times and line numbers, and :func:`read_frames` the lines
as they are.
"""

from __future__ import annotations

import gzip
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from binfeed import capture
from binfeed.capture import CaptureError, pack_blocks, read_blocks, read_frames
from tests import captures as c

DATA = Path(__file__).resolve().parent / "data" / "binance"

# -- the oracle: "<1..19 digits> <frame>" or a bare frame, one per line ------------------
MAX_STAMP_DIGITS = 19  # < 10^19 < 2^64: a longer digit run is not a receive time
_POW10_DESC = np.array([10**k for k in reversed(range(MAX_STAMP_DIGITS))], np.uint64)
_COLS = np.arange(MAX_STAMP_DIGITS + 1)


def oracle_pack(block: bytes, first_line: int) -> list[tuple[int, int, bytes]]:
    """(line number, receive ns, frame without trailing whitespace) of each non-empty line
    of a block of whole lines, with numpy (no Python step per line)."""
    data = np.frombuffer(block, np.uint8)
    n = data.size
    ends = np.flatnonzero(data == 10)  # the line ends (exclusive)
    if n and data[-1] != 10:
        ends = np.append(ends, n)
    if ends.size == 0:
        return []
    starts = np.empty_like(ends)
    starts[0] = 0
    starts[1:] = ends[:-1] + 1
    content_end = ends.copy()  # without a "\r" before the "\n"
    has_cr = (content_end > starts) & (data[np.maximum(content_end - 1, 0)] == 13)
    content_end[has_cr] -= 1
    frames = np.flatnonzero(content_end > starts)  # non-empty lines
    if frames.size == 0:
        return []
    starts, length = starts[frames], content_end[frames] - starts[frames]
    rows = np.arange(frames.size)
    head = data[np.minimum(starts[:, None] + _COLS, n - 1)]
    digit = ((head - 48) <= 9) & (length[:, None] > _COLS)  # uint8: below "0" wraps high
    stamp_len = np.where(digit.all(axis=1), _COLS.size, digit.argmin(axis=1))
    sep = np.minimum(stamp_len, _COLS.size - 1)
    stamped = ((stamp_len >= 1) & (stamp_len <= MAX_STAMP_DIGITS) & (sep < length)
               & (head[rows, sep] == 32))
    recv = np.zeros(frames.size, np.uint64)
    for width in np.unique(stamp_len[stamped]).tolist():
        group = np.flatnonzero(stamped & (stamp_len == width))
        recv[group] = (head[group, :width] - 48).astype(np.uint64) @ _POW10_DESC[-width:]
    begin = np.where(stamped, starts + stamp_len + 1, starts)
    return [(int(line) + first_line, int(t), bytes(block[b:b + k]).rstrip())
            for line, t, b, k in zip(frames.tolist(), recv.tolist(), begin.tolist(),
                                     (starts + length - begin).tolist(), strict=True)]


def oracle(path: Path, block_size: int) -> list[tuple[int, int, bytes]]:
    out: list[tuple[int, int, bytes]] = []
    first_line = 1
    for block in read_blocks(path, block_size=block_size):
        out += oracle_pack(bytes(block), first_line)
        first_line += block.count(b"\n") + (1 if block and not block.endswith(b"\n") else 0)
    return out


def batched(path: Path, block_size: int) -> list[tuple[int, int, bytes]]:
    out = []
    for batch in pack_blocks(read_blocks(path, block_size=block_size)):
        for i in range(len(batch)):
            out.append((int(batch.line_nos[i]), int(batch.recv_ts_ns[i]), batch.frame(i)))
    return out


@pytest.mark.parametrize("name", ["spot_btcusdt_20240808.gz", "spot_ethusdt_20240808.gz"])
def test_real_captures(name: str) -> None:
    path = DATA / name
    frames = list(read_frames(path))
    assert len(frames) == {c.BTC.name: c.BTC_LINES, c.ETH.name: c.ETH_LINES}[name]
    assert frames[0][:2] == (1, 1723161253937085768) if "btc" in name else True
    want = oracle(path, 1 << 16)
    assert batched(path, 1 << 16) == want  # many blocks
    assert [(n, t, f.rstrip()) for n, t, f in frames] == want


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


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("final_newline", [False, True])
def test_line_format_edges(tmp_path: Path, compress: bool, final_newline: bool) -> None:
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
        assert batched(path, block_size) == want
        assert oracle(path, block_size) == want


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


def test_the_golden_figures_are_the_files() -> None:
    """tests/captures.py, counted again from the files (frames by the stream name that
    opens their envelope, as its docstring does with grep)."""
    for path, figures in ((c.BTC, (c.BTC_LINES, c.BTC_BOOK_TICKERS, c.BTC_TRADES,
                                   c.BTC_DEPTH, c.BTC_REST)),
                          (c.ETH, (c.ETH_LINES, c.ETH_BOOK_TICKERS, c.ETH_TRADES,
                                   c.ETH_DEPTH, c.ETH_REST))):
        kinds: Counter[str] = Counter()
        lines = 0
        for _, _, frame in read_frames(path):
            lines += 1
            m = re.match(rb'\{"stream":"[a-z]*@([A-Za-z0-9@]*)"', frame)
            kinds[m.group(1).decode() if m else "rest"] += 1
        assert (lines, kinds["bookTicker"], kinds["trade"], kinds["depth@100ms"],
                kinds["rest"]) == figures
