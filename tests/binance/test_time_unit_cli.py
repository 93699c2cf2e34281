"""Microsecond times end to end through the CLI: ``record --time-unit us`` asks the loopback
Binance for ``timeUnit=MICROSECOND`` and the queue keeps the microseconds exactly (``ms``,
the default, asks for nothing and keeps milliseconds times 1000); ``replay --serve`` serves
what each client's URL asks for, exactly; recording a replay in microseconds gives the same
records back."""

from __future__ import annotations

import json
import re
from pathlib import Path

import anyio
import pytest
from websockets.asyncio.client import connect

from binfeed.binance.server import open_server
from binfeed.binance.sources import SourceFrame, list_source
from binfeed.ingest import Ingestor
from binfeed.queue import QueueReader, QueueWriter
from binfeed.records import Trade
from tests.ops.helpers import BINFEED, Served, env

from .recorder_support import capture_frames, count_records

pytestmark = [pytest.mark.anyio, pytest.mark.slow]  # binfeed processes
_TIME = re.compile(r'"([ET])":(\d+)')


def micro_frames(n: int) -> list[SourceFrame]:
    """Real BTCUSDT trades as Binance sends them with timeUnit=MICROSECOND: E and T with
    three more digits (made up from the trade id, so that no two are alike)."""
    out = []
    for f in capture_frames():
        if f.symbol != "btcusdt" or f.stream != "trade":
            continue
        t = json.loads(f.payload)["t"]

        def micro(m: re.Match[str], t: int = t) -> str:
            return f'"{m[1]}":{int(m[2]) * 1000 + (t * 7 + (m[1] == "E") * 3) % 1000}'

        payload = _TIME.sub(micro, f.payload)
        out.append(SourceFrame(f.recv_ns, f.symbol, f.stream, payload))
        if len(out) == n:
            break
    return out


def times_us(frames: list[SourceFrame]) -> list[tuple[int, int, int]]:
    """(trade id, T, E) of source frames whose times are microseconds."""
    return [(d["t"], d["T"], d["E"]) for d in (json.loads(f.payload) for f in frames)]


def stored_times(queue: Path) -> list[tuple[int, int, int]]:
    with QueueReader(queue) as reader:
        return [(r.trade_id, r.trade_ts_us, r.event_ts_us) for r in reader.records()
                if isinstance(r, Trade)]


async def record_all(queue: Path, url: str, n: int, *args: str) -> None:
    """``binfeed record`` in another process until the queue holds n records, then SIGTERM."""
    cmd = [*BINFEED, "record", "-q", str(queue), "-s", "btcusdt", "--streams", "trade",
           "--url", url, *args]
    async with await anyio.open_process(cmd, env=env()) as proc:
        for _ in range(600):
            if count_records(queue) >= n:
                break
            await anyio.sleep(0.05)
        proc.terminate()
        with anyio.fail_after(15):
            assert await proc.wait() == 0


@pytest.mark.parametrize("unit", ["us", "ms"])
async def test_record_asks_for_the_time_unit_and_keeps_it(tmp_path: Path, unit: str) -> None:
    frames = micro_frames(800)
    async with open_server(list_source(frames), speed=None, ping_interval=0.4) as server:
        await record_all(tmp_path / "q", server.url, len(frames), "--time-unit", unit)
    path = server.connections[0].path
    want = times_us(frames)
    if unit == "us":
        assert path.endswith("?streams=btcusdt@trade&timeUnit=MICROSECOND")
        assert stored_times(tmp_path / "q") == want  # every microsecond kept
        assert any(t % 1000 for _, t, _ in want)
    else:
        assert path == "/stream?streams=btcusdt@trade"  # Binance's default: not named
        assert stored_times(tmp_path / "q") == [
            (i, t // 1000 * 1000, e // 1000 * 1000) for i, t, e in want]


def write_queue(queue: Path, frames: list[SourceFrame]) -> None:
    with QueueWriter(queue) as w, Ingestor(w) as ing:
        for f in frames:
            ing.ingest_checked(f'{{"stream":"{f.name}","data":{f.payload}}}', f.recv_ns)


async def receive(url: str, n: int) -> list[str]:
    async with connect(url, max_size=None) as ws:
        with anyio.fail_after(20):
            return [await ws.recv() for _ in range(n)]


def test_replay_serve_honours_the_clients_time_unit(tmp_path: Path) -> None:
    frames = micro_frames(500)
    queue = tmp_path / "q"
    write_queue(queue, frames)
    micro = [f.payload for f in frames]
    milli = [_TIME.sub(lambda m: f'"{m[1]}":{int(m[2]) // 1000}', p) for p in micro]
    assert milli[0] != micro[0]
    with Served(str(queue), "--speed", "max") as served:
        base = served.url

        async def clients() -> None:
            n = len(frames)
            assert await receive(f"{base}/ws/btcusdt@trade?timeUnit=MICROSECOND", n) == micro
            assert await receive(f"{base}/ws/btcusdt@trade?timeUnit=microsecond", n) == micro
            assert await receive(f"{base}/ws/btcusdt@trade", n) == milli
            assert await receive(f"{base}/ws/btcusdt@trade?timeUnit=MILLISECOND", n) == milli
            got = await receive(f"{base}/stream?streams=btcusdt@trade&timeUnit=MICROSECOND", n)
            assert got == [f'{{"stream":"btcusdt@trade","data":{p}}}' for p in micro]
            with pytest.raises(Exception, match="400"):
                await receive(f"{base}/ws/btcusdt@trade?timeUnit=SECOND", 1)

        anyio.run(clients)
        assert served.stop()[0] == 0


async def test_record_a_microsecond_replay_gives_the_same_records(tmp_path: Path) -> None:
    frames = micro_frames(600)
    source, copy, coarse = tmp_path / "source", tmp_path / "copy", tmp_path / "coarse"
    write_queue(source, frames)
    with Served(str(source), "--speed", "max") as served:
        await record_all(copy, served.url, len(frames), "--time-unit", "us")
        await record_all(coarse, served.url, len(frames))
        assert served.stop()[0] == 0
    assert stored_times(copy) == stored_times(source) == times_us(frames)
    assert stored_times(coarse) == [(i, t // 1000 * 1000, e // 1000 * 1000)
                                    for i, t, e in times_us(frames)]
