"""``binfeed replay --serve``: a recorded queue served back as Binance's WebSocket streams,
checked with a real websockets client (and, where the recorder is available, by
recording the replay again)."""

from __future__ import annotations

import json
import math
import re
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st
from websockets.asyncio.client import connect

from binfeed.binance.queue_source import decimal_text, queue_frames
from binfeed.binance.sources import SourceFrame, bundled_sample, load_capture
from binfeed.cli import main
from binfeed.commands.params import parse_speed, parse_time
from binfeed.ingest import Ingestor
from binfeed.queue import QueueReader, QueueWriter
from binfeed.selection import Selection
from tests.ops.helpers import BINFEED, Served, env, spawn_binfeed

DECIMAL = re.compile(r"\d+\.\d{8,}")


# -- pure parts ------------------------------------------------------------------------


@given(st.floats(min_value=0, allow_nan=False, allow_infinity=False))
def test_decimal_text_round_trips_every_double(x: float) -> None:
    text = decimal_text(x)
    assert DECIMAL.fullmatch(text), text
    assert float(text) == x


@pytest.mark.parametrize("s", ["61837.63000000", "0.00001000", "0.00000000", "3.78826000",
                               "100000.00000000", "0.12345678", "123456789.12345678"])
def test_binance_strings_come_back_unchanged(s: str) -> None:
    assert decimal_text(float(s)) == s


@pytest.mark.parametrize("bad", [math.nan, math.inf, -1.0, -0.0])
def test_decimal_text_refuses_what_binance_cannot_say(bad: float) -> None:
    with pytest.raises(Exception, match="cannot be written as a Binance decimal"):
        decimal_text(bad)


def test_times_and_speeds() -> None:
    assert parse_time("2024-08-09T00:00:00Z") == 1_723_161_600_000_000_000
    assert parse_time("2024-08-09") == 1_723_161_600_000_000_000
    assert parse_time("2024-08-09T02:00:00+02:00") == 1_723_161_600_000_000_000
    assert parse_time("2024-08-09 00:00:00.5") == 1_723_161_600_500_000_000
    assert parse_time("1723161600000000123") == 1_723_161_600_000_000_123
    with pytest.raises(Exception, match="invalid time 'yesterday'"):
        parse_time("yesterday")
    assert parse_speed("max") is None
    assert parse_speed("1") == 1.0
    assert parse_speed("10x") == 10.0
    with pytest.raises(Exception, match="invalid speed '-2'"):
        parse_speed("-2")


# -- a queue made from a real capture --------------------------------------------------


def write_frames(path: Path, frames: list[SourceFrame], segment_slots: int = 0) -> None:
    """Stores capture frames as records, the way the recorder does (values parsed from
    Binance's decimal strings with correct rounding: Python's float())."""
    with QueueWriter(path, segment_slots=segment_slots) as w:
        for f in frames:
            d = json.loads(f.payload)
            if f.stream == "bookTicker":
                w.append_book_ticker(d["s"], d["u"], float(d["b"]), float(d["B"]),
                                     float(d["a"]), float(d["A"]), recv_ts_ns=f.recv_ns,
                                     timestamp_us=d.get("E", 0) * 1000)
            elif f.stream == "trade":
                w.append_trade(d["s"], d["t"], float(d["p"]), float(d["q"]),
                               trade_ts_us=d["T"] * 1000, event_ts_us=d["E"] * 1000,
                               buyer_is_maker=d["m"],
                               best_match=d.get("M"), recv_ts_ns=f.recv_ns)


@pytest.fixture(scope="module")
def capture() -> list[SourceFrame]:
    """The first 4000 bookTicker and trade frames of the bundled real BTCUSDT capture."""
    frames = [f for f in load_capture([bundled_sample()]) if f.stream in ("bookTicker",
                                                                           "trade")]
    return frames[:4000]


@pytest.fixture(scope="module")
def capture_queue(tmp_path_factory: pytest.TempPathFactory,
                  capture: list[SourceFrame]) -> Path:
    q = tmp_path_factory.mktemp("serve") / "q"
    write_frames(q, capture, segment_slots=1024)  # several segments
    return q


