"""``binfeed import`` through click's CliRunner and as a real subprocess.

Real captures in, records and the summary checked; malformed lines listed with their line
numbers and writing nothing; --strict; gzip by content; bare frames and CRLF; a queue held
by another writer; a damaged gzip file; importing twice adds nothing; --segment-slots; the
summary of a failed import (queue locked, disk full midway).
"""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from binfeed.cli import main
from binfeed.commands.import_cmd import EXIT_MALFORMED
from binfeed.queue import QueueReader, QueueWriter
from binfeed.records import BookTicker, Trade
from tests import captures as c
from tests.queue.helpers import ROOT, spawn_writer, wait_line

DATA = Path(__file__).resolve().parent / "data" / "binance"
BTC = DATA / "spot_btcusdt_20240808.gz"
ETH = DATA / "spot_ethusdt_20240808.gz"

GOOD = ('{"stream":"btcusdt@bookTicker","data":{"u":%d,"s":"BTCUSDT","b":"61837.63000000",'
        '"B":"3.78826000","a":"61837.64000000","A":"1.54698000"}}')


def invoke(*args: str) -> Result:
    result = CliRunner().invoke(main, ["import", *args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def run(*args: str) -> tuple[int, str]:
    result = invoke(*args)
    return result.exit_code, result.output


def records(queue: Path) -> list[object]:
    reader = QueueReader(queue)
    try:
        return list(reader.records())
    finally:
        reader.close()


def test_import_real_captures_summary_and_records(tmp_path: Path) -> None:
    queue = tmp_path / "q"
    code, out = run("--queue", str(queue), str(BTC), str(ETH))
    assert code == 0, out
    assert f"imported {c.FRAMES} frames from 2 file(s)" in out
    assert re.search(r"\(\d[\d,]* frames/s\)", out)
    assert (f"records: {c.RECORDS} (bookTicker {c.BTC_BOOK_TICKERS + c.ETH_BOOK_TICKERS}, "
            f"trade {c.BTC_TRADES + c.ETH_TRADES}, gap 0)") in out
    assert f"  BTCUSDT: bookTicker {c.BTC_BOOK_TICKERS}, trade {c.BTC_TRADES}" in out
    assert f"  ETHUSDT: bookTicker {c.ETH_BOOK_TICKERS}, trade {c.ETH_TRADES}" in out
    assert (f"skipped: {c.UNSTORED} (not stored {c.UNSTORED}, duplicates 0, "
            "control replies 0)") in out
    assert "malformed: 0" in out
    got = records(queue)
    assert len(got) == c.RECORDS
    first_bt = next(r for r in got if isinstance(r, BookTicker))
    first_tr = next(r for r in got if isinstance(r, Trade))
    # the first bookTicker and trade lines of spot_btcusdt_20240808.gz (`zcat | head -2`)
    assert first_bt == BookTicker("BTCUSDT", 50093239212, 61837.63, 3.78826, 61837.64, 1.54698,
                                  1723161254087891268, 0)
    assert first_tr == Trade("BTCUSDT", 3735683259, 61837.63, 0.02, 1723161255342000,
                             1723161255343000, True, True, 1723161254087896568)

    # importing again with --dedup adds nothing: every frame is a duplicate now
    code, out = run("--queue", str(queue), "--dedup", str(BTC))
    assert code == 0
    assert "records: 0 (bookTicker 0, trade 0, gap 0)" in out
    assert f"duplicates {c.BTC_RECORDS}" in out
    assert len(records(queue)) == c.RECORDS

    # without --dedup every frame is appended again, in the order given (captures may come
    # in any order: an older file after a newer one must not be dropped)
    code, out = run("--queue", str(queue), str(BTC))
    assert code == 0
    assert (f"records: {c.BTC_RECORDS} (bookTicker {c.BTC_BOOK_TICKERS}, "
            f"trade {c.BTC_TRADES}, gap 0)") in out
    assert len(records(queue)) == c.RECORDS + c.BTC_RECORDS


def test_older_trades_after_newer_ones_are_all_imported(tmp_path: Path) -> None:
    excerpts = BTC.parent / "excerpts"
    queue = tmp_path / "q"
    code, out = run("--queue", str(queue), str(excerpts / "trade.jsonl"),
                    str(excerpts / "trade_legacy_pre2024-06_with_b_a.jsonl"))
    assert code == 0, out
    trades = [r for r in records(queue) if isinstance(r, Trade)]
    assert len(trades) == 45 + 20
    assert trades[45].trade_id == 3071245454  # the first legacy (2023) trade, kept


def test_replay_prints_the_first_records_of_the_capture(tmp_path: Path) -> None:
    queue = tmp_path / "q"
    assert run("--queue", str(queue), str(BTC))[0] == 0
    result = CliRunner().invoke(main, ["replay", str(queue), "--format", "jsonl"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines()[:3]]
    want_bt = {"type": "bookTicker", "symbol": "BTCUSDT", "update_id": 50093239212,
               "bid_price": 61837.63, "bid_qty": 3.78826, "ask_price": 61837.64,
               "ask_qty": 1.54698, "recv_ts_ns": 1723161254087891268}
    want_tr = {"type": "trade", "symbol": "BTCUSDT", "trade_id": 3735683259,
               "price": 61837.63, "qty": 0.02, "trade_ts_ms": 1723161255342,
               "event_ts_ms": 1723161255343, "buyer_is_maker": True,
               "recv_ts_ns": 1723161254087896568, "trade_ts_us": 1723161255342000,
               "event_ts_us": 1723161255343000}
    assert {k: lines[0][k] for k in want_bt} == want_bt
    assert {k: lines[1][k] for k in want_tr} == want_tr


def test_utf8_symbols_and_both_time_units(tmp_path: Path) -> None:
    """A capture of a UTF-8 symbol (Binance lists 币安人生USDT since 2025-12), written raw
    and \\u-escaped, with trades in milliseconds (Binance's default) and in microseconds
    (timeUnit=MICROSECOND): one symbol, every time kept in microseconds exactly."""
    sym, esc = "币安人生USDT", "\\u5e01\\u5b89\\u4eba\\u751fUSDT"

    def trade(name: str, s: str, t: int, e_time: int, t_time: int) -> str:
        return (f'{{"stream":"{name}@trade","data":{{"e":"trade","E":{e_time},"s":"{s}",'
                f'"t":{t},"p":"0.5","q":"3","T":{t_time},"m":true,"M":true}}}}')

    too_long = "币安人生" * 3  # 36 bytes
    capture = write_capture(tmp_path / "utf8.jsonl", [
        "1 " + trade("币安人生usdt", sym, 1, 1764633600124, 1764633600123),
        "2 " + trade(esc.replace("USDT", "usdt"), esc, 2, 1764633600124567, 1764633600124560),
        f'3 {{"u":7,"s":"{sym}","b":"0.5","B":"1","a":"0.6","A":"2"}}',
        "4 " + trade("币安人生usdt", "币安人生usdt", 3, 1764633600125001, 1764633600125000),
        "5 " + trade(f"{too_long.lower()}", too_long, 4, 1, 1),
    ])
    queue = tmp_path / "q"
    code, out = run("--queue", str(queue), str(capture))
    assert code == 0, out
    assert f"  {sym}: bookTicker 1, trade 3" in out
    assert "malformed: 1" in out
    assert f"{capture}:5: symbol" in out and "36 bytes" in out
    result = CliRunner().invoke(main, ["replay", str(queue), "--symbols", "币安人生usdt"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines()]
    assert {d["symbol"] for d in lines} == {sym}
    assert [(d["trade_id"], d["trade_ts_us"], d["event_ts_us"], d["trade_ts_ms"])
            for d in lines if d["type"] == "trade"] == [
        (1, 1764633600123000, 1764633600124000, 1764633600123),  # ms: times 1000
        (2, 1764633600124560, 1764633600124567, 1764633600124),  # us: as they are
        (3, 1764633600125000, 1764633600125001, 1764633600125)]
    assert f'"symbol":"{sym}"' in result.output  # UTF-8, not \\u-escaped


def write_capture(path: Path, lines: list[str], *, compress: bool = False,
                  newline: str = "\n") -> Path:
    data = newline.join(lines).encode() + newline.encode()
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


def test_malformed_lines_are_listed_and_write_nothing(tmp_path: Path) -> None:
    capture = write_capture(tmp_path / "mixed.jsonl", [
        f"1000 {GOOD % 1}",
        "1001 {not json",
        f"1002 {(GOOD % 2).replace('61837.63000000', '1e5')}",
        "",  # empty lines are not frames
        '1003 {"e":"mystery","E":1}',
        f"1004 {GOOD % 3}",
        f"{GOOD % 4}",  # a bare frame: receive time 0
        f"1006 {(GOOD % 5).replace('BTCUSDT', 'BTC USDT')}",
    ])
    queue = tmp_path / "q"
    code, out = run("--queue", str(queue), str(capture))
    assert code == 0, out
    assert "malformed: 4" in out
    assert f"{capture}:2: invalid JSON" in out
    assert f'{capture}:3: bookTicker field "b" (best bid price) must be a decimal string' in out
    assert f'{capture}:5: unknown event type "e": string "mystery"' in out
    assert f"{capture}:8: " in out
    assert "records: 3 (bookTicker 3, trade 0, gap 0)" in out
    got = records(queue)
    assert [(r.update_id, r.recv_ts_ns) for r in got] == [  # type: ignore[attr-defined]
        (1, 1000), (3, 1004), (4, 0)]

    code, out = run("--queue", str(tmp_path / "q2"), "--strict", "--show-malformed", "1",
                    str(capture))
    assert code == EXIT_MALFORMED
    assert "malformed: 4" in out
    assert "... and 3 more" in out
    assert len(records(tmp_path / "q2")) == 3  # --strict still imports the good lines


def test_gzip_is_recognised_by_content_not_name(tmp_path: Path) -> None:
    lines = [f"{i} {GOOD % i}" for i in range(1, 6)]
    fake_text = write_capture(tmp_path / "looks_plain.txt", lines, compress=True)
    fake_gz = write_capture(tmp_path / "looks_compressed.gz", lines[:2], newline="\r\n")
    code, out = run("--queue", str(tmp_path / "q"), str(fake_text), str(fake_gz))
    assert code == 0, out
    assert "records: 7 (bookTicker 7" in out
    assert "malformed: 0" in out
    code, out = run("--queue", str(tmp_path / "q2"), "--dedup", str(fake_text), str(fake_gz))
    assert code == 0, out
    assert "records: 5 (bookTicker 5" in out
    assert "duplicates 2" in out


def test_files_are_imported_in_the_order_given(tmp_path: Path) -> None:
    first = write_capture(tmp_path / "a", [f"1 {GOOD % 10}"])
    second = write_capture(tmp_path / "b", [f"2 {GOOD % 5}"])
    code, out = run("--queue", str(tmp_path / "q"), str(first), str(second))
    assert code == 0
    assert [r.update_id for r in records(tmp_path / "q")] == [10, 5]  # type: ignore[attr-defined]
    code, out = run("--queue", str(tmp_path / "q2"), "--dedup", str(first), str(second))
    assert "duplicates 1" in out  # with --dedup, 5 after 10 is old news
    code, out = run("--queue", str(tmp_path / "q3"), "--dedup", str(second), str(first))
    assert "records: 2" in out


def test_a_damaged_gzip_file_is_reported_and_the_rest_imported(tmp_path: Path) -> None:
    whole = gzip.compress(b"".join(f"{i} {GOOD % i}\n".encode() for i in range(1, 3001)))
    broken = tmp_path / "cut.gz"
    broken.write_bytes(whole[: len(whole) // 2])
    later = write_capture(tmp_path / "later", [f"1 {GOOD % 5000}"])
    code, out = run("--queue", str(tmp_path / "q"), str(broken), str(later))
    assert code == 0, out
    assert "malformed: 1" in out
    assert f"{broken}:" in out
    assert "damaged" in out
    got = records(tmp_path / "q")
    assert got[-1].update_id == 5000  # type: ignore[attr-defined]
    assert 0 < len(got) - 1 < 3000
    assert run("--queue", str(tmp_path / "q3"), "--strict", str(broken))[0] == EXIT_MALFORMED


def test_queue_held_by_another_writer_is_a_clear_error(tmp_path: Path) -> None:
    queue = tmp_path / "q"
    capture = write_capture(tmp_path / "c", [f"1 {GOOD % 1}"])
    with QueueWriter(queue):
        result = invoke("--queue", str(queue), str(capture))
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ")
    assert str(os.getpid()) in result.stderr  # names the holder
    assert "Stop that writer" in result.stderr


def test_a_failed_import_still_prints_its_summary(tmp_path: Path) -> None:
    queue = tmp_path / "q"
    holder = spawn_writer(queue, 10, hold=True)  # a live writer in another process
    try:
        wait_line(holder, "DONE")
        result = invoke("--queue", str(queue), str(BTC))
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=30)
    assert result.exit_code == 1
    # nothing was imported, and the summary says so before the error
    assert result.stdout.startswith(f"imported 0 frames from 0 file(s) into {queue} in ")
    assert "records: 0 (bookTicker 0, trade 0, gap 0)" in result.stdout
    assert "malformed: 0" in result.stdout
    assert "Error: " not in result.stdout
    assert result.stderr.startswith("Error: ")
    assert str(holder.pid) in result.stderr
    assert "Stop that writer" in result.stderr
    assert result.output.index("records: 0") < result.output.index("Error: ")
    assert len(records(queue)) == 10  # the holder's records, untouched


def test_segment_slots_makes_smaller_segments_with_the_same_records(tmp_path: Path) -> None:
    small, default = tmp_path / "small", tmp_path / "default"
    code, out = run("--queue", str(small), "--segment-slots", "5000", str(BTC), str(ETH))
    assert code == 0, out
    assert f"records: {c.RECORDS} (" in out
    assert run("--queue", str(default), str(BTC), str(ETH))[0] == 0
    assert len(list(default.glob("*.bfq"))) == 1
    assert len(list(small.glob("*.bfq"))) >= c.RECORDS // 5000  # several, not one of 1 Mi slots

    def replay(queue: Path) -> list[str]:
        result = CliRunner().invoke(main, ["replay", str(queue)])
        assert result.exit_code == 0, result.output
        return result.output.splitlines()

    lines = replay(small)
    assert len(lines) >= c.RECORDS
    assert lines == replay(default)


def test_segment_slots_too_small_is_bad_usage(tmp_path: Path) -> None:
    capture = write_capture(tmp_path / "c", [f"1 {GOOD % 1}"])
    code, out = run("--queue", str(tmp_path / "q"), "--segment-slots", "10", str(capture))
    assert code == 2
    assert "--segment-slots" in out
    assert "at least 64" in out
    assert not (tmp_path / "q").exists()  # refused before anything was opened


# The disk "fills" once the writer has reserved its first segment: a per-file size limit
# below the segment size lets that one be filled (it is mapped) but no next one be created.
DISK_FILLS = textwrap.dedent("""
    import resource, signal, sys
    import binfeed.importer
    from binfeed.cli import main

    class FillingWriter(binfeed.importer.QueueWriter):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of being killed
    binfeed.importer.QueueWriter = FillingWriter
    main(["import", *sys.argv[1:]], prog_name="binfeed")
""")


def test_disk_full_midway_prints_what_was_imported(tmp_path: Path) -> None:
    queue = tmp_path / "q"
    # 5000 slots: 640 KB a segment, above the 100 KB limit
    proc = subprocess.run(
        [sys.executable, "-c", DISK_FILLS, "--queue", str(queue), "--segment-slots", "5000",
         str(BTC)], capture_output=True, text=True, timeout=120, check=False,
        env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert proc.returncode == 1, proc.stderr
    stored = len(records(queue))
    assert 0 < stored < 5000  # the first segment, sealed
    assert f"records: {stored} (bookTicker " in proc.stdout
    # the frames of the batch that failed midway are counted up to the failing one
    frames = re.search(r"^imported (\d+) frames from 1 file\(s\)", proc.stdout, re.M)
    skipped = re.search(r"^skipped: (\d+) ", proc.stdout, re.M)
    assert frames and skipped, proc.stdout
    assert int(frames.group(1)) == stored + int(skipped.group(1)) < 41249  # BTC has 41249
    assert "Error: " not in proc.stdout
    assert proc.stderr.startswith("Error: ")
    assert "--segment-slots" in proc.stderr
    assert "stays in the queue" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_bad_arguments(tmp_path: Path) -> None:
    code, out = run("--queue", str(tmp_path / "q"), str(tmp_path / "missing.gz"))
    assert code == 2
    assert "does not exist" in out
    code, out = run("--queue", str(tmp_path / "q"))
    assert code == 2
    code, out = run("--queue", str(BTC), str(BTC))  # a file is not a queue directory
    assert code in (1, 2)
    assert "Error" in out


def test_help_has_an_example_and_the_exit_codes() -> None:
    result = CliRunner().invoke(main, ["import", "--help"])
    assert result.exit_code == 0
    assert "Example:" in result.output
    assert "binfeed import --queue" in result.output
    for code in ("0", "1", "2", "3"):
        assert re.search(rf"^\s+{code}\s+\S", result.output, re.M), code


def test_as_a_subprocess(tmp_path: Path) -> None:
    queue = tmp_path / "q"
    exe = shutil.which("binfeed", path=str(Path(sys.executable).parent))
    cmd = [exe] if exe else [sys.executable, "-c", "from binfeed.cli import main; main()"]
    proc = subprocess.run([*cmd, "import", "--queue", str(queue), str(ETH)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "records: 30183 (bookTicker 24077, trade 6106, gap 0)" in proc.stdout
    bad = write_capture(tmp_path / "bad", ["1 {", f"2 {GOOD % 1}"])
    proc = subprocess.run([*cmd, "import", "--queue", str(tmp_path / "q2"), "--strict",
                           str(bad)], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == EXIT_MALFORMED
    assert f"{bad}:1: invalid JSON" in proc.stdout


@pytest.mark.parametrize("bare", [True, False])
def test_receive_times_and_bare_frames(tmp_path: Path, bare: bool) -> None:
    stamp = "" if bare else "1723161254087891268 "
    capture = write_capture(tmp_path / "c", [f"{stamp}{GOOD % 1}"])
    assert run("--queue", str(tmp_path / "q"), str(capture))[0] == 0
    (rec,) = records(tmp_path / "q")
    assert rec.recv_ts_ns == (0 if bare else 1723161254087891268)  # type: ignore[attr-defined]
