"""What a power cut without fsync leaves at the end of the newest segment, and what the
next writer makes of it: the tail pages zeroed (written back never) or the file cut short
(its size never reached the disk). Recovery finds the last good record by checksum, cuts
only the torn tail, and says so (RECOVERY record, `binfeed verify`).

Offsets are the format's (docs/format.md): header 4096 bytes, slots of 128 bytes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from binfeed.queue import QueueReader, QueueWriter, list_segments
from binfeed.records import BookTicker, RecoveryEvent
from tests import captures as c
from tests.queue.helpers import ROOT, killed_writer_queue

HEADER, SLOT, PAGE = 4096, 128, 4096
RECORDS = 3000  # two SYMBOL records, then records 1..3000 in slots 2..3001


def ids(q: Path) -> list[int]:
    with QueueReader(q) as reader:
        return [r.update_id for r in reader.records() if isinstance(r, BookTicker)]


def verify(q: Path) -> dict[str, object]:
    r = subprocess.run([sys.executable, "-m", "binfeed", "verify", str(q), "--json"],
                       capture_output=True, text=True, cwd=ROOT, check=False)
    doc = json.loads(r.stdout)
    assert doc["ok"] == (r.returncode == 0)
    return doc


@pytest.mark.parametrize("pages", [1, 3])
def test_zeroed_tail_pages_are_cut_back_to_the_last_good_record(tmp_path: Path,
                                                                 pages: int) -> None:
    q = killed_writer_queue(tmp_path / "q", RECORDS)
    seg = list_segments(q)[-1][1]
    end = HEADER + (2 + RECORDS) * SLOT  # end of the published slots
    start = (end // PAGE - pages + 1) * PAGE  # the last `pages` pages that hold slots
    with seg.open("r+b") as f:
        f.seek(start)
        f.write(b"\0" * (end - start))
    first_lost = (start - HEADER) // SLOT - 2 + 1  # record id in the first zeroed slot
    before = verify(q)
    assert not before["ok"]  # the torn slots are published: damage until recovery
    with QueueWriter(q) as w:
        assert [r.event for r in w.recovery] == [RecoveryEvent.TORN_TAIL]
        assert w.stats().recovered_cut == RECORDS - first_lost + 1
    assert ids(q) == list(range(1, first_lost))
    after = verify(q)
    assert after["ok"]
    said = [f for f in after["findings"] if f["kind"] == "recovery"]
    assert len(said) == 1 and "torn tail" in said[0]["detail"]


def test_a_file_cut_short_is_recovered_as_a_torn_tail(tmp_path: Path) -> None:
    q = killed_writer_queue(tmp_path / "q", RECORDS)
    seg = list_segments(q)[-1][1]
    keep = HEADER + (2 + 1000) * SLOT + 77  # the size reached the disk at record 1000
    os.truncate(seg, keep)
    assert not verify(q)["ok"]
    with QueueWriter(q) as w:
        assert [r.event for r in w.recovery] == [RecoveryEvent.TORN_TAIL]
        assert "cut short" in w.recovery[0].message
    assert ids(q) == list(range(1, 1001))
    assert verify(q)["ok"]


def test_a_clean_kill_loses_nothing_published(tmp_path: Path) -> None:
    q = killed_writer_queue(tmp_path / "q", RECORDS)
    with QueueWriter(q) as w:
        assert w.recovery == [] and w.stats().recovered_cut == 0
    assert ids(q) == list(range(1, RECORDS + 1))
    assert verify(q)["ok"]


@pytest.mark.parametrize("level", ["none", "seal", "interval:0.05"])
def test_every_sync_level_records_the_same(tmp_path: Path, level: str) -> None:
    capture = ROOT / "tests" / "data" / "binance" / "spot_btcusdt_20240808.gz"
    q = tmp_path / "q"
    r = subprocess.run([sys.executable, "-m", "binfeed", "import", "--queue", str(q),
                        "--segment-slots", "4096", "--sync", level, str(capture)],
                       capture_output=True, text=True, cwd=ROOT, check=False)
    assert r.returncode == 0, r.stderr
    assert f"records: {c.BTC_RECORDS}" in r.stdout
    assert verify(q)["ok"]


def test_an_invalid_sync_level_is_bad_usage() -> None:
    r = subprocess.run([sys.executable, "-m", "binfeed", "import", "--queue", "/tmp/x",
                        "--sync", "sometimes", "/dev/null"],
                       capture_output=True, text=True, cwd=ROOT, check=False)
    assert r.returncode == 2
    assert "give none, seal or interval:SECONDS" in r.stderr
