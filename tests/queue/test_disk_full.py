"""A full disk is a clear error when a segment is created, never a SIGBUS mid-write."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.queue.helpers import ROOT

SCRIPT = textwrap.dedent("""
    import resource, signal, sys
    from binfeed import errors
    from binfeed.queue import QueueReader, QueueWriter
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    limit = int(sys.argv[2])
    written = 0
    try:
        with QueueWriter(sys.argv[1], segment_slots=1024) as w:
            for i in range(100000):
                if i == 500 and limit:  # the disk "fills" while the first segment is in use
                    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
                w.append_book_ticker("BTCUSDT", i + 1, 1.0, 2.0, 3.0, 4.0)
                written += 1
    except errors.DiskFullError as exc:
        print("DISKFULL", written, exc, flush=True)
    n = sum(1 for _ in QueueReader(sys.argv[1]).records())
    print("READBACK", n, flush=True)
""")


def run(queue: Path, limit: int) -> str:
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(queue), str(limit)],
                          capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)), check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_file_size_limit_is_a_clear_error_and_keeps_what_was_written(tmp_path: Path) -> None:
    # a 1024-slot segment needs 4096 + 128 KiB: the next segment cannot be created
    out = run(tmp_path / "q", 100_000)
    lines = dict(line.split(" ", 1) for line in out.splitlines())
    assert "DISKFULL" in lines, out
    written = int(lines["DISKFULL"].split()[0])
    assert written == 1023  # the first segment's slots minus its SYMBOL record
    assert "no space" in lines["DISKFULL"].lower() or "too large" in lines["DISKFULL"].lower()
    assert int(lines["READBACK"]) == written


def _mount_tiny_tmpfs(where: Path) -> bool:
    where.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(where)],
                          capture_output=True, check=False)
    return proc.returncode == 0


def test_small_filesystem_fills_up_cleanly(tmp_path: Path) -> None:
    mnt = tmp_path / "tiny"
    if os.geteuid() != 0 or not _mount_tiny_tmpfs(mnt):
        pytest.skip("cannot mount a small tmpfs here (needs root and CAP_SYS_ADMIN); "
                    "the RLIMIT_FSIZE test covers the same path")
    try:
        out = run(mnt / "q", 0)
        lines = dict(line.split(" ", 1) for line in out.splitlines())
        assert "DISKFULL" in lines, out
        assert int(lines["READBACK"]) == int(lines["DISKFULL"].split()[0]) > 0
    finally:
        subprocess.run(["umount", str(mnt)], check=False)