def test_queue_frames_are_the_captured_frames_byte_for_byte(
    capture_queue: Path, capture: list[SourceFrame]
) -> None:
    # Binance's own strings have 8 decimals; the shortest round-trip digits padded to 8
    # give them back exactly, so the payloads are the captured ones.
    assert list(queue_frames(capture_queue)) == capture


def test_a_queue_imported_file_after_file_is_served_in_receive_time_order(
        tmp_path: Path) -> None:
    """Two captures of the same interval imported one after the other (queue order: all of
    BTCUSDT, then all of ETHUSDT) are served merged by receive time, not one after the
    other, so a paced replay plays both symbols at once."""
    data = Path(__file__).resolve().parents[1] / "data" / "binance"
    market = ("bookTicker", "trade")
    btc = [f for f in load_capture([data / "spot_btcusdt_20240808.gz"]) if f.stream in market]
    eth = [f for f in load_capture([data / "spot_ethusdt_20240808.gz"]) if f.stream in market]
    q = tmp_path / "q"
    write_frames(q, btc[:3000], segment_slots=1024)
    write_frames(q, eth[:3000], segment_slots=1024)  # a second writer: new segments
    served = list(queue_frames(q))
    assert len(served) == 6000
    assert [f.recv_ns for f in served] == sorted(f.recv_ns for f in btc[:3000] + eth[:3000])
    assert sorted(served) == sorted(btc[:3000] + eth[:3000])
    # within a symbol the order is the recorded one
    assert [f for f in served if f.symbol == "ethusdt"] == eth[:3000]


async def receive(ws: Any, n: int, seconds: float = 20) -> list[str]:
    out = []
    with anyio.fail_after(seconds):
        while len(out) < n:
            out.append(await ws.recv())
    return out


async def assert_idle_but_alive(ws: Any, quiet: float = 0.3) -> None:
    """Nothing more arrives, and the connection still answers a ping."""
    with anyio.move_on_after(quiet) as scope:
        extra = await ws.recv()
    assert scope.cancelled_caught, f"unexpected message after the end: {extra[:100]}"
    with anyio.fail_after(5):
        await (await ws.ping())


@pytest.mark.slow
def test_combined_url_client_gets_every_frame_at_max_speed(
    capture_queue: Path, capture: list[SourceFrame]
) -> None:
    with Served(str(capture_queue), "--speed", "max") as served:
        assert "Symbols: BTCUSDT" in served.banner

        async def client() -> list[str]:
            url = f"{served.url}/stream?streams=btcusdt@bookTicker/btcusdt@trade"
            async with connect(url, max_size=None) as ws:
                got = await receive(ws, len(capture))
                await assert_idle_but_alive(ws)
                return got

        got = anyio.run(client)
        assert got == [f'{{"stream":"{f.name}","data":{f.payload}}}' for f in capture]
        # a second connection starts from the beginning again, on its own clock
        again = anyio.run(client)
        assert again == got
        rc, err = served.stop()
        assert rc == 0, err


@pytest.mark.slow
def test_raw_path_and_subscribe_clients(capture_queue: Path,
                                        capture: list[SourceFrame]) -> None:
    trades = [f.payload for f in capture if f.stream == "trade"]
    books = [f.payload for f in capture if f.stream == "bookTicker"]
    with Served(str(capture_queue), "--speed", "max") as served:

        async def by_url() -> list[str]:
            async with connect(f"{served.url}/ws/btcusdt@trade", max_size=None) as ws:
                got = await receive(ws, len(trades))
                await assert_idle_but_alive(ws)
                return got

        async def by_subscribe() -> tuple[list[str], list[dict[str, Any]]]:
            async with connect(f"{served.url}/ws", max_size=None) as ws:
                await ws.send(json.dumps({"method": "SUBSCRIBE",
                                          "params": ["btcusdt@bookTicker"], "id": 1}))
                await ws.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 2}))
                await ws.send(json.dumps({"method": "SUBSCRIBE", "params": ["BTCUSDT@x"],
                                          "id": 3}))
                frames, replies = [], []
                with anyio.fail_after(20):
                    while len(frames) < len(books) or len(replies) < 3:
                        msg = await ws.recv()
                        doc = json.loads(msg)
                        (replies if "id" in doc else frames).append(
                            doc if "id" in doc else msg)
                await assert_idle_but_alive(ws)
                return frames, replies

        assert anyio.run(by_url) == trades
        frames, replies = anyio.run(by_subscribe)
        assert frames == books
        assert replies[0] == {"result": None, "id": 1}
        assert replies[1] == {"result": ["btcusdt@bookTicker"], "id": 2}
        assert replies[2]["id"] == 3
        assert replies[2]["error"]["code"] == 2
        assert served.stop()[0] == 0


