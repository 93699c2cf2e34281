"""The operator tools around the real recorder: two ``binfeed record`` processes on one bus
(fed by the loopback Binance with a real capture), a follower started before them, info
listing both, and the monitor reading one while it is written."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import anyio
import pytest

from binfeed import bus, errors
from binfeed.binance.sources import SourceFrame, bundled_sample, load_capture
from binfeed.queue import QueueReader
from tests.ops.helpers import run_binfeed, spawn_binfeed
from tests.ops.test_follow import interrupt, read_lines

pytestmark = pytest.mark.slow  # two recorder processes, a follower, info and monitor


def market_count(queue: Path) -> int:
    try:
        return sum(1 for r in QueueReader(queue).records()
                   if type(r).__name__ in ("BookTicker", "Trade"))
    except errors.QueueNotFoundError:  # not created yet
        return 0


def test_two_recorders_a_follower_info_and_monitor_on_one_bus(tmp_path: Path) -> None:
    from binfeed.binance.server import open_server
    from binfeed.binance.sources import list_source

    frames: list[SourceFrame] = [f for f in load_capture([bundled_sample()])
                                 if f.stream in ("bookTicker", "trade")][:1200]
    books = sum(f.stream == "bookTicker" for f in frames)
    trades = len(frames) - books
    root = tmp_path / "bus"
    book_q = bus.queue_path(root, "binance-spot")
    trade_q = bus.queue_path(root, "binance-spot-trade")
    procs: list[subprocess.Popen[str]] = []
    result: dict[str, object] = {}

    def scenario(url: str) -> None:
        # the follower starts before any recorder: the bus does not even exist yet
        follower = spawn_binfeed("replay", "--bus-root", str(root), "--name", "binance-spot",
                                 "--follow")
        procs.append(follower)
        time.sleep(0.2)
        for streams in ("bookTicker", "trade"):
            procs.append(spawn_binfeed("record", "--bus-root", str(root),
                                       "--symbols", "btcusdt", "--streams", streams,
                                       "--url", url))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (market_count(book_q) < books
                                               or market_count(trade_q) < trades):
            time.sleep(0.1)
        result["follow"] = read_lines(follower, books)
        result["info"] = run_binfeed("info", "--bus-root", str(root)).stdout
        result["monitor"] = run_binfeed("monitor", "--bus-root", str(root), "--name",
                                        "binance-spot-trade", "--once", "--interval",
                                        "0.1").stdout
        result["follow_end"] = interrupt(follower)
        for rec in procs[1:]:
            rec.send_signal(signal.SIGINT)
            result.setdefault("record_rc", []).append(rec.wait(15))  # type: ignore[attr-defined]

    async def main_() -> None:
        async with open_server(list_source(frames), speed=None,
                               clock="per_connection") as server:
            await anyio.to_thread.run_sync(scenario, server.url)

    try:
        anyio.run(main_)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    assert market_count(book_q) == books
    assert market_count(trade_q) == trades
    assert result["record_rc"] == [0, 0]
    # the follower printed exactly the bookTicker queue, then exited 0 on SIGINT
    follow = result["follow"]
    assert follow == run_binfeed("replay", str(book_q)).stdout.splitlines(True)
    assert [json.loads(x)["update_id"] for x in follow] == [  # type: ignore[union-attr]
        json.loads(f.payload)["u"] for f in frames if f.stream == "bookTicker"]
    assert result["follow_end"][:2] == (0, "")  # type: ignore[index]
    # info listed both queues with their live recorders
    info_lines = str(result["info"]).splitlines()
    assert info_lines[0] == f"bus       {root} (2 queues)"
    for name, pid in (("binance-spot", procs[1].pid), ("binance-spot-trade", procs[2].pid)):
        row = next(x for x in info_lines if x.split()[0] == name)
        assert row.endswith(f"live pid {pid}")
    # the monitor saw the trade queue's latest trade
    doc = json.loads(str(result["monitor"]))
    last = json.loads([f for f in frames if f.stream == "trade"][-1].payload)
    assert doc["symbols"]["BTCUSDT"]["trade_id"] == last["t"]
    assert doc["symbols"]["BTCUSDT"]["price"] == float(last["p"])
    assert doc["writer"]["live"] is True
