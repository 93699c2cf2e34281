"""``binfeed monitor``: aggregation, the JSON-lines mode, and the terminal view through a
real pseudo-terminal while another process writes the queue."""

from __future__ import annotations

import fcntl
import itertools
import json
import os
import re
import select
import signal
import struct
import subprocess
import termios
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from binfeed.cli import main
from binfeed.commands.monitor_view import render_screen
from binfeed.display import duration, width
from binfeed.monitor import MonitorState
from binfeed.queue import QueueReader, QueueWriter
from binfeed.records import ConnectionEvent, GapReason, Stream
from tests.ops.helpers import BINFEED, env, spawn_binfeed, spawn_live_writer, stop, wait_line
from tests.queue.helpers import book_values

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def test_state_counts_rates_latest_quotes_and_gaps(tmp_path: Path) -> None:
    q = tmp_path / "q"
    with QueueWriter(q, segment_slots=64) as w:
        for i in range(100):
            sym = ("BTCUSDT", "ETHUSDT", "SOLUSDT")[i % 3]
            w.append_book_ticker(sym, i + 1, *book_values(i), recv_ts_ns=1_000 + i)
            if i % 10 == 0:
                w.append_trade(sym, i, 5.0 + i, 0.5, trade_ts_us=1000, event_ts_us=2000,
                               buyer_is_maker=False, recv_ts_ns=1_000 + i)
        w.append_gap("ETHUSDT", Stream.TRADE, GapReason.SEQUENCE_JUMP, last_seq=7,
                     next_seq=9, recv_ts_ns=2_000)
        w.append_connection(ConnectionEvent.DISCONNECTED, 3, code=1006, detail="abrupt",
                            recv_ts_ns=2_001)
    reader = QueueReader(q)
    state = MonitorState(str(q), started_ns=0)
    while True:
        batch = reader.poll(17)  # many small batches: the sums must not depend on them
        if not len(batch):
            break
        state.update(batch, reader.symbols)
    rep = state.report(now_ns=2_000_000_000)
    assert rep.totals["bookTicker"] == 100
    assert rep.totals["trade"] == 10
    assert rep.totals["gap"] == 1
    assert rep.totals["connection"] == 1
    assert rep.rate == pytest.approx(rep.records / 2.0)
    by = {s.symbol: s for s in rep.symbols}
    assert list(by) == ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
    assert by["BTCUSDT"].totals == {"bookTicker": 34, "trade": 4}
    last_eth = max(i for i in range(100) if i % 3 == 1)
    q_eth = by["ETHUSDT"].quote
    assert q_eth is not None
    assert (q_eth.bid, q_eth.bid_qty, q_eth.ask, q_eth.ask_qty) == book_values(last_eth)
    assert q_eth.update_id == last_eth + 1
    assert by["SOLUSDT"].trade is not None
    assert by["SOLUSDT"].trade.trade_id == 80
    assert rep.last_recv_ns == 1_099  # the newest market record (control records aside)
    assert rep.lag_s == pytest.approx((2_000_000_000 - 1_099) / 1e9)
    assert rep.gaps_total == rep.gaps_new == 1
    assert rep.recent_gaps[-1].stream == "ethusdt@trade"
    assert (rep.recent_gaps[-1].last_seq, rep.recent_gaps[-1].next_seq) == (7, 9)
    assert rep.last_connection == "disconnected #3 code 1006 abrupt"
    # the next interval starts empty; totals stay
    rep2 = state.report(now_ns=3_000_000_000)
    assert rep2.records == 0
    assert rep2.rate == 0
    assert rep2.gaps_new == 0
    assert rep2.total == rep.total
    lines = render_screen(rep, 120, 40, color=False)
    assert all(len(line) <= 120 for line in lines)
    assert any(line.startswith("gaps     1 since start") for line in lines)
    assert any(line.startswith("ETHUSDT") and repr(book_values(last_eth)[0]) in line
               for line in lines)
    short = render_screen(rep, 80, 10, color=False)
    assert len(short) == 10
    assert short[-1].startswith("... 2 more symbols")


def test_terminal_view_aligns_utf8_symbols_by_terminal_cells(tmp_path: Path) -> None:
    q = tmp_path / "q"
    with QueueWriter(q) as w:
        for i, sym in enumerate(["BTCUSDT", "币安人生USDT", "ÄBC"]):  # ids 1, 2, 3
            w.append_book_ticker(sym, i + 1, *book_values(i), recv_ts_ns=1_000 + i)
        w.append_gap("币安人生USDT", Stream.TRADE, GapReason.SEQUENCE_JUMP, last_seq=1,
                     next_seq=3, recv_ts_ns=2_000)
    reader = QueueReader(q)
    state = MonitorState(str(q), started_ns=0)
    state.update(reader.poll(), reader.symbols)
    rep = state.report(now_ns=2_000_000_000)
    assert rep.recent_gaps[-1].stream == "币安人生usdt@trade"
    symbols = ["BTCUSDT", "币安人生USDT", "ÄBC"]
    rows = {line.split()[0]: line for line in render_screen(rep, 200, 40, color=False)
            if line.split() and line.split()[0] in symbols}
    assert len(rows) == 3
    # the book/s column (right-aligned after the symbol) ends at the same terminal cell on
    # every row: a CJK character takes two cells
    ends = {sym: width(m.group(0)) for sym, line in rows.items()
            if (m := re.match(r"\S+\s+\S+", line))}
    assert len(ends) == 3 and len(set(ends.values())) == 1, ends
    narrow = render_screen(rep, 41, 40, color=False)
    assert all(width(line) <= 41 for line in narrow)