def paced_queue(path: Path, n: int = 41, step_ms: int = 25) -> None:
    with QueueWriter(path) as w:
        for i in range(n):
            w.append_book_ticker("ETHUSDT", 1000 + i, 2500.0 + i / 100, 1.5, 2500.5, 0.25,
                                 recv_ts_ns=1_723_161_600_000_000_000 + i * step_ms * 10**6)


@pytest.mark.parametrize(("speed", "span"), [("1", 1.0), ("4", 0.25)])
@pytest.mark.slow
def test_paced_replay_keeps_the_recorded_spacing(tmp_path: Path, speed: str,
                                                 span: float) -> None:
    q = tmp_path / "q"
    paced_queue(q)  # 41 records 25 ms apart: 1.0 s recorded
    with Served(str(q), "--speed", speed) as served:

        async def client() -> list[tuple[float, dict[str, Any]]]:
            async with connect(f"{served.url}/ws/ethusdt@bookTicker") as ws:
                out = []
                with anyio.fail_after(10):
                    while len(out) < 41:
                        msg = await ws.recv()
                        out.append((time.monotonic(), json.loads(msg)))
                return out

        got = anyio.run(client)
        assert [d["u"] for _, d in got] == list(range(1000, 1041))
        assert [float(d["b"]) for _, d in got] == [2500.0 + i / 100 for i in range(41)]
        elapsed = got[-1][0] - got[0][0]
        # never early; late only by scheduling (generous bounds: CI machines are busy)
        assert span * 0.85 < elapsed < span + 0.6, elapsed
        middle = got[20][0] - got[0][0]
        assert span / 2 * 0.8 < middle < span / 2 + 0.5, middle  # evenly, not in a burst


def test_from_and_to_select_by_receive_time(tmp_path: Path) -> None:
    q = tmp_path / "q"
    paced_queue(q)
    start = "2024-08-09T00:00:00.100Z"  # record 4 (100 ms)
    end = str(1_723_161_600_000_000_000 + 200 * 10**6)  # before record 8 (200 ms)
    with Served(str(q), "--speed", "max", "--from", start, "--to", end) as served:

        async def client() -> list[int]:
            async with connect(f"{served.url}/ws/ethusdt@bookTicker") as ws:
                got = [json.loads(m)["u"] for m in await receive(ws, 4)]
                await assert_idle_but_alive(ws)
                return got

        assert anyio.run(client) == [1004, 1005, 1006, 1007]
    # the same window without --serve
    r = CliRunner().invoke(main, ["replay", str(q), "--from", start, "--to", end])
    assert [json.loads(x)["update_id"] for x in r.output.splitlines()] == [1004, 1005, 1006,
                                                                          1007]


def test_serve_errors(tmp_path: Path, capture_queue: Path) -> None:
    runner = CliRunner()
    r = runner.invoke(main, ["replay", str(tmp_path / "none"), "--serve"])
    assert r.exit_code == 1
    assert r.output.startswith("Error: cannot open queue directory")
    assert "start a writer first" in r.output
    r = runner.invoke(main, ["replay", str(capture_queue), "--serve", "--follow"])
    assert r.exit_code == 2
    assert "--serve serves frames" in r.output
    r = runner.invoke(main, ["replay", str(capture_queue), "--serve", "--speed", "fast"])
    assert r.exit_code == 2
    assert "invalid speed 'fast'" in r.output
    with Served(str(capture_queue)) as served:
        port = served.url.rsplit(":", 1)[1]
        busy = subprocess.run(
            [*BINFEED, "replay", str(capture_queue), "--serve", "--port", port],
            capture_output=True, text=True, timeout=20, env=env())
        assert busy.returncode == 1
        assert busy.stderr.startswith(f"Error: cannot serve on 127.0.0.1:{port}: ")
        assert "choose another --port" in busy.stderr


