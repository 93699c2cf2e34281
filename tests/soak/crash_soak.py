"""Crash soak: kill -9 a writer under full load, again and again, with live readers following.

    python -m tests.soak.crash_soak --kills 1000              # the documented long run
    python -m tests.soak.crash_soak --kills 50 --seed 7       # what the slow test runs
    python -m tests.soak.crash_soak --variant record --kills 100
                                   # `binfeed record` from a loopback `binfeed replay --serve`

Variant ``queue`` (the default). A writer process (tests/soak/soak_writer.py, the queue-level
Python writer over the C appender) appends bookTicker records with strictly increasing update
ids as fast as it can, into segments of a random size between --min-slots and --max-slots (64
and 3000: rolls every few hundred microseconds to a few milliseconds), defining a new symbol
now and then. It is SIGKILLed at a random moment and restarted, --kills times. Kill moments:

    recovery  0-2 ms (half of them within 0.5 ms) after the new writer took the queue's
              lock: during its recovery of what the killed one left (scan, seal, truncate,
              removal of a .tmp file) or the creation of its first segment
    start     0-2 ms after it was ready (its first appends, rolls, symbol definitions)
    stream    2-40 ms after it was ready
    long      40-250 ms after it was ready (segments fill, readers fall behind)

Each restarted writer continues the ids from the last one the queue holds (read with the
Python reader after its recovery). Two live readers follow the queue from before its first
record to the end: the C example consumer (``bf_tail DIR --follow``, built from
examples/c/bf_tail.c with ``cc -O2 -Icsrc/include``) and the Python reader through the CLI
(``binfeed replay DIR --follow --all``). At the end a clean writer run appends a sentinel
record and closes normally; the followers are stopped once they printed it.

Invariants checked (any failure is reported with the figures and the work directory is kept):

* each follower stopped because it reached the sentinel (not a timeout), reported no damage
  and exited 0;
* its output equals, line for line and in order, a fresh read of the final queue:
  ``bf_tail DIR`` for bf_tail, ``binfeed replay DIR --all`` for the Python follower;
* nothing published is lost: after every kill the queue holds every record and symbol the
  killed writer had reported published (``PUB``/``SYM`` lines, printed after the append
  returned), and the next writer, after its recovery, sees exactly the last id the queue held
  before it started; the final queue holds exactly the ids 1..N, once each, in order, each with
  its exact values (records appended but not yet published when a writer died are simply
  written again by the next writer, so there is no gap);
* symbol ids are stable: every SYMBOL record of the final queue maps each name to the one id
  it got first (symbol k is id k in every segment), and every record carries the id of its
  symbol;
* ``binfeed verify DIR`` exits 0 (information findings are allowed and counted);
* no writer's recovery reported anything (a kill -9 tears nothing: a torn tail, damage or a
  hole would be a finding) and no writer failed to start.

What the writer guarantees (and this soak holds it to): a record is published when the append
that wrote it returns (the C writer's release store of write_index); a published record is
never lost or changed by a kill -9 at any moment, including mid-roll and mid-recovery. A
record being written when the process died was never published: no reader ever returned it,
and the next writer drops it (it appends after the last published record).

Variant ``record``: the bundled capture tests/data/binance/spot_btcusdt_20240808.gz (346 s of
Binance Spot BTCUSDT: 28,040 bookTicker and 9,757 trade frames) is imported into a source
queue and served on 127.0.0.1 by ``binfeed replay SRC --serve --port 0 --speed S --from T``;
the killed writer is ``binfeed record --url ws://127.0.0.1:PORT --queue Q --segment-slots 3000
-s btcusdt --streams bookTicker,trade``. Before each writer life the server is restarted
from one second before the newest frame the queue holds (T), like a live stream resuming
after a reconnect, with an overlap: every restarted recorder receives frames it already
stored and must drop them (it relearns the last update and trade id from the queue during its
recovery), then stores new ones until it is killed. S spreads the capture over the kills
(about 1 s of new frames per life; --speed overrides). Kill moments: ``recovery`` (0-2 ms
after it took the lock), ``early`` (2-300 ms: connecting, subscribing), ``stream`` (0.3-2.5
s: storing frames). After every kill the queue's bookTicker updates and trades must be a
prefix of the capture's, in order, values exact, none repeated, none lost; a final clean
``binfeed record --duration`` run completes it, so at the end they must equal the capture's
exactly. Followers, fresh reads, verify and symbol ids are checked as above.

Exit status: 0 when every invariant held, 1 otherwise. The summary (also written to
WORKDIR/summary.json) gives the figures.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import random
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

from binfeed import errors
from binfeed.queue import QueueReader, list_segments
from binfeed.records import (
    BOOK_TICKER_DTYPE,
    GAP_DTYPE,
    RECOVERY_DTYPE,
    SLOT_DTYPE,
    SYMBOL_DTYPE,
    TRADE_DTYPE,
    GapReason,
    RecordType,
)
from tests.soak.soak_writer import (
    RECV_BASE,
    SENTINEL_ID,
    SENTINEL_SYMBOL,
    last_update_id,
    symbol_count,
    symbol_name,
    symbols_of,
)

ROOT = Path(__file__).resolve().parents[2]
CAPTURE = ROOT / "tests" / "data" / "binance" / "spot_btcusdt_20240808.gz"
QUEUE_MODES = {"recovery": 0.20, "start": 0.15, "stream": 0.55, "long": 0.10}
RECORD_MODES = {"recovery": 0.25, "early": 0.15, "stream": 0.60}


class SoakFailure(AssertionError):
    """An invariant did not hold; the message lists every problem and the figures."""


@dataclass
class Config:
    kills: int = 50
    seed: int = 1
    variant: str = "queue"
    workdir: Path | None = None
    min_slots: int = 64
    max_slots: int = 3000
    keep: bool = False
    follower_deadline_s: float = 300.0
    quiet: bool = False
    speed: str = ""  # record variant: --speed of the replay server ("": spread over kills)


@dataclass
class Tally:
    modes: Counter[str] = field(default_factory=Counter)
    states: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    writer_recovery_lines: list[str] = field(default_factory=list)
    max_pub: int = 0
    max_sym: int = 0

    def fail(self, msg: str) -> None:
        self.problems.append(msg)


# ------------------------------------------------------------------------------ helpers


def _env() -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("BINFEED_CONFIG", None)
    env.pop("BINFEED_BUS_ROOT", None)
    return env


def _python(*args: str) -> list[str]:
    return [sys.executable, *args]


def build_bf_tail(out_dir: Path) -> Path:
    """Compiles examples/c/bf_tail.c (cc -O2 -Icsrc/include)."""
    exe = out_dir / "bf_tail"
    cc = os.environ.get("CC", "cc")
    subprocess.run([cc, "-O2", "-Wall", "-Wextra", "-I", str(ROOT / "csrc" / "include"),
                    str(ROOT / "examples" / "c" / "bf_tail.c"), "-o", str(exe)], check=True)
    return exe


def _lock_pid(q: Path) -> int | None:
    try:
        text = (q / "writer.lock").read_text(errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("pid="):
            with contextlib.suppress(ValueError):
                return int(line[4:])
    return None


def _wait_lock_taken(q: Path, proc: subprocess.Popen[Any], timeout: float = 20.0) -> bool:
    """Spins until proc's pid is in writer.lock (it holds the lock and is about to recover)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _lock_pid(q) == proc.pid:
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.0001)
    return False