@pytest.mark.parametrize(("seconds", "text"), [
    (0.0000005, "0 us"), (0.0123, "12.3 ms"), (4.2, "4.20 s"), (185, "3m05s"),
    (3 * 3600 + 720, "3h12m"), (-0.5, "-500.0 ms (clock skew)"),
])
def test_lag_formatting(seconds: float, text: str) -> None:
    assert duration(seconds) == text


@pytest.mark.slow
def test_lines_mode_counts_exactly_what_a_writer_process_commits(tmp_path: Path) -> None:
    q = tmp_path / "q"
    count = 2000
    writer = spawn_live_writer(q, count, "--segment-slots", "256", "--rate", "4000",
                               "--trade-every", "5", "--gap-at", "1000", "--wait-go", "--hold")
    mon = None
    try:
        wait_line(writer, "READY")
        mon = spawn_binfeed("monitor", str(q), "--interval", "0.2", "--duration", "2.5")
        assert mon.stdout is not None
        assert writer.stdin is not None
        first = json.loads(mon.stdout.readline())  # the monitor is reading: start writing
        assert first["total"] == 0
        assert first["writer"]["pid"] == writer.pid
        writer.stdin.write("go\n")
        writer.stdin.flush()
        reports = [first] + [json.loads(x) for x in mon.stdout]
        assert mon.wait(10) == 0, mon.stderr.read() if mon.stderr else ""
    finally:
        stop(writer)
        if mon is not None and mon.poll() is None:
            mon.kill()
    last = reports[-1]
    assert last["totals"]["bookTicker"] == count
    assert last["totals"]["trade"] == count // 5
    assert last["totals"]["gap"] == 1
    assert last["totals"]["connection"] == 1
    assert last["gaps"] == 1
    assert last["last_gap"]["reason"] == "disconnected"
    assert last["last_connection"] == "disconnected #1 code 1006 test abort"
    # per interval counts add up to the total, rates are counts over the interval
    assert sum(r["records"] for r in reports) == last["total"]
    busy = [r for r in reports if r["records"]]
    assert len(busy) >= 2  # the writer took ~0.5 s: several intervals saw records
    assert all(r["rate"] == pytest.approx(r["records"] / r["interval_s"], rel=1e-3)
               for r in busy)
    # while records flowed the lag was that of a live queue, not seconds
    assert min(r["lag_ms"] for r in busy) < 1000
    # latest quotes are the last values written per symbol
    for k, sym in enumerate(("BTCUSDT", "ETHUSDT")):
        i = max(j for j in range(count) if j % 2 == k)
        s = last["symbols"][sym]
        assert (s["bid"], s["bid_qty"], s["ask"], s["ask_qty"]) == book_values(i)
        assert s["update_id"] == i + 1
    assert last["segments"] >= 9
    assert last["writer"]["live"] is True
    times = [r["now_ns"] for r in reports]
    assert 5 <= len(reports) <= 16  # ~2.5 s / 0.2 s, fewer when the machine is busy
    assert all(b > a for a, b in itertools.pairwise(times))


def test_waits_for_a_queue_and_once_fails_without_one(tmp_path: Path) -> None:
    r = CliRunner().invoke(main, ["monitor", str(tmp_path / "none"), "--once"])
    assert r.exit_code == 1
    assert r.output.startswith("Error: cannot open queue directory")
    assert "start a writer first" in r.output
    r = CliRunner().invoke(main, ["monitor", str(tmp_path / "none"), "--duration", "0.3",
                                  "--interval", "0.1"])
    assert r.exit_code == 0
    docs = [json.loads(x) for x in r.output.splitlines()]
    assert docs
    assert all(d["waiting"] for d in docs)


# -- through a pseudo-terminal ---------------------------------------------------------


