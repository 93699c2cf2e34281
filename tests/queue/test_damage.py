"""Damage never passes as data: real recordings damaged the ways disks, people and other
programs damage files, read by every reader binfeed has (verify, replay, replay --follow,
info, the Python API, the header-only C reader through bf_tail).

The recording is the bundled real capture (spot_btcusdt_20240808.gz) imported into
5,000-slot segments. Offsets below are the format's, from docs/format.md (an oracle
independent of the code under test): header 4096 bytes, slots of 128, write_index at 128,
header_crc at 56 (CRC32C of bytes 0..55 then 60..127), slot type at slot offset 4.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from binfeed import errors
from binfeed._ffi import ffi, lib
from binfeed.queue import Damage, QueueReader, QueueWriter, list_segments
from binfeed.records import BookTicker, RecordType, Recovery, RecoveryEvent
from tests import captures as c
from tests.queue.helpers import ROOT, killed_writer_queue

CAPTURE = ROOT / "tests" / "data" / "binance" / "spot_btcusdt_20240808.gz"
HEADER, SLOT = 4096, 128
WRITE_INDEX, HEADER_CRC, SEALED = 128, 56, 192
CC = os.environ.get("CC", "cc")


def binfeed(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "binfeed", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT, check=False)


def crc32c(data: bytes) -> int:
    return int(lib.bf_py_crc32c(ffi.from_buffer(data), len(data)))


def slot_offset(slot: int) -> int:
    return HEADER + slot * SLOT


def patch(path: Path, offset: int, data: bytes) -> None:
    with path.open("r+b") as f:
        f.seek(offset)
        f.write(data)


def read(path: Path, offset: int, n: int) -> bytes:
    with path.open("rb") as f:
        f.seek(offset)
        return f.read(n)


def reseal_header_crc(path: Path) -> None:
    """Recomputes header_crc after an edit (so that the edited field itself is judged)."""
    h = read(path, 0, 128)
    patch(path, HEADER_CRC, struct.pack("<I", crc32c(h[:56] + h[60:128])))


def reseal_slot_crc(path: Path, slot: int) -> None:
    s = read(path, slot_offset(slot), SLOT)
    patch(path, slot_offset(slot), struct.pack("<I", crc32c(s[4:])))


def segment(q: Path, seq: int) -> Path:
    return q / f"{seq:020d}.bfq"


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """A real recording in 5,000-slot segments and its clean JSON lines."""
    q = tmp_path_factory.mktemp("rec") / "q"
    r = binfeed("import", "--queue", str(q), "--segment-slots", "5000", str(CAPTURE))
    assert r.returncode == 0, r.stderr
    assert len(list_segments(q)) >= 6
    r = binfeed("replay", str(q))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == c.BTC_RECORDS  # the capture's bookTicker and trade frames
    return q, lines


@pytest.fixture
def queue(recording: tuple[Path, list[str]], tmp_path: Path) -> Path:
    q = tmp_path / "q"
    shutil.copytree(recording[0], q)
    return q


@pytest.fixture(scope="module")
def bf_tail(tmp_path_factory: pytest.TempPathFactory) -> Path:
    exe = tmp_path_factory.mktemp("bf_tail") / "bf_tail"
    subprocess.run([CC, "-std=c11", "-O2", "-Wall", "-Wextra", "-Werror",
                    f"-I{ROOT / 'csrc' / 'include'}", str(ROOT / "examples" / "c" / "bf_tail.c"),
                    "-o", str(exe)], check=True, capture_output=True)
    return exe


def tail(exe: Path, q: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(exe), str(q)], capture_output=True, text=True, timeout=60,
                          check=False)


def market_slots(path: Path) -> list[int]:
    """Slots of bookTicker/trade records in a segment file (from the raw bytes)."""
    n = struct.unpack("<Q", read(path, WRITE_INDEX, 8))[0]
    out = []
    for i in range(n):
        (t,) = struct.unpack("<H", read(path, slot_offset(i) + 4, 2))
        if t in (RecordType.BOOK_TICKER, RecordType.TRADE):
            out.append(i)
    return out


_LINE_BY_ID: dict[int, dict[int, str]] = {}


def line_of(q: Path, seq: int, slot: int, clean: list[str]) -> str:
    """The clean JSON line of a record, found by its seq field in the slot (update ids and
    trade ids of one symbol's capture never collide)."""
    index = _LINE_BY_ID.get(id(clean))
    if index is None:
        index = {}
        for ln in clean:
            doc = json.loads(ln)
            index[doc.get("update_id", doc.get("trade_id"))] = ln
        _LINE_BY_ID[id(clean)] = index
    (u,) = struct.unpack("<Q", read(segment(q, seq), slot_offset(slot) + 8, 8))
    return index[u]


# ------------------------------------------------------------------------ clean queue


@pytest.mark.slow
def test_a_whole_queue_verifies_clean_and_reads_everywhere(
        recording: tuple[Path, list[str]], bf_tail: Path) -> None:
    q = recording[0]
    r = binfeed("verify", str(q))
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.splitlines()[-1].startswith("ok: ")
    doc = json.loads(binfeed("verify", str(q), "--json").stdout)
    assert doc["ok"] is True and doc["segments"] == len(list_segments(q))
    assert all(f["severity"] != "damage" for f in doc["findings"])
    assert binfeed("info", str(q)).returncode == 0
    t = tail(bf_tail, q)
    assert t.returncode == 0 and t.stderr == ""


# ------------------------------------------------------------------------ one flipped bit


@pytest.mark.parametrize("where", ["body", "type"])
@pytest.mark.slow
def test_a_damaged_record_is_reported_everywhere_and_never_printed(
        queue: Path, recording: tuple[Path, list[str]], bf_tail: Path, where: str) -> None:
    clean = recording[1]
    seg = segment(queue, 3)
    slot = market_slots(seg)[100]
    lost = line_of(queue, 3, slot, clean)
    offset = slot_offset(slot) + (4 if where == "type" else 24 + 8)  # type, or bid_price
    patch(seg, offset, bytes([read(seg, offset, 1)[0] ^ 0x01]))
    name = seg.name

    r = binfeed("verify", str(queue))
    assert r.returncode == 1
    assert f"{name} slot {slot}: damage: fails its checksum" in r.stdout
    assert r.stdout.splitlines()[-1].startswith("DAMAGED: ")
    doc = json.loads(binfeed("verify", str(queue), "--json").stdout)
    assert doc["ok"] is False
    assert [(f["segment"], f["slot"], f["kind"]) for f in doc["findings"]
            if f["severity"] == "damage"] == [(name, slot, "checksum")]

    r = binfeed("replay", str(queue))
    assert r.returncode == 1
    assert r.stdout.splitlines() == [ln for ln in clean if ln != lost]
    assert f"{name} slot {slot}" in r.stderr and "binfeed verify" in r.stderr
    assert "Traceback" not in r.stderr

    r = binfeed("info", str(queue))
    assert r.returncode == 1
    assert "damage    1" in r.stdout and f"{name} slot {slot}" in r.stdout
    assert "type6" not in r.stdout and "Traceback" not in r.stderr

    t = tail(bf_tail, queue)
    assert t.returncode == 1
    assert f"{name} slot {slot}" in t.stderr
    assert len(t.stdout.splitlines()) == len(tail(bf_tail, recording[0]).stdout.splitlines()) - 1

    # the Python API: raises, naming segment and slot, and goes on when asked again
    counted = [0]

    def read_until_damage(reader: QueueReader) -> None:
        while len(batch := reader.poll()):
            counted[0] += len(reader.decode(batch))

    with QueueReader(queue) as reader:
        with pytest.raises(errors.DamagedRecordError) as caught:
            read_until_damage(reader)
        got = counted[0]
        assert caught.value.damage.slot == slot
        assert caught.value.damage.segment == seg and caught.value.damage.kind == "checksum"
        while len(batch := reader.poll()):
            got += len(reader.decode(batch))
    assert got == len(clean) - 1
    hook: list[Damage] = []
    with QueueReader(queue, on_damage=hook.append) as reader:
        market = [r for r in reader.records() if not isinstance(r, Recovery)]
    assert [(d.kind, d.slot) for d in hook] == [("checksum", slot)]
    assert len(market) == len(clean) - 1


# ------------------------------------------------------------------------ holes


@pytest.mark.slow
def test_a_deleted_middle_segment_is_a_hole_read_past(
        queue: Path, recording: tuple[Path, list[str]], bf_tail: Path) -> None:
    clean = recording[1]
    gone = segment(queue, 4)
    lost = {line_of(queue, 4, s, clean) for s in market_slots(gone)}
    gone.unlink()
    r = binfeed("verify", str(queue))
    assert r.returncode == 1
    assert f"{gone.name}: damage: missing: 1 segment file(s)" in r.stdout

    r = binfeed("replay", str(queue))
    assert r.returncode == 1
    assert r.stdout.splitlines() == [ln for ln in clean if ln not in lost]
    assert gone.name in r.stderr and "missing" in r.stderr

    t = tail(bf_tail, queue)
    assert t.returncode == 1 and gone.name in t.stderr
    assert binfeed("info", str(queue)).returncode == 1

    # --follow reports the hole instead of waiting at it, and keeps following
    follower = subprocess.Popen([sys.executable, "-m", "binfeed", "replay", str(queue),
                                 "--follow"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, cwd=ROOT)
    want = len(clean) - len(lost)
    assert follower.stdout is not None
    got = [follower.stdout.readline() for _ in range(want)]
    follower.send_signal(signal.SIGINT)
    out, err = follower.communicate(timeout=30)
    assert [g.rstrip("\n") for g in got] == [ln for ln in clean if ln not in lost]
    assert out == ""
    assert gone.name in err and "missing" in err


def test_a_lowered_write_index_is_damage(
        queue: Path, recording: tuple[Path, list[str]], bf_tail: Path) -> None:
    clean = recording[1]
    seg = segment(queue, 2)
    (n,) = struct.unpack("<Q", read(seg, WRITE_INDEX, 8))
    assert n == 5000 and seg.stat().st_size == HEADER + 5000 * SLOT  # sealed, full
    patch(seg, WRITE_INDEX, struct.pack("<Q", 904))
    hidden = {line_of(queue, 2, s, clean) for s in market_slots(seg) if s >= 904} | {
        line_of(queue, 2, s, clean) for s in range(904, 5000)
        if struct.unpack("<H", read(seg, slot_offset(s) + 4, 2))[0] in (1, 2)}
    r = binfeed("verify", str(queue))
    assert r.returncode == 1 and seg.name in r.stdout
    r = binfeed("replay", str(queue))
    assert r.returncode == 1
    assert r.stdout.splitlines() == [ln for ln in clean if ln not in hidden]
    assert "write_index" in r.stderr or "missing" in r.stderr
    assert tail(bf_tail, queue).returncode == 1


@pytest.mark.slow
def test_an_unreadable_segment_gives_a_message_never_a_traceback(
        queue: Path, bf_tail: Path) -> None:
    seg = segment(queue, 3)
    seg.unlink()
    seg.mkdir()  # as root, chmod cannot make a file unreadable: a directory cannot be read
    r = binfeed("info", str(queue))
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert seg.name in r.stdout
    r = binfeed("replay", str(queue))
    assert r.returncode == 1 and "Traceback" not in r.stderr and seg.name in r.stderr
    r = binfeed("verify", str(queue))
    assert r.returncode == 1 and f"{seg.name}: damage: cannot be read" in r.stdout
    assert tail(bf_tail, queue).returncode == 1
    assert binfeed("verify", str(queue / "nope")).returncode == 2
    assert binfeed("verify", str(ROOT / "docs")).returncode == 2  # not a queue


# ------------------------------------------------------------------------ one judge


HEADER_EDITS = {
    "magic": (0, b"NOTBINFQ"),
    "version 0": (8, struct.pack("<I", 0)),
    "version 99": (8, struct.pack("<I", 99)),
    "header_size 256": (12, struct.pack("<I", 256)),
    "slot_size 256": (16, struct.pack("<I", 256)),
    "flags": (20, struct.pack("<I", 1)),
    "capacity 1": (24, struct.pack("<Q", 1)),
    "capacity huge": (24, struct.pack("<Q", 1 << 40)),
    "segment_seq": (32, struct.pack("<Q", 7)),
    "created_ns": (40, struct.pack("<Q", 12345)),
    "first_index": (48, struct.pack("<Q", 1)),
    "queue_id": (64, b"\x01" * 16),
    "write_index": (128, struct.pack("<Q", 10**6)),
    "sealed 0": (192, struct.pack("<I", 0)),  # full, successor present: legal (a dead writer)
    "seal_flags": (196, struct.pack("<I", 8)),
}


@pytest.mark.parametrize("crc", ["stale crc", "crc recomputed"])
@pytest.mark.parametrize("edit", sorted(HEADER_EDITS))
@pytest.mark.slow
def test_edited_headers_get_the_same_verdict_from_c_and_python(
        queue: Path, bf_tail: Path, edit: str, crc: str) -> None:
    offset, data = HEADER_EDITS[edit]
    seg = segment(queue, 3)
    patch(seg, offset, data)
    if crc == "crc recomputed":
        reseal_header_crc(seg)
    py = binfeed("replay", str(queue))
    c = tail(bf_tail, queue)
    v = binfeed("verify", str(queue))
    assert (py.returncode == 0) == (c.returncode == 0) == (v.returncode == 0), (
        py.stderr, c.stderr, v.stdout)
    assert "Traceback" not in py.stderr
    if edit in ("created_ns", "flags", "queue_id") and crc == "crc recomputed":
        assert py.returncode == 0  # fields no reader depends on
    elif offset < 128 or edit == "write_index":
        assert py.returncode != 0  # covered by header_crc, or checked against the file
    # both name the same file
    if py.returncode:
        assert seg.name in py.stderr and seg.name in c.stderr


# ------------------------------------------------------------------------ recovery


def book_ids(q: Path) -> list[int]:
    with QueueReader(q, on_damage=lambda d: None) as reader:
        return [r.update_id for r in reader.records() if isinstance(r, BookTicker)]


def test_a_restart_after_a_damaged_slot_keeps_every_good_record(tmp_path: Path) -> None:
    q = killed_writer_queue(tmp_path / "live", 300)
    seg = list_segments(q)[-1][1]
    before = book_ids(q)
    assert before == list(range(1, 301))
    bad = 2 + 150  # two SYMBOL records, then records 1..300: record 151
    patch(seg, slot_offset(bad) + 40, b"\xff")
    with QueueWriter(q) as w:  # what `binfeed record` and `import` do when they start
        assert w.stats().recovered_cut == 0
        assert [r.event for r in w.recovery] == [RecoveryEvent.DAMAGED]
        assert w.recovery[0].slot == bad and w.recovery[0].count == 1
        w.append_book_ticker("BTCUSDT", 301, 1.0, 1.0, 2.0, 1.0, recv_ts_ns=1)
    assert book_ids(q) == [i for i in range(1, 302) if i != 151]
    r = binfeed("replay", str(q), "--all")
    assert r.returncode == 1 and f"{seg.name} slot {bad}" in r.stderr
    recovery = [json.loads(x) for x in r.stdout.splitlines() if '"recovery"' in x]
    assert [x["event"] for x in recovery] == ["damaged"]
    v = json.loads(binfeed("verify", str(q), "--json").stdout)
    kinds = {(f["kind"], f["severity"]) for f in v["findings"]}
    assert ("checksum", "damage") in kinds and ("damaged_seal", "info") in kinds
    # restarting again changes nothing: the damaged segment is sealed and kept
    with QueueWriter(q) as w:
        assert w.recovery == []
    assert book_ids(q) == [i for i in range(1, 302) if i != 151]


def test_a_restarted_recorder_on_a_queue_with_a_hole_records_and_warns(
        queue: Path) -> None:
    segment(queue, 3).unlink()
    with QueueWriter(queue) as w:
        assert [r.event for r in w.recovery] == [RecoveryEvent.HOLE]
        assert "00000000000000000003.bfq" in w.recovery[0].message
        w.append_book_ticker("BTCUSDT", 1, 1.0, 1.0, 2.0, 1.0, recv_ts_ns=1)
    r = binfeed("replay", str(queue))
    assert r.returncode == 1
    assert r.stdout.splitlines()[-1].startswith('{"type":"bookTicker","symbol":"BTCUSDT",'
                                                '"update_id":1,')


def test_unknown_record_types_with_a_good_checksum_are_skipped_with_a_warning(
        queue: Path, recording: tuple[Path, list[str]]) -> None:
    clean = recording[1]
    seg = segment(queue, 2)
    slot = market_slots(seg)[10]
    lost = line_of(queue, 2, slot, clean)
    patch(seg, slot_offset(slot) + 4, struct.pack("<H", 77))
    reseal_slot_crc(seg, slot)
    r = binfeed("verify", str(queue))
    assert r.returncode == 0 and f"{seg.name} slot {slot}: warning: record type 77" in r.stdout
    r = binfeed("replay", str(queue))
    assert r.returncode == 0
    assert r.stdout.splitlines() == [ln for ln in clean if ln != lost]
    assert r.stderr.count("record type 77") == 1


# ------------------------------------------------------------------------ version 1


def make_v1(q: Path) -> None:
    """Rewrites a version-2 queue as the version-1 files of the previous binfeed: header
    version 1 with header_crc over bytes 0..55, trade and bookTicker times in ms."""
    for _, path in list_segments(q):
        patch(path, 8, struct.pack("<I", 1))
        patch(path, 64, b"\x00" * 16)  # v1 had no queue_id
        h = read(path, 0, 56)
        patch(path, HEADER_CRC, struct.pack("<I", crc32c(h)))
        (n,) = struct.unpack("<Q", read(path, WRITE_INDEX, 8))
        for i in range(n):
            (t,) = struct.unpack("<H", read(path, slot_offset(i) + 4, 2))
            if t == RecordType.TRADE:
                tt, et = struct.unpack("<QQ", read(path, slot_offset(i) + 24 + 24, 16))
                patch(path, slot_offset(i) + 24 + 24, struct.pack("<QQ", tt // 1000, et // 1000))
                reseal_slot_crc(path, i)


@pytest.mark.slow
def test_version_1_queues_stay_readable_and_record_continues_in_version_2(
        queue: Path, recording: tuple[Path, list[str]], bf_tail: Path) -> None:
    clean = recording[1]
    v2_tail = tail(bf_tail, queue).stdout
    make_v1(queue)
    assert binfeed("verify", str(queue)).returncode == 0
    r = binfeed("replay", str(queue))
    assert r.returncode == 0 and r.stdout.splitlines() == clean
    assert tail(bf_tail, queue).stdout == v2_tail
    with QueueWriter(queue) as w:
        assert [r.event for r in w.recovery] == [RecoveryEvent.OLDER_FORMAT]
        w.append_book_ticker("BTCUSDT", 1, 1.0, 1.0, 2.0, 1.0, recv_ts_ns=time.time_ns())
    newest = list_segments(queue)[-1][1]
    assert struct.unpack("<I", read(newest, 8, 4))[0] == 2
    r = binfeed("replay", str(queue))
    assert r.returncode == 0 and r.stdout.splitlines()[:-1] == clean