# -- record -> serve -> record --------------------------------------------------------


def records_of(q: Path) -> list[tuple[Any, ...]]:
    """(type, symbol, sequence, values, exchange times) of every market record."""
    out = []
    for r in QueueReader(q).records():
        d = {k: getattr(r, k) for k in r.__dataclass_fields__ if k != "recv_ts_ns"}
        out.append((type(r).__name__, tuple(sorted(d.items()))))
    return out


@pytest.mark.parametrize("speed", ["max", "20"])
@pytest.mark.slow
def test_record_serve_record_gives_the_same_records(
    tmp_path: Path, capture: list[SourceFrame], speed: str
) -> None:
    from binfeed.binance.server import open_server
    from binfeed.binance.sources import list_source

    frames = capture[:1500] if speed == "max" else capture[:400]
    first, second = tmp_path / "first", tmp_path / "second"
    want = len(frames)

    def record_until(queue: Path, url: str) -> None:
        rec = spawn_binfeed("record", "--queue", str(queue), "--symbols", "btcusdt",
                            "--streams", "bookTicker,trade", "--url", url)
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                time.sleep(0.1)
                try:
                    n = sum(1 for r in QueueReader(queue).records()
                            if type(r).__name__ in ("BookTicker", "Trade"))
                except Exception:  # not created yet
                    n = 0
                if n >= want:
                    break
            rec.send_signal(signal.SIGINT)
            rec.communicate(timeout=15)
        finally:
            if rec.poll() is None:
                rec.kill()

    # 1. record the capture from the loopback Binance
    async def serve_capture() -> None:
        async with open_server(list_source(frames), speed=None) as server:
            await anyio.to_thread.run_sync(record_until, first, server.url)

    anyio.run(serve_capture)
    # 2. serve what was recorded, 3. record the replay
    with Served(str(first), "--speed", speed) as served:
        record_until(second, served.url)
    a, b = records_of(first), records_of(second)
    market = [x for x in a if x[0] in ("BookTicker", "Trade")]
    assert len(market) == want
    assert [x for x in b if x[0] in ("BookTicker", "Trade")] == market


def test_odd_records_round_trip_through_the_c_parser(tmp_path: Path) -> None:
    """Exchange times on a bookTicker (USD-M futures frames carry E), a trade without a
    best-match flag, tiny and huge values: served payloads parse back to the same records."""
    src, dst = tmp_path / "src", tmp_path / "dst"
    with QueueWriter(src) as w:
        w.append_book_ticker("BTCUSDT", 7, 1e-8, 123456789.123, 5e-324, 1.7976931348623157e308,
                             recv_ts_ns=1, timestamp_us=1723161255208000)
        w.append_trade("ETHUSDT", 9, 0.1 + 0.2, 3.0, trade_ts_us=11000, event_ts_us=12000,
                       buyer_is_maker=True, best_match=None, recv_ts_ns=2)
        w.append_trade("ETHUSDT", 10, 2500.5, 0.0, trade_ts_us=13000, event_ts_us=14000,
                       buyer_is_maker=False, best_match=False, recv_ts_ns=3)
    frames = list(queue_frames(src, Selection.of(["btcusdt", "ETHUSDT"])))
    assert '"E":1723161255208' in frames[0].payload
    assert '"M"' not in frames[1].payload
    assert frames[2].payload.endswith('"m":false,"M":false}')
    assert list(queue_frames(src, Selection.of(["SOLUSDT"]))) == []
    with QueueWriter(dst) as w, Ingestor(w) as ing:
        for f in frames:
            envelope = f'{{"stream":"{f.name}","data":{f.payload}}}'
            ing.ingest_checked(envelope, f.recv_ns)
    assert records_of(dst) == records_of(src)