def spawn_on_pty(*args: str, rows: int = 40, cols: int = 140) -> tuple[subprocess.Popen[bytes],
                                                                         int]:
    """``binfeed ARGS`` with a new pseudo-terminal as its controlling terminal."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def become_controlling_tty() -> None:
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    proc = subprocess.Popen([*BINFEED, *args], stdin=slave, stdout=slave, stderr=slave,
                            env=env(), start_new_session=True,
                            preexec_fn=become_controlling_tty, close_fds=True)
    os.close(slave)
    return proc, master


def read_pty(master: int, until: float, stop_when: bytes | None = None) -> bytes:
    out = b""
    while time.monotonic() < until:
        ready, _, _ = select.select([master], [], [], max(0.0, until - time.monotonic()))
        if not ready:
            break
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the other side closed
            break
        if not chunk:
            break
        out += chunk
        if stop_when is not None and stop_when in out:
            break
    return out


def last_screen(raw: bytes) -> list[str]:
    text = raw.decode("utf-8", "replace")
    frame = text.rsplit("\x1b[H", 1)[-1]
    return [ANSI.sub("", line).rstrip("\r") for line in frame.split("\n")]


@pytest.mark.slow
def test_terminal_view_of_a_queue_being_written(tmp_path: Path) -> None:
    q = tmp_path / "q"
    writer = spawn_live_writer(q, 3000, "--segment-slots", "512", "--rate", "3000",
                               "--trade-every", "3", "--wait-go", "--hold")
    mon = None
    try:
        wait_line(writer, "READY")
        mon, master = spawn_on_pty("monitor", str(q), "--interval", "0.25")
        first = read_pty(master, time.monotonic() + 10, stop_when=b"SYMBOL")
        assert b"\x1b[?25l" in first  # cursor hidden, screen cleared, drawn from home
        assert b"\x1b[2J" in first
        assert b"\x1b[H" in first
        assert writer.stdin is not None
        writer.stdin.write("go\n")
        writer.stdin.flush()
        during = read_pty(master, time.monotonic() + 0.7)
        mid = last_screen(during)
        records_line = next(x for x in mid if x.startswith("records"))
        rate = float(records_line.split()[1].rstrip("/s").replace(",", ""))
        assert rate > 0  # records are flowing (exact rates: the --lines test)
        lag = next(x for x in mid if x.startswith("lag"))
        assert re.match(r"lag\s+\d+(\.\d+)? (us|ms|s) behind wall clock", lag), lag
        wait_line(writer, "DONE")
        final = [list(book_values(max(j for j in range(3000) if j % 2 == k)))
                 for k in range(2)]
        after = b""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # until a refresh shows the last quotes
            after += read_pty(master, time.monotonic() + 0.3)
            screen = last_screen(after)
            rows = [next((x for x in screen if x.startswith(sym)), "").split()
                    for sym in ("BTCUSDT", "ETHUSDT")]
            if all(len(r) > 6 and [float(v) for v in r[3:7]] == f
                   for r, f in zip(rows, final, strict=True)):
                break
        else:
            raise AssertionError(f"the last quotes never showed: {screen}")
        assert screen[0].startswith(f"binfeed monitor  {q}")
        assert screen[0].rstrip().endswith("Ctrl-C quits")
        assert all(len(line) <= 140 for line in screen)
        writer_line = next(x for x in screen if x.startswith("writer"))
        assert f"live: pid {writer.pid} on " in writer_line
        header = next(x for x in screen if x.startswith("SYMBOL"))
        assert header.split()[:4] == ["SYMBOL", "book/s", "trade/s", "bid"]
        # Ctrl-C typed on the terminal: exit 0, cursor shown again
        os.write(master, b"\x03")
        tail = read_pty(master, time.monotonic() + 5)
        assert mon.wait(5) == 0
        assert b"\x1b[?25h" in tail
        assert b"Traceback" not in first + during + after + tail
    finally:
        stop(writer)
        if mon is not None and mon.poll() is None:
            mon.send_signal(signal.SIGKILL)
            mon.wait()


@pytest.mark.slow
def test_terminal_view_with_duration_and_sigterm(tmp_path: Path) -> None:
    q = tmp_path / "q"
    with QueueWriter(q, segment_slots=64) as w:
        w.append_book_ticker("BTCUSDT", 1, 1.5, 2.5, 3.5, 4.5, recv_ts_ns=time.time_ns())
    mon, master = spawn_on_pty("monitor", str(q), "--interval", "0.1", "--duration", "0.5")
    out = read_pty(master, time.monotonic() + 10)
    assert mon.wait(5) == 0
    screen = last_screen(out)
    assert next(x for x in screen if x.startswith("writer")).endswith("none")
    assert next(x for x in screen if x.startswith("BTCUSDT")).split()[3:7] == [
        "1.5", "2.5", "3.5", "4.5"]  # the quote written before the monitor started
    mon, master = spawn_on_pty("monitor", str(q), "--interval", "0.1")
    read_pty(master, time.monotonic() + 10, stop_when=b"SYMBOL")
    mon.send_signal(signal.SIGTERM)
    rest = read_pty(master, time.monotonic() + 5)
    assert mon.wait(5) == 0
    assert b"\x1b[?25h" in rest
