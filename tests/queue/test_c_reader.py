"""The C example consumer (examples/c/bf_tail.c, header-only reader) prints exactly what
the Python reader reads, for a finished queue and while a writer in another process
appends across segment rolls."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import signal
import struct
import subprocess
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from binfeed._ffi import ffi, lib
from binfeed.cli import main
from binfeed.queue import QueueReader, QueueWriter
from binfeed.records import (
    BookTicker,
    Connection,
    ConnectionEvent,
    Gap,
    GapReason,
    Record,
    RecordType,
    Recovery,
    Stream,
    SymbolDefinition,
    Trade,
)
from tests.queue.helpers import ROOT, spawn_writer, wait_line, write_book_tickers

pytestmark = pytest.mark.slow  # compiles and runs the C example against a live writer

CC = os.environ.get("CC", "cc")


def c_escape(text: str) -> str:
    out = []
    for b in text.encode("utf-8"):
        if b == 0x5C:
            out.append("\\\\")
        elif b < 0x20 or b == 0x7F:
            out.append(f"\\x{b:02x}")
        else:
            out.append(chr(b))
    return "".join(out).encode("latin-1").decode("utf-8")


def as_bf_tail_line(r: Record) -> str:
    """bf_tail's documented line format, from Python's view of the record."""
    g = lambda x: format(x, ".17g")  # noqa: E731
    if isinstance(r, SymbolDefinition):
        return f"symbol {r.symbol_id} {c_escape(r.symbol)}"
    if isinstance(r, BookTicker):
        return (f"book_ticker {c_escape(r.symbol)} seq={r.update_id} recv={r.recv_ts_ns} "
                f"ts={r.timestamp_us} bid={g(r.bid_price)} bidq={g(r.bid_qty)} "
                f"ask={g(r.ask_price)} askq={g(r.ask_qty)}")
    if isinstance(r, Trade):
        best = "-" if r.best_match is None else str(int(r.best_match))
        return (f"trade {c_escape(r.symbol)} seq={r.trade_id} recv={r.recv_ts_ns} "
                f"price={g(r.price)} qty={g(r.qty)} trade_ts={r.trade_ts_us} "
                f"event_ts={r.event_ts_us} maker={int(r.buyer_is_maker)} best_match={best}")
    if isinstance(r, Gap):
        return (f"gap {c_escape(r.symbol)} stream={r.stream.wire_name} "
                f"reason={r.reason.name.lower()} last={r.last_seq or 0} "
                f"next={r.next_seq or 0} recv={r.recv_ts_ns}")
    if isinstance(r, Recovery):
        return (f"recovery event={r.event.name.lower()} segment={r.segment_seq} slot={r.slot} "
                f"count={r.count} recv={r.recv_ts_ns} detail={c_escape(r.detail)}")
    assert isinstance(r, Connection)
    return (f"connection conn={r.conn_id} event={r.event.name.lower()} code={r.code} "
            f"recv={r.recv_ts_ns} detail={c_escape(r.detail)}")


def python_lines(q: Path) -> list[str]:
    return [as_bf_tail_line(r) for r in QueueReader(q).records(include_symbols=True)]


@pytest.fixture(scope="module")
def bf_tail(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which(CC) is None:
        pytest.skip("no C compiler")
    exe = tmp_path_factory.mktemp("bf_tail") / "bf_tail"
    subprocess.run([CC, "-std=c11", "-O2", "-Wall", "-Wextra", "-Werror",
                    f"-I{ROOT / 'csrc' / 'include'}", str(ROOT / "examples" / "c" / "bf_tail.c"),
                    "-o", str(exe)], check=True, capture_output=True)
    return exe


def test_c_example_prints_what_python_reads(tmp_path: Path, bf_tail: Path) -> None:
    q = tmp_path / "q"
    with QueueWriter(q, segment_slots=64) as w:
        write_book_tickers(w, 0, 500, ["BTCUSDT", "ETHUSDT", "1000SATSUSDT", "币安人生USDT"])
        w.append_trade("BTCUSDT", 3735683259, 61837.63, 0.02, trade_ts_us=1723161255342000,
                       event_ts_us=1723161255343000, buyer_is_maker=True, best_match=True,
                       recv_ts_ns=1)
        w.append_trade("ETHUSDT", 10, 0.1 + 0.2, 1e-8, trade_ts_us=1, event_ts_us=2,
                       buyer_is_maker=False, best_match=None, recv_ts_ns=2)
        w.append_gap("ETHUSDT", Stream.TRADE, GapReason.SEQUENCE_JUMP, last_seq=10,
                     next_seq=13, recv_ts_ns=3)
        w.append_trade("币安人生usdt", 11, 0.5, 3.0, trade_ts_us=1764633600123456,
                       event_ts_us=1764633600124567, buyer_is_maker=False, best_match=True,
                       recv_ts_ns=3)
        w.append_gap("BTCUSDT", Stream.BOOK_TICKER, GapReason.DISCONNECTED, last_seq=5,
                     recv_ts_ns=4)
        w.append_connection(ConnectionEvent.SUBSCRIBE_REFUSED, 2, code=-1121,
                            detail="Invalid symbol\tfoo\\bar é", recv_ts_ns=5)
        w.append_book_ticker("BTCUSDT", 99, 5e-324, 1.7976931348623157e308, 1 / 3, 2 / 3,
                             timestamp_us=1723161256313000)
    out = subprocess.run([str(bf_tail), str(q)], capture_output=True, text=True, check=True)
    expected = python_lines(q)
    assert len(expected) > 500
    assert out.stdout.splitlines() == expected
    assert "trade 币安人生USDT seq=11 recv=3 price=0.5 qty=3 trade_ts=1764633600123456 " \
        "event_ts=1764633600124567 maker=0 best_match=1" in expected


def test_symbol_names_of_another_writer_are_escaped_in_every_output(
        tmp_path: Path, bf_tail: Path) -> None:
    """binfeed's writer stores letters, digits, '_-.' and non-ASCII characters only; a
    SYMBOL record written by another program (valid checksum) may hold '"', '\\' or a line
    break: bf_tail escapes them, JSON lines stay valid JSON, CSV quotes the field."""
    q = tmp_path / "q"
    with QueueWriter(q) as w:
        w.append_book_ticker("ABCDEFG", 7, 1.5, 2.0, 1.75, 3.0, recv_ts_ns=11)
    (seg,) = sorted(q.glob("*.bfq"))
    data = bytearray(seg.read_bytes())
    header, slot, name_at = 4096, 128, 24 + 16  # the slot header, then the body's name
    at = next(header + i * slot for i in range(64)
              if data[header + i * slot + 4] == RecordType.SYMBOL)
    assert data[at + name_at:at + name_at + 7] == b"ABCDEFG"
    foreign = 'A"B\\C\nD'
    data[at + name_at:at + name_at + 7] = foreign.encode()
    body = bytes(data[at + 4:at + slot])
    data[at:at + 4] = struct.pack("<I", lib.bf_py_crc32c(ffi.from_buffer(body), len(body)))
    seg.write_bytes(bytes(data))
    out = subprocess.run([str(bf_tail), str(q)], capture_output=True, text=True, check=True)
    assert out.stdout.splitlines() == python_lines(q)
    assert out.stdout.splitlines()[0] == 'symbol 1 A"B\\\\C\\x0aD'
    lines = CliRunner().invoke(main, ["replay", str(q), "--all"]).output.splitlines()
    assert [json.loads(ln)["symbol"] for ln in lines] == [foreign, foreign]
    rows = list(csv.reader(io.StringIO(
        CliRunner().invoke(main, ["replay", str(q), "--format", "csv"]).output)))
    assert len(rows) == 2 and rows[1][1] == foreign


def test_c_example_follows_a_live_writer_in_another_process(tmp_path: Path,
                                                            bf_tail: Path) -> None:
    q = tmp_path / "q"
    follower = subprocess.Popen([str(bf_tail), str(q), "--follow", "--timeout-ms", "3000"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    writer = spawn_writer(q, 20000, segment_slots=256, rate=50000)
    wait_line(writer, "DONE")
    writer.wait(timeout=60)
    out, err = follower.communicate(timeout=60)
    assert follower.returncode == 0, err
    lines = out.splitlines()
    assert sum(1 for ln in lines if ln.startswith("book_ticker")) == 20000
    assert lines == python_lines(q)


@pytest.mark.parametrize("max_sleep_us", [None, "0", "20000"])
def test_c_example_started_before_the_queue_prints_all_of_it_even_from_the_end(
        tmp_path: Path, bf_tail: Path, max_sleep_us: str | None) -> None:
    """--follow --from-end on a queue that does not exist yet (bfr_open_wait): the whole
    queue was published after the consumer started, so all of it is printed; the
    maximum sleep of bfr_wait (0: spin) changes latency, never what is printed."""
    q = tmp_path / "not" / "yet"
    extra = [] if max_sleep_us is None else ["--max-sleep-us", max_sleep_us]
    follower = subprocess.Popen([str(bf_tail), str(q), "--follow", "--from-end",
                                 "--timeout-ms", "3000", *extra],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(0.3)  # the consumer is waiting for the queue now
    writer = spawn_writer(q, 3000, segment_slots=512, rate=20000)
    wait_line(writer, "DONE")
    writer.wait(timeout=60)
    out, err = follower.communicate(timeout=60)
    assert follower.returncode == 0, err
    lines = out.splitlines()
    assert sum(1 for ln in lines if ln.startswith("book_ticker")) == 3000
    assert lines == python_lines(q)


def test_c_example_waiting_for_a_queue_ends_on_sigterm_or_its_timeout(
        tmp_path: Path, bf_tail: Path) -> None:
    q = tmp_path / "never"
    waiting = subprocess.Popen([str(bf_tail), str(q), "--follow"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    time.sleep(0.3)
    assert waiting.poll() is None  # still waiting
    sent = time.monotonic()
    waiting.send_signal(signal.SIGTERM)
    out, err = waiting.communicate(timeout=10)
    assert waiting.returncode == 0 and out == "" and err == ""
    assert time.monotonic() - sent < 1.5  # the wait is sliced: a signal is seen in ~0.1 s
    start = time.monotonic()
    timed = subprocess.run([str(bf_tail), str(q), "--follow", "--timeout-ms", "400"],
                           capture_output=True, text=True, timeout=10, check=False)
    assert timed.returncode == 0 and timed.stdout == ""
    assert 0.4 <= time.monotonic() - start < 5
    bad = subprocess.run([str(bf_tail), str(q), "--max-sleep-us", "-1"], capture_output=True,
                         text=True, timeout=10, check=False)
    assert bad.returncode == 2 and "--max-sleep-us" in bad.stderr
