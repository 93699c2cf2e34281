"""``binfeed record`` as users run it: exit codes, output, TLS, kill -9 and restart."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import anyio
import pytest
from click.testing import CliRunner, Result

from binfeed.binance.server import open_server
from binfeed.binance.sources import list_source
from binfeed.binance.streams import StreamKind, stream_ids
from binfeed.commands.record_cmd import record
from binfeed.queue import Segment, list_segments
from binfeed.records import ConnectionEvent, GapReason

from .recorder_support import (
    assert_exact_subsequence,
    capture_frames,
    count_records,
    expected_by_stream,
    read_queue,
)

pytestmark = [pytest.mark.anyio, pytest.mark.slow]  # binfeed record processes
RECORD = [sys.executable, "-c", "from binfeed.commands.record_cmd import record; record()"]


async def invoke(args: list[str]) -> Result:
    """Runs the command in a worker thread while the test's server runs on the loop."""
    return await anyio.to_thread.run_sync(
        lambda: CliRunner().invoke(record, args, catch_exceptions=False))


async def wait_for_records(queue: Path, n: int, seconds: float = 15.0) -> None:
    """Polls the queue from this process (a reader) until it holds ``n`` records."""
    for _ in range(int(seconds / 0.05)):
        if count_records(queue) >= n:
            return
        await anyio.sleep(0.05)
    raise AssertionError(f"{queue} did not reach {n} records in {seconds} s")


def btc(n: int) -> list:
    return [f for f in capture_frames() if f.symbol == "btcusdt"][:n]


async def test_duration_records_and_prints_a_parseable_summary(tmp_path: Path) -> None:
    frames = btc(3000)
    async with open_server(list_source(frames), speed=None, ping_interval=0.4) as server:
        result = await invoke(["--queue", str(tmp_path / "q"), "--symbols", "BTCUSDT",
                               "--streams", "bookTicker,trade", "--url", server.url + "/",
                               "--duration", "1.5"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    head = dict(kv.split("=", 1) for kv in lines[0].split()[1:])
    assert lines[0].startswith("record ")
    market = [f for f in frames if f.stream in ("bookTicker", "trade")]
    assert int(head["book_tickers"]) + int(head["trades"]) == len(market) > 2000
    assert head["gaps"] == "0"
    assert head["reconnects"] == "0"
    assert [ln.split()[1] for ln in lines[1:]] == ["name=btcusdt@bookTicker",
                                                   "name=btcusdt@trade"]
    assert head["connections"] == "1"
    stored = read_queue(tmp_path / "q")
    per_stream = {kv["name"]: kv for kv in
                  (dict(x.split("=", 1) for x in ln.split()[1:]) for ln in lines[1:])}
    for name, want in expected_by_stream(frames, stream_ids(["btcusdt"], [
            StreamKind.BOOK_TICKER, StreamKind.TRADE])).items():
        assert stored.by_stream[name] == want
        assert int(per_stream[name]["records"]) == len(want)  # per-stream counts from C


async def test_live_status_line(tmp_path: Path) -> None:
    async with open_server(list_source(btc(3000)), speed=200.0, ping_interval=0.4) as server:
        result = await invoke(["-q", str(tmp_path / "q"), "-s", "btcusdt", "--url", server.url,
                               "--duration", "1.6", "--status"])
    assert result.exit_code == 0
    status = [ln for ln in result.stderr.split("\r") if "frames/s" in ln]
    assert status, result.stderr
    assert "btcusdt@bookTicker" in status[-1]
    assert "reconnects 0 gaps 0" in status[-1]
    assert "last frame" in status[-1]


async def test_every_subscription_refused_exits_4(tmp_path: Path) -> None:
    async with open_server(list_source(btc(100)), speed=None,
                           refuse=frozenset({"xyzusdt", "abcusdt"})) as server:
        result = await invoke(["-q", str(tmp_path / "q"), "-s", "xyzusdt,abcusdt",
                               "--url", server.url, "--duration", "10"])
    assert result.exit_code == 4
    assert "refused every stream" in result.stderr
    stored = read_queue(tmp_path / "q")
    assert len(stored.events(ConnectionEvent.SUBSCRIBE_REFUSED)) == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-s", "btc usdt"], "invalid symbol"),
        (["-s", "btcusdt", "--streams", "depth"], "unknown stream type"),
        (["-s", "btcusdt", "--url", "wss://stream.binance.com:9443/stream"], "endpoint's base"),
        (["-s", "btcusdt", "--url", "https://x"], "ws:// or wss://"),
        (["-s", "btcusdt", "--duration", "0"], "duration"),
        ([], "--symbols"),
    ],
)
def test_bad_arguments_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    result = CliRunner().invoke(record, ["-q", str(tmp_path / "q"), *args])
    assert result.exit_code == 2
    assert message in result.output
    assert not (tmp_path / "q").exists()