def _read_until(proc: subprocess.Popen[str], prefix: str, timeout: float = 20.0) -> str | None:
    """Reads proc's stdout until a line starting with prefix (None if it ended first)."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    for line in proc.stdout:
        if line.startswith(prefix):
            return line
        if time.monotonic() > deadline:
            break
    return None


def _kill(proc: subprocess.Popen[Any]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait()


def _drain(proc: subprocess.Popen[str]) -> tuple[str, str]:
    """The rest of a dead process's stdout and stderr (through the same buffered files that
    _read_until used, so that nothing read ahead is lost)."""
    out = proc.stdout.read() if proc.stdout else ""
    err = proc.stderr.read() if proc.stderr else ""
    for f in (proc.stdout, proc.stderr):
        if f:
            f.close()
    return out, err


# Segment header fields (binfeed_reader.h, "Segment header").
_HDR = struct.Struct("<8sIIIIQQQQ")  # magic .. first_index
_OFF_WRITE_INDEX, _OFF_SEALED = 128, 192


def inspect_tail(q: Path, top: int = 3) -> dict[str, Any]:
    """The state the killed writer left: the newest segments' headers, leftover .tmp files,
    and whether a complete-looking slot lies at write_index (written, never published)."""
    names = os.listdir(q) if q.exists() else []
    tmp = [n for n in names if n.startswith(".") and n.endswith(".bfq.tmp")]
    segs = list_segments(q) if q.exists() else []
    out: list[dict[str, Any]] = []
    for seq, path in segs[-top:]:
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            continue
        try:
            size = os.fstat(fd).st_size
            raw = os.pread(fd, 256, 0)
            if len(raw) < 256:
                out.append({"seq": seq, "size": size, "short": True})
                continue
            _m, _v, hsize, ssize, _f, cap, _s, _c, first = _HDR.unpack_from(raw)
            n = struct.unpack_from("<Q", raw, _OFF_WRITE_INDEX)[0]
            sealed = struct.unpack_from("<I", raw, _OFF_SEALED)[0]
            after = os.pread(fd, ssize, hsize + n * ssize) if n < cap else b""
            out.append({"seq": seq, "size": size, "capacity": cap, "write_index": n,
                        "sealed": bool(sealed), "first_index": first,
                        "full": size == hsize + cap * ssize,
                        "truncated": size == hsize + n * ssize,
                        "slot_after_written": any(after)})
        finally:
            os.close(fd)
    return {"segments": out, "tmp": tmp, "highest": segs[-1][0] if segs else 0,
            "count": len(segs)}


def classify(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """Names for the state a kill left (tallied for the report)."""
    tags = []
    segs = after["segments"]
    if after["highest"] == before["highest"]:
        tags.append("no_new_segment")  # killed before its first segment was renamed in
        prev = segs[-1] if segs else None
        if prev and not prev.get("sealed", True):
            tags.append("predecessor_still_unsealed")
        elif prev and before["segments"] and not before["segments"][-1].get("sealed", True):
            tags.append("recovery_sealed_then_killed")
    if after["tmp"]:
        tags.append("tmp_file_left")
    if len(segs) >= 2 and not segs[-1].get("sealed", True) and not segs[-2].get("sealed", True):
        tags.append("mid_roll_two_unsealed")
    for s in segs:
        if s.get("sealed") and s.get("full") and not s.get("truncated"):
            tags.append("sealed_not_truncated")
            if s.get("slot_after_written"):
                tags.append("SEALED_WITH_SLOT_AFTER_WRITE_INDEX")
            break
    if segs and not segs[-1].get("sealed", True) and segs[-1].get("slot_after_written"):
        tags.append("unpublished_slot_at_write_index")
    return tags or ["plain"]


def compare_with_fresh(live: Path, cmd: list[str], env: dict[str, str],
                       what: str) -> tuple[int, list[str]]:
    """Streams a fresh read (cmd's stdout) against the live output file, line for line.
    Returns (lines, problems)."""
    problems: list[str] = []
    n = 0
    with live.open("rb") as f, subprocess.Popen(cmd, stdout=subprocess.PIPE,
                                                stderr=subprocess.PIPE, env=env) as p:
        assert p.stdout is not None
        for fresh in p.stdout:
            old = f.readline()
            n += 1
            if old != fresh:
                problems.append(f"{what}: line {n} differs: live {old[:200]!r} vs fresh "
                                f"{fresh[:200]!r}")
                p.kill()
                break
        else:
            rest = f.readline()
            if rest:
                problems.append(f"{what}: the live output has more lines than the fresh read "
                                f"({n}); line {n + 1}: {rest[:200]!r}")
        err = p.stderr.read() if p.stderr else b""
        rc = p.wait()
    if not problems and (rc != 0 or err.strip()):
        problems.append(f"{what}: the fresh read {cmd} exited {rc}: {err.decode()[:2000]}")
    return n, problems


def _tail_line(path: Path) -> bytes:
    """The last complete line of a file (b"" if none)."""
    try:
        with path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 4096))
            data = f.read()
    except OSError:
        return b""
    if not data.endswith(b"\n"):
        return b""
    lines = data.rstrip(b"\n").split(b"\n")
    return lines[-1] if lines else b""


def _count_lines(path: Path) -> int:
    n = 0
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            n += chunk.count(b"\n")
    return n


# ------------------------------------------------------------------------------ the soak


class Soak:
    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.rng = random.Random(cfg.seed)
        self.env = _env()
        base = cfg.workdir or Path(tempfile.mkdtemp(prefix=f"binfeed-soak-{cfg.variant}-"))
        base.mkdir(parents=True, exist_ok=True)
        self.work = base
        self.q = base / "q"
        self.record_log = base / "record.log"
        if self.q.exists():
            raise SystemExit(f"crash_soak: {self.q} exists: give an empty --workdir")
        self.tally = Tally()
        self.children: list[subprocess.Popen[Any]] = []
        self.files: list[IO[Any]] = []
        self.summary: dict[str, Any] = {"variant": cfg.variant, "kills": cfg.kills,
                                        "seed": cfg.seed, "workdir": str(base)}

    def log(self, msg: str) -> None:
        if not self.cfg.quiet:
            print(f"crash_soak: {msg}", flush=True)

    # -- followers ---------------------------------------------------------------------
    def start_followers(self) -> None:
        self.bf_tail = build_bf_tail(self.work)
        self.c_live = self.work / "bf_tail.follow.txt"
        self.py_live = self.work / "replay.follow.jsonl"
        c_out = self.c_live.open("wb")
        c_err = (self.work / "bf_tail.follow.err").open("wb")
        py_err = (self.work / "replay.follow.err").open("wb")
        self.files += [c_out, c_err, py_err]
        self.c_proc = subprocess.Popen([str(self.bf_tail), str(self.q), "--follow"],
                                       stdout=c_out, stderr=c_err)
        self.py_proc = subprocess.Popen(
            _python("-m", "binfeed", "replay", str(self.q), "--follow", "--all", "-o",
                    str(self.py_live)),
            stdout=subprocess.DEVNULL, stderr=py_err, env=self.env)
        self.children += [self.c_proc, self.py_proc]
        time.sleep(1.0)  # both are up and waiting for the queue before its first record
        for name, p in (("bf_tail", self.c_proc), ("binfeed replay", self.py_proc)):
            if p.poll() is not None:
                raise SoakFailure(f"{name} --follow ended before the first record "
                                  f"(exit {p.returncode})")

    def stop_followers(self, markers: tuple[bytes, bytes]) -> None:
        """Waits until each follower printed the sentinel (its last line), then stops it."""
        c_mark, py_mark = markers
        deadline = time.monotonic() + self.cfg.follower_deadline_s
        reason = {"bf_tail": "timeout", "replay": "timeout"}
        t0 = time.monotonic()
        while time.monotonic() < deadline and "timeout" in reason.values():
            if reason["bf_tail"] == "timeout" and c_mark in _tail_line(self.c_live):
                reason["bf_tail"] = "sentinel"
            if reason["replay"] == "timeout" and py_mark in _tail_line(self.py_live):
                reason["replay"] = "sentinel"
            for name, p in (("bf_tail", self.c_proc), ("replay", self.py_proc)):
                if reason[name] == "timeout" and p.poll() is not None:
                    reason[name] = f"exited {p.returncode} before the sentinel"
            time.sleep(0.05)
        self.summary["follower_catch_up_s"] = round(time.monotonic() - t0, 2)
        self.c_proc.send_signal(signal.SIGTERM)
        self.py_proc.send_signal(signal.SIGINT)
        rcs = {"bf_tail": self.c_proc.wait(timeout=60), "replay": self.py_proc.wait(timeout=60)}
        for f in self.files:
            f.close()
        self.files = []
        errs = {"bf_tail": (self.work / "bf_tail.follow.err").read_text(errors="replace"),
                "replay": (self.work / "replay.follow.err").read_text(errors="replace")}
        self.summary["followers"] = {}
        for name in ("bf_tail", "replay"):
            live = self.c_live if name == "bf_tail" else self.py_live
            self.summary["followers"][name] = {
                "stop": reason[name], "exit": rcs[name], "lines": _count_lines(live),
                "last_line": _tail_line(live).decode(errors="replace")[:160]}
            if reason[name] != "sentinel":
                self.tally.fail(f"live {name} did not reach the sentinel: {reason[name]} "
                                f"(last line {_tail_line(live)[:200]!r})")
            if rcs[name] != 0:
                self.tally.fail(f"live {name} exited {rcs[name]}: {errs[name][:2000]}")
            if errs[name].strip():
                self.tally.fail(f"live {name} reported on stderr: {errs[name][:2000]}")

    # -- the queue variant -------------------------------------------------------------
    def writer_cmd(self, slots: int, *extra: str) -> list[str]:
        return _python("-m", "tests.soak.soak_writer", str(self.q), "--segment-slots",
                       str(slots), *extra)

    def run_writer_once(self, kill_no: int, expect_last: int) -> int:
        """One writer life: start, kill at a random moment, check what it left. Returns the
        last id the queue holds afterwards."""
        cfg, rng, t = self.cfg, self.rng, self.tally
        slots = round(math.exp(rng.uniform(math.log(cfg.min_slots), math.log(cfg.max_slots))))
        mode = rng.choices(list(QUEUE_MODES), weights=list(QUEUE_MODES.values()))[0]
        before = inspect_tail(self.q)
        p = subprocess.Popen(self.writer_cmd(slots), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=self.env)
        self.children.append(p)
        try:
            if mode == "recovery":
                if not _wait_lock_taken(self.q, p):
                    t.fail(f"kill {kill_no}: the writer never took the lock "
                           f"(exit {p.poll()})")
                time.sleep(0.002 * rng.random() ** 2)  # most within 0.5 ms: mid-recovery
            else:
                ready = _read_until(p, "READY")
                if ready is None:
                    t.fail(f"kill {kill_no}: the writer ended before READY (exit {p.poll()})")
                else:
                    got = int(ready.split()[1])
                    if got != expect_last:
                        t.fail(f"kill {kill_no}: the restarted writer found last id {got} "
                               f"after its recovery, the queue held {expect_last} before")
                delay = {"start": (0, 0.002), "stream": (0.002, 0.040),
                         "long": (0.040, 0.250)}[mode]
                time.sleep(rng.uniform(*delay))
        finally:
            _kill(p)
            self.children.remove(p)
        out, err = _drain(p)
        if p.returncode != -signal.SIGKILL:
            t.fail(f"kill {kill_no}: the writer ended by itself (exit {p.returncode}) before "
                   f"the kill: {err[-2000:]}")
        elif err.strip():
            t.fail(f"kill {kill_no}: the writer wrote on stderr: {err[-2000:]}")
        pubs = [int(ln.split()[1]) for ln in out.splitlines() if ln.startswith("PUB ")]
        syms = [int(ln.split()[1]) for ln in out.splitlines() if ln.startswith("SYM ")]
        t.writer_recovery_lines += [f"kill {kill_no}: {ln}" for ln in out.splitlines()
                                    if ln.startswith("RECOVERY")]
        for ln in out.splitlines():
            if ln.startswith("READY") and int(ln.split()[1]) != expect_last:
                t.fail(f"kill {kill_no}: READY {ln.split()[1]} but the queue held "
                       f"{expect_last} before this writer")
        after = inspect_tail(self.q)
        t.modes[mode] += 1
        for tag in classify(before, after):
            t.states[tag] += 1
        last = last_update_id(str(self.q)) if after["count"] else 0
        if pubs and last < max(pubs):
            t.fail(f"kill {kill_no}: the writer reported id {max(pubs)} published, the "
                   f"queue's last id is {last}: a published record was lost")
        if last < expect_last:
            t.fail(f"kill {kill_no}: the queue's last id went back from {expect_last} to "
                   f"{last}")
        t.max_pub = max([t.max_pub, *pubs])
        t.max_sym = max([t.max_sym, *syms])
        return last

    def run_queue_variant(self) -> None:
        self.start_followers()
        last = 0
        t0 = time.monotonic()
        for k in range(1, self.cfg.kills + 1):
            last = self.run_writer_once(k, last)
            if k % 50 == 0 or k == self.cfg.kills:
                self.log(f"{k}/{self.cfg.kills} kills, last id {last}, "
                         f"{time.monotonic() - t0:.0f} s")
        self.summary["kill_loop_s"] = round(time.monotonic() - t0, 1)
        # the clean final run: recovery, a sentinel, a normal close
        p = subprocess.run(self.writer_cmd(64, "--sentinel", str(SENTINEL_ID)),
                           capture_output=True, text=True, env=self.env, timeout=120)
        if p.returncode != 0 or p.stderr.strip():
            self.tally.fail(f"the final writer failed (exit {p.returncode}): {p.stderr[-2000:]}")
        for ln in p.stdout.splitlines():
            if ln.startswith("READY") and int(ln.split()[1]) != last:
                self.tally.fail(f"the final writer found last id {ln.split()[1]} after its "
                                f"recovery, the queue held {last}")
            if ln.startswith("RECOVERY"):
                self.tally.writer_recovery_lines.append(f"final: {ln}")
        self.stop_followers((b" seq=%d " % SENTINEL_ID, b'"update_id":%d,' % SENTINEL_ID))
        self.check_fresh_reads()
        try:
            self.check_queue_contents(last)
        except errors.BinfeedError as exc:  # damage met by the Python reader
            self.tally.fail(f"reading the final queue: {exc}")
        self.check_verify()

    def check_queue_contents(self, last: int) -> None:
        """Reads the final queue with the Python reader: ids 1..N in order with their exact
        values and symbol ids, SYMBOL records consistent, no RECOVERY record."""
        t = self.tally
        books: list[np.ndarray] = []
        sym_pairs: set[tuple[int, str]] = set()
        types: Counter[str] = Counter()
        recoveries: list[str] = []
        with QueueReader(self.q) as r:  # raises on damage: there must be none
            while len(batch := r.poll(1 << 16)):
                ty = batch["type"]
                for rt in RecordType:
                    c = int((ty == rt).sum())
                    if c:
                        types[rt.name] += c
                bt = batch[ty == RecordType.BOOK_TICKER].view(BOOK_TICKER_DTYPE)
                books.append(np.array(bt[["seq", "symbol_id", "bid_price", "bid_qty",
                                          "ask_price", "ask_qty", "recv_ts_ns"]]))
                sy = batch[ty == RecordType.SYMBOL].view(SYMBOL_DTYPE)
                sym_pairs.update(zip(sy["symbol_id"].tolist(),
                                     [n.decode("utf-8") for n in sy["name"].tolist()],
                                     strict=True))
                rv = batch[ty == RecordType.RECOVERY].view(RECOVERY_DTYPE)
                recoveries += [bytes(d).decode("utf-8", "replace") for d in rv["detail"]]
        allb = np.concatenate(books) if books else np.empty(0)
        self.summary["records"] = dict(types)
        self.summary["segments"] = len(list_segments(self.q))
        if len(allb) == 0 or allb["seq"][-1] != SENTINEL_ID:
            t.fail("the final queue does not end with the sentinel record")
            return
        data = allb[:-1]
        n = len(data)
        ids = data["seq"].astype(np.int64)
        expect = np.arange(1, n + 1, dtype=np.int64)
        self.summary["final_last_id"] = int(ids[-1]) if n else 0
        if n != last or not np.array_equal(ids, expect):
            bad = np.flatnonzero(ids != expect[:len(ids)]) if n else []
            at = int(bad[0]) if len(bad) else n
            t.fail(f"the final queue's ids are not exactly 1..{last}: {n} records, first "
                   f"difference at position {at}: {ids[max(0, at - 2):at + 3].tolist()}")
            return
        if t.max_pub > n:
            t.fail(f"id {t.max_pub} was reported published but the queue ends at {n}")
        i = ids - 1
        bid = 61000.0 + (i % 10007) * 0.01 + 1e-9 * (i % 7)
        ok = (np.array_equal(data["bid_price"], bid)
              and np.array_equal(data["bid_qty"], 0.00001 * (i % 997 + 1))
              and np.array_equal(data["ask_price"], bid + 0.01)
              and np.array_equal(data["ask_qty"], 3.0 / (i % 11 + 1))
              and np.array_equal(data["recv_ts_ns"], (RECV_BASE + ids).astype(np.uint64)))
        if not ok:
            t.fail("some records do not hold the exact values written for their id")
        if not np.array_equal(data["symbol_id"], symbols_of(ids.astype(np.uint64))):
            bad = int(np.flatnonzero(data["symbol_id"] != symbols_of(ids.astype(np.uint64)))[0])
            t.fail(f"record id {bad + 1} carries symbol id {int(data['symbol_id'][bad])}, "
                   "not its symbol's")
        # Symbol k is id k in every SYMBOL record of every segment, and the sentinel's
        # symbol, defined last, comes right after them. A killed writer may have defined the
        # next symbol just before its first record (which it did not live to publish): then
        # the queue holds one symbol more than its last id needs.
        nsym = symbol_count(n)
        by_id: dict[int, set[str]] = {}
        by_name: dict[str, set[int]] = {}
        for sid, name in sym_pairs:
            by_id.setdefault(sid, set()).add(name)
            by_name.setdefault(name, set()).add(sid)
        k_max = len(by_name) - 1  # without the sentinel's
        want = {k: {symbol_name(k)} for k in range(1, k_max + 1)}
        want[k_max + 1] = {SENTINEL_SYMBOL}
        if by_id != want or any(len(v) > 1 for v in by_name.values()):
            wrong = sorted((k, sorted(v)) for k, v in by_id.items() if want.get(k) != v)
            t.fail(f"SYMBOL records are not symbol k = id k in every segment: {wrong[:10]}")
        if not nsym <= k_max <= nsym + 1:
            t.fail(f"{k_max} symbols defined, the ids 1..{n} use {nsym}")
        if t.max_sym > k_max:
            t.fail(f"symbol {t.max_sym} was reported defined but the queue has {k_max}")
        self.summary["symbols"] = len(by_name)
        self.summary["recovery_records"] = recoveries
        if recoveries:
            t.fail(f"{len(recoveries)} RECOVERY record(s): {recoveries[:5]}")

    # -- the record variant ------------------------------------------------------------
    def import_capture(self) -> None:
        src = self.work / "src"
        subprocess.run(_python("-m", "binfeed", "import", "--queue", str(src), str(CAPTURE)),
                       check=True, env=self.env, stdout=subprocess.DEVNULL)
        self.src = src
        self.want = want = self.market(src)
        first = min(int(want["book"]["recv_ts_ns"][0]), int(want["trade"]["recv_ts_ns"][0]))
        last = max(int(want["book"]["recv_ts_ns"][-1]), int(want["trade"]["recv_ts_ns"][-1]))
        self.capture = (first, last)
        span = (last - first) / 1e9
        # Spread the capture over the kills (about 1 s of new frames per writer life),
        # unless --speed says otherwise.
        speed = self.cfg.speed or f"{min(200.0, max(2.0, span / (0.8 * self.cfg.kills))):.1f}"
        self.speed = speed
        self.summary["capture"] = {"bookTicker": len(want["book"]), "trade": len(want["trade"]),
                                   "seconds": round(span, 1), "speed": speed}

    def start_server(self, from_ns: int | None) -> str:
        """(Re)starts `binfeed replay SRC --serve` from from_ns (capture time); its URL."""
        self.stop_server()
        cmd = _python("-m", "binfeed", "replay", str(self.src), "--serve", "--host",
                      "127.0.0.1", "--port", "0", "--speed", self.speed)
        if from_ns is not None:
            cmd += ["--from", str(from_ns)]
        self.server = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                       text=True, env=self.env)
        self.children.append(self.server)
        line = _read_until(self.server, "serving")
        if line is None:
            raise SoakFailure(f"binfeed replay --serve did not start: {self.server.poll()}")
        return next(w for w in line.split() if w.startswith("ws://127.0.0.1:")).rstrip(";")

    def stop_server(self) -> None:
        server = getattr(self, "server", None)
        if server is None:
            return
        server.send_signal(signal.SIGTERM)
        try:
            rc = server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            _kill(server)
            rc = server.returncode
        self.children.remove(server)
        self.server = None
        if rc != 0:
            self.tally.fail(f"binfeed replay --serve exited {rc}: {server.stderr.read()[-2000:]}"
                            if server.stderr else f"binfeed replay --serve exited {rc}")

    def resume_point(self, got: dict[str, Any]) -> int | None:
        """Capture time to serve from next: 1 s before the newest frame the queue holds of
        the stream that is furthest behind (so every restart re-receives about a second of
        frames it already stored, which it must drop), None to serve from the start."""
        want = self.want
        book = got["book"][got["book"]["symbol_id"] == 1]
        if not len(book) or not len(got["trade"]):
            return None
        bi = int(np.searchsorted(want["book"]["seq"], book["seq"][-1]))
        ti = int(np.searchsorted(want["trade"]["trade_id"], got["trade"]["trade_id"][-1]))
        at = min(int(want["book"]["recv_ts_ns"][min(bi, len(want["book"]) - 1)]),
                 int(want["trade"]["recv_ts_ns"][min(ti, len(want["trade"]) - 1)]))
        return max(self.capture[0], at - 1_000_000_000)

    def record_cmd(self, url: str, *extra: str) -> list[str]:
        return _python("-m", "binfeed", "record", "--url", url, "--queue", str(self.q),
                       "--segment-slots", "3000", "-s", "btcusdt", "--streams",
                       "bookTicker,trade", "--no-status", *extra)

    @staticmethod
    def market(q: Path) -> dict[str, Any]:
        """bookTicker rows, trade rows, gap rows and SYMBOL (id, name) pairs of a queue,
        read with the Python reader (which raises on damage)."""
        books, trades, gaps = [], [], []
        syms: set[tuple[int, str]] = set()
        with QueueReader(q) as r:
            batch = np.empty(0, SLOT_DTYPE)  # gives typed empty arrays for an empty queue
            while True:
                ty = batch["type"]
                bt = batch[ty == RecordType.BOOK_TICKER].view(BOOK_TICKER_DTYPE)
                books.append(np.array(bt[["seq", "symbol_id", "bid_price", "bid_qty",
                                          "ask_price", "ask_qty", "recv_ts_ns"]]))
                tr = batch[ty == RecordType.TRADE].view(TRADE_DTYPE)
                trades.append(np.array(tr[["trade_id", "price", "qty", "trade_ts_us",
                                           "event_ts_us", "trade_flags", "recv_ts_ns"]]))
                gp = batch[ty == RecordType.GAP].view(GAP_DTYPE)
                gaps.append(np.array(gp[["stream", "reason", "last_seq", "next_seq"]]))
                sy = batch[ty == RecordType.SYMBOL].view(SYMBOL_DTYPE)
                syms.update(zip(sy["symbol_id"].tolist(),
                                [n.decode("utf-8") for n in sy["name"].tolist()], strict=True))
                batch = r.poll(1 << 16)
                if len(batch) == 0:
                    break
        return {"book": np.concatenate(books), "trade": np.concatenate(trades),
                "gap": np.concatenate(gaps), "symbols": syms}

    def check_prefix(self, when: str, got: dict[str, Any], complete: bool) -> None:
        """The queue's bookTickers (of BTCUSDT) and trades are the capture's first ones, in
        order, none repeated or changed (receive times are the recorder's own)."""
        for key, idf in (("book", "seq"), ("trade", "trade_id")):
            g, w = got[key], self.want[key]
            if key == "book":
                g = g[g["symbol_id"] == 1]
            fields = [f for f in w.dtype.names if f not in ("symbol_id", "recv_ts_ns")]
            n = len(g)
            if n > len(w) or (complete and n != len(w)):
                self.tally.fail(f"{when}: {n} {key} records, the capture has {len(w)}")
                continue
            if not all(np.array_equal(g[f], w[f][:n]) for f in fields):
                dup = int(n - len(np.unique(g[idf])))
                diff = np.flatnonzero(g[idf] != w[idf][:n])
                at = int(diff[0]) if len(diff) else -1
                self.tally.fail(f"{when}: the queue's {key} records are not the capture's "
                                f"first {n} ({dup} repeated ids; first id difference at {at})")

    def run_record_variant(self) -> None:
        self.import_capture()
        self.start_followers()
        rng, t = self.rng, self.tally
        t0 = time.monotonic()
        counts = (0, 0)
        loaded = 0  # writer lives that stored new frames before they were killed
        from_ns: int | None = None
        for k in range(1, self.cfg.kills + 1):
            url = self.start_server(from_ns)
            mode = rng.choices(list(RECORD_MODES), weights=list(RECORD_MODES.values()))[0]
            before = inspect_tail(self.q)
            with self.record_log.open("a") as log:
                log.write(f"--- kill {k} ({mode}), serving from {from_ns}\n")
                log.flush()
                p = subprocess.Popen(self.record_cmd(url), stdout=log, stderr=log, text=True,
                                     env=self.env)
            self.children.append(p)
            try:
                if not _wait_lock_taken(self.q, p):
                    t.fail(f"kill {k}: the recorder never took the lock (exit {p.poll()})")
                if mode == "recovery":
                    time.sleep(0.002 * rng.random() ** 2)
                else:
                    time.sleep(rng.uniform(*{"early": (0.002, 0.3), "stream": (0.3, 2.5)}[mode]))
            finally:
                _kill(p)
                self.children.remove(p)
            if p.returncode != -signal.SIGKILL:
                t.fail(f"kill {k}: the recorder ended by itself (exit {p.returncode}); see "
                       f"{self.record_log}")
            t.modes[mode] += 1
            for tag in classify(before, inspect_tail(self.q)):
                t.states[tag] += 1
            if list_segments(self.q):
                got = self.market(self.q)
                self.check_prefix(f"kill {k}", got, complete=False)
                new = (int((got["book"]["symbol_id"] == 1).sum()), len(got["trade"]))
                if new < counts:
                    t.fail(f"kill {k}: stored records went from {counts} to {new}")
                loaded += new > counts
                counts = new
                from_ns = self.resume_point(got)
            if k % 10 == 0 or k == self.cfg.kills:
                self.log(f"{k}/{self.cfg.kills} kills, {counts[0]} bookTickers and {counts[1]} "
                         f"trades stored, {time.monotonic() - t0:.0f} s")
        self.summary["kill_loop_s"] = round(time.monotonic() - t0, 1)
        self.summary["kills_while_storing_new_frames"] = loaded
        self.summary["stored_before_final_run"] = {"bookTicker": counts[0], "trade": counts[1]}
        # the clean final run: from the resume point to the end of the capture, then a margin
        url = self.start_server(from_ns)
        rest_s = (self.capture[1] - (from_ns or self.capture[0])) / 1e9
        speed = float("inf") if self.speed == "max" else float(self.speed)
        duration = f"{rest_s / speed + 5:.1f}"
        p2 = subprocess.run(self.record_cmd(url, "--duration", duration), capture_output=True,
                            text=True, env=self.env, timeout=float(duration) + 120)
        if p2.returncode != 0:
            t.fail(f"the final recorder run exited {p2.returncode}: {p2.stderr[-2000:]}")
        self.summary["final_record_run"] = p2.stdout.strip().splitlines()[:1]
        self.stop_server()
        p3 = subprocess.run(_python("-m", "tests.soak.soak_writer", str(self.q),
                                    "--segment-slots", "3000", "--sentinel", str(SENTINEL_ID)),
                            capture_output=True, text=True, env=self.env, timeout=120)
        if p3.returncode != 0 or p3.stderr.strip():
            t.fail(f"the sentinel writer failed (exit {p3.returncode}): {p3.stderr[-2000:]}")
        self.stop_followers((b" seq=%d " % SENTINEL_ID, b'"update_id":%d,' % SENTINEL_ID))
        self.check_fresh_reads()
        got = self.market(self.q)
        got["book"] = got["book"][:-1]  # the sentinel
        self.check_prefix("final queue", got, complete=True)
        gaps = got["gap"]
        self.summary["records"] = {"bookTicker": len(got["book"]), "trade": len(got["trade"]),
                                   "gap": len(gaps)}
        self.summary["gap_reasons"] = dict(Counter(GapReason(int(x)).name.lower()
                                                   for x in gaps["reason"]))
        self.summary["segments"] = len(list_segments(self.q))
        names: dict[str, set[int]] = {}
        for sid, name in got["symbols"]:
            names.setdefault(name, set()).add(sid)
        if names != {"BTCUSDT": {1}, SENTINEL_SYMBOL: {2}}:
            t.fail(f"SYMBOL records: {names}, expected BTCUSDT=1 and {SENTINEL_SYMBOL}=2")
        self.check_verify()

    # -- shared final checks -----------------------------------------------------------
    def check_fresh_reads(self) -> None:
        n_c, probs = compare_with_fresh(self.c_live, [str(self.bf_tail), str(self.q)],
                                        self.env, "bf_tail --follow vs bf_tail")
        self.tally.problems += probs
        n_py, probs = compare_with_fresh(
            self.py_live, _python("-m", "binfeed", "replay", str(self.q), "--all"), self.env,
            "binfeed replay --follow --all vs binfeed replay --all")
        self.tally.problems += probs
        self.summary["fresh_read_lines"] = {"bf_tail": n_c, "replay": n_py}

    def check_verify(self) -> None:
        p = subprocess.run(_python("-m", "binfeed", "verify", str(self.q), "--json"),
                           capture_output=True, text=True, env=self.env, timeout=600)
        try:
            rep = json.loads(p.stdout)
        except ValueError:
            rep = {}
        kinds = Counter(f"{f['severity']}:{f['kind']}" for f in rep.get("findings", []))
        self.summary["verify"] = {"exit": p.returncode, "segments": rep.get("segments"),
                                  "records": rep.get("records"), "findings": dict(kinds)}
        if p.returncode != 0:
            dmg = [f for f in rep.get("findings", []) if f.get("severity") == "damage"]
            self.tally.fail(f"binfeed verify exited {p.returncode}: {dmg[:5] or p.stderr[-2000:]}")

    # -- driver ------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        t0 = time.monotonic()
        try:
            if self.cfg.variant == "queue":
                self.run_queue_variant()
            else:
                self.run_record_variant()
        finally:
            for p in self.children:
                _kill(p)
            for f in self.files:
                f.close()
        t = self.tally
        if t.writer_recovery_lines:
            t.fail(f"{len(t.writer_recovery_lines)} writer recoveries reported findings: "
                   f"{t.writer_recovery_lines[:5]}")
        self.summary.update({
            "elapsed_s": round(time.monotonic() - t0, 1),
            "kill_modes": dict(t.modes), "kill_states": dict(t.states),
            "problems": t.problems})
        (self.work / "summary.json").write_text(json.dumps(self.summary, indent=2,
                                                           ensure_ascii=False) + "\n")
        if t.problems:
            raise SoakFailure(f"{len(t.problems)} problem(s); work directory kept at "
                              f"{self.work}:\n" + "\n".join(t.problems[:30]) + "\n"
                              + json.dumps(self.summary, indent=2, ensure_ascii=False))
        if not self.cfg.keep:
            shutil.rmtree(self.work, ignore_errors=True)
        return self.summary


def run(cfg: Config) -> dict[str, Any]:
    """Runs one soak; returns the summary, or raises SoakFailure."""
    return Soak(cfg).run()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.soak.crash_soak",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--kills", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=None, help="default: random (printed)")
    ap.add_argument("--variant", choices=["queue", "record"], default="queue")
    ap.add_argument("--workdir", type=Path, default=None,
                    help="an empty directory for the queue and the outputs (default: a "
                         "temporary one, deleted after a successful run)")
    ap.add_argument("--min-slots", type=int, default=64)
    ap.add_argument("--max-slots", type=int, default=3000)
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--speed", default="",
                    help="record variant: replay speed of the server (1, N or max; default: "
                         "the 346 s capture spread over the kills, about 1 s of new frames "
                         "per writer life, between 2 and 200)")
    args = ap.parse_args(argv)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 31)
    cfg = Config(kills=args.kills, seed=seed, variant=args.variant, workdir=args.workdir,
                 min_slots=args.min_slots, max_slots=args.max_slots, keep=args.keep,
                 speed=args.speed)
    print(f"crash_soak: variant {cfg.variant}, {cfg.kills} kills, seed {seed}", flush=True)
    try:
        summary = run(cfg)
    except SoakFailure as exc:
        print(f"crash_soak: FAILED: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(summary, indent=2, ensure_ascii=False))
    print("crash_soak: every invariant held", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