def test_help_lists_exit_codes_and_an_example() -> None:
    result = CliRunner().invoke(record, ["--help"])
    assert result.exit_code == 0
    for code in ("0  recorded", "2  bad arguments", "3  the queue", "4  the server refused",
                 "5  the endpoint"):
        assert code in result.output
    assert "binfeed record --queue" in result.output


async def test_queue_held_by_another_writer_exits_3(tmp_path: Path) -> None:
    from binfeed.queue import QueueWriter

    with QueueWriter(tmp_path / "q"):
        result = await invoke(["-q", str(tmp_path / "q"), "-s", "btcusdt",
                               "--url", "ws://127.0.0.1:9", "--duration", "1"])
    assert result.exit_code == 3
    assert f"pid={os.getpid()}" in result.stderr or str(os.getpid()) in result.stderr


async def test_sigterm_seals_and_exits_0(tmp_path: Path) -> None:
    async with open_server(list_source(btc(20000)), speed=20.0, ping_interval=0.4) as server:
        queue = tmp_path / "q"
        async with await anyio.open_process(
                [*RECORD, "-q", str(queue), "-s", "btcusdt", "--url", server.url]) as proc:
            await wait_for_records(queue, 200)
            proc.send_signal(signal.SIGTERM)
            with anyio.fail_after(10):
                code = await proc.wait()
            out = (await proc.stdout.receive()).decode() if proc.stdout else ""
    assert code == 0
    assert out.startswith("record ")
    *_, (_, newest) = list_segments(queue)
    assert Segment(newest).sealed()


async def test_kill_9_then_restart_on_the_same_queue(tmp_path: Path) -> None:
    frames = btc(20000)
    queue = tmp_path / "q"
    args = [*RECORD, "-q", str(queue), "-s", "btcusdt", "--streams", "bookTicker,trade",
            "--url"]
    async with open_server(list_source(frames), speed=20.0, ping_interval=0.4) as server:
        async with await anyio.open_process([*args, server.url]) as first:
            await wait_for_records(queue, 300)
            first.kill()  # SIGKILL: no clean-up at all
            assert await first.wait() == -signal.SIGKILL
        before = read_queue(queue).total
        async with await anyio.open_process([*args, server.url, "--duration", "1.5"]) as second:
            with anyio.fail_after(20):
                assert await second.wait() == 0
    stored = read_queue(queue)
    assert stored.total > before + 100
    expected = expected_by_stream(frames, stream_ids(["btcusdt"], [StreamKind.BOOK_TICKER,
                                                                  StreamKind.TRADE]))
    for name, want in expected.items():
        assert_exact_subsequence(stored.by_stream[name], want)  # nothing doubled or torn
    assert len(stored.events(ConnectionEvent.CONNECTED)) == 2
    restart = [g for g in stored.gaps if g.reason == GapReason.WRITER_RESTART]
    assert "btcusdt@bookTicker" in {g.stream_name for g in restart}
