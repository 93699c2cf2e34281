"""UTF-8 symbols end to end, as users run binfeed: ``record --symbols 币安人生usdt`` against
the loopback Binance (URL percent-encoded, SUBSCRIBE raw), the records read back by
``replay`` (JSON lines and CSV, UTF-8 whatever the locale), ``info``, ``replay --serve``
(percent-encoded paths, raw and escaped SUBSCRIBE), and the error for a symbol longer than
a queue holds."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import quote

import anyio
import pytest
from click.testing import CliRunner
from websockets.asyncio.client import connect

from binfeed.binance.server import open_server
from binfeed.binance.sources import SourceFrame, list_source
from binfeed.cli import main
from binfeed.commands.record_cmd import record
from binfeed.ingest import Ingestor
from binfeed.queue import QueueReader, QueueWriter
from binfeed.records import BookTicker, Trade
from tests.ops.helpers import BINFEED, Served, env

from .recorder_support import BOTH, capture_frames, config_for, count_records, idle, record_until

pytestmark = [pytest.mark.anyio, pytest.mark.slow]  # binfeed processes
SYMBOL = "币安人生USDT"  # listed by Binance in 2025-12; 16 bytes of UTF-8
STREAM_SYMBOL = "币安人生usdt"
ENCODED = quote(STREAM_SYMBOL)  # %E5%B8%81%E5%AE%89%E4%BA%BA%E7%94%9Fusdt


def utf8_frames(n: int) -> list[SourceFrame]:
    """Real BTCUSDT frames (bookTicker and trade) as frames of 币安人生USDT: the payload's
    "s" raw UTF-8, as Binance sends it, and the stream names with the UTF-8 symbol."""
    out = []
    for f in capture_frames():
        if f.symbol == "btcusdt" and f.stream in ("bookTicker", "trade"):
            payload = f.payload.replace('"s":"BTCUSDT"', f'"s":"{SYMBOL}"')
            assert SYMBOL in payload
            out.append(SourceFrame(f.recv_ns, STREAM_SYMBOL, f.stream, payload))
            if len(out) == n:
                break
    return out


def served_values(frames: list[SourceFrame]) -> list[tuple[Any, ...]]:
    """What replay must print for each frame: (type, symbol, id, values, times in us)."""
    out: list[tuple[Any, ...]] = []
    for f in frames:
        d = json.loads(f.payload)
        if f.stream == "bookTicker":
            out.append(("bookTicker", d["s"], d["u"], float(d["b"]), float(d["B"]),
                        float(d["a"]), float(d["A"])))
        else:
            out.append(("trade", d["s"], d["t"], float(d["p"]), float(d["q"]), d["T"] * 1000,
                        d["E"] * 1000, d["m"], d.get("M")))
    return out


def printed_values(jsonl: str) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    for line in jsonl.splitlines():
        d = json.loads(line)
        if d["type"] == "bookTicker":
            out.append(("bookTicker", d["symbol"], d["update_id"], d["bid_price"], d["bid_qty"],
                        d["ask_price"], d["ask_qty"]))
        elif d["type"] == "trade":
            out.append(("trade", d["symbol"], d["trade_id"], d["price"], d["qty"],
                        d["trade_ts_us"], d["event_ts_us"], d["buyer_is_maker"],
                        d["best_match"]))
    return out


def binfeed_bytes(*args: str, **extra_env: str) -> subprocess.CompletedProcess[bytes]:
    """``binfeed ARGS`` in another process, output as bytes (to check its encoding)."""
    return subprocess.run([*BINFEED, *args], capture_output=True, timeout=60,
                          env={**env(), **extra_env})


async def test_record_a_utf8_symbol_exactly(tmp_path: Path) -> None:
    frames = utf8_frames(3000)
    queue = tmp_path / "q"
    args = [*BINFEED, "record", "--queue", str(queue), "--symbols", STREAM_SYMBOL.upper(),
            "--streams", "bookTicker,trade"]
    async with (open_server(list_source(frames), speed=None, ping_interval=0.4) as server,
                await anyio.open_process([*args, "--url", server.url], env=env()) as proc):
        await wait_for_records(queue, len(frames))
        proc.terminate()
        with anyio.fail_after(15):
            assert await proc.wait() == 0
        assert proc.stdout is not None
        summary = (await proc.stdout.receive()).decode("utf-8")
    # the streams were named percent-encoded in the URL, decoded by the server
    path = server.connections[0].path
    assert path.isascii()
    assert f"{ENCODED}@bookTicker/{ENCODED}@trade" in path
    assert server.connections[0].subscriptions == [f"{STREAM_SYMBOL}@bookTicker",
                                                   f"{STREAM_SYMBOL}@trade"]
    assert f"name={STREAM_SYMBOL}@bookTicker" in summary

    # replay prints the real symbol, in UTF-8 even where the locale says ASCII
    for io_env in ({}, {"PYTHONIOENCODING": "latin-1"}, {"PYTHONIOENCODING": "ascii"}):
        out = binfeed_bytes("replay", str(queue), **io_env)
        assert out.returncode == 0, out.stderr
        text = out.stdout.decode("utf-8")
        assert f'"symbol":"{SYMBOL}"' in text
        assert printed_values(text) == served_values(frames)
    selected = binfeed_bytes("replay", str(queue), "--symbols", STREAM_SYMBOL)
    assert printed_values(selected.stdout.decode("utf-8")) == served_values(frames)
    csv = binfeed_bytes("replay", str(queue), "--format", "csv", "--symbols", SYMBOL)
    rows = csv.stdout.decode("utf-8").splitlines()
    assert len(rows) == len(frames) + 1
    assert all(r.split(",")[1] == SYMBOL for r in rows[1:])
    info = binfeed_bytes("info", str(queue), "--json")
    assert json.loads(info.stdout)["records_by_symbol"][SYMBOL] == {
        "bookTicker": sum(f.stream == "bookTicker" for f in frames),
        "trade": sum(f.stream == "trade" for f in frames)}
    text = binfeed_bytes("info", str(queue)).stdout.decode("utf-8")
    assert f"  {SYMBOL}   bookTicker" in text  # 12 cells + 2: padded by width, not characters
    # a terminal that cannot show it gets escapes, not a traceback
    ascii_info = binfeed_bytes("info", str(queue), PYTHONIOENCODING="latin-1")
    assert ascii_info.returncode == 0, ascii_info.stderr
    assert b"\\u5e01\\u5b89\\u4eba\\u751fUSDT" in ascii_info.stdout


async def wait_for_records(queue: Path, n: int, seconds: float = 30.0) -> None:
    """Polls the queue from this process (a reader) until it holds ``n`` market records."""
    for _ in range(int(seconds / 0.05)):
        if count_records(queue) >= n:
            return
        await anyio.sleep(0.05)
    raise AssertionError(f"{queue} did not reach {n} records in {seconds} s")


async def test_subscribe_messages_carry_utf8_names_raw(tmp_path: Path) -> None:
    frames = utf8_frames(1500)
    async with open_server(list_source(frames), speed=None, ping_interval=0.4) as server:
        # max_url_length=0: every stream by SUBSCRIBE, none in the URL
        config = config_for(server, [STREAM_SYMBOL], BOTH, max_url_length=0)
        await record_until(config, tmp_path / "q", idle(server), limit=30)
    conn = server.connections[0]
    assert conn.path == "/stream"
    assert conn.subscriptions == [f"{STREAM_SYMBOL}@bookTicker", f"{STREAM_SYMBOL}@trade"]
    with QueueReader(tmp_path / "q") as reader:
        got = [r for r in reader.records() if isinstance(r, BookTicker | Trade)]
    assert len(got) == len(frames)
    assert {r.symbol for r in got} == {SYMBOL}


@pytest.mark.parametrize("symbol", ["币安人生" * 3, "x" * 33, "币安人生" * 2 + "€abcdef"])
def test_a_symbol_longer_than_a_queue_holds_is_a_usage_error(tmp_path: Path,
                                                             symbol: str) -> None:
    size = len(symbol.encode())
    assert size > 32
    result = CliRunner().invoke(record, ["-q", str(tmp_path / "q"), "-s", f"btcusdt,{symbol}"])
    assert result.exit_code == 2
    assert (f"symbol {symbol!r} is too long: {size} bytes of UTF-8, and a queue stores at most "
            "32 bytes per symbol") in result.output
    assert not (tmp_path / "q").exists()
    result = CliRunner().invoke(main, ["replay", str(tmp_path), "--symbols", symbol])
    assert result.exit_code == 2
    assert f"{size} bytes of UTF-8" in result.output


def test_replay_serve_speaks_utf8_symbols(tmp_path: Path) -> None:
    frames = utf8_frames(400)
    queue = tmp_path / "q"
    _write(queue, frames)
    trades = [f.payload for f in frames if f.stream == "trade"]
    books = [f'{{"stream":"{f.name}","data":{f.payload}}}' for f in frames
             if f.stream == "bookTicker"]
    with Served(str(queue), "--speed", "max") as served:
        assert f"Symbols: {SYMBOL}" in served.banner
        assert f"/ws/{ENCODED}@bookTicker" in served.banner

        async def clients() -> None:
            async with connect(f"{served.url}/ws/{ENCODED}@trade", max_size=None) as ws:
                assert [await ws.recv() for _ in trades] == trades
            async with connect(f"{served.url}/stream?streams={ENCODED}@bookTicker",
                               max_size=None) as ws:
                assert [await ws.recv() for _ in books] == books
            for raw in (True, False):  # SUBSCRIBE with the name raw, or \u-escaped
                async with connect(f"{served.url}/ws", max_size=None) as ws:
                    await ws.send(json.dumps({"method": "SUBSCRIBE", "id": 1,
                                              "params": [f"{STREAM_SYMBOL}@trade"]},
                                             ensure_ascii=not raw))
                    assert json.loads(await ws.recv()) == {"result": None, "id": 1}
                    assert [await ws.recv() for _ in trades] == trades

        anyio.run(clients)
        assert served.stop()[0] == 0


def _write(queue: Path, frames: list[SourceFrame]) -> None:
    """The frames as records, through the C parser (as the recorder stores them)."""
    with QueueWriter(queue) as w, Ingestor(w) as ing:
        for f in frames:
            ing.ingest_checked(f'{{"stream":"{f.name}","data":{f.payload}}}', f.recv_ns)


def test_frames_of_a_utf8_symbol_parse_identically_raw_and_escaped(tmp_path: Path) -> None:
    """The same frames with "s" and the stream name \\u-escaped (as json.dumps writes them)
    are the same records, on the same symbol."""
    frames = utf8_frames(300)
    raw, escaped = tmp_path / "raw", tmp_path / "escaped"
    _write(raw, frames)
    with QueueWriter(escaped) as w, Ingestor(w) as ing:
        for f in frames:
            text = json.dumps({"stream": f.name, "data": json.loads(f.payload)},
                              separators=(",", ":"))
            assert "\\u5e01" in text and SYMBOL not in text
            ing.ingest_checked(text, f.recv_ns)
    with QueueReader(raw) as a, QueueReader(escaped) as b:
        want = list(a.records())
        assert len(want) == len(frames)
        assert list(b.records()) == want
        assert list(a.symbols.values()) == list(b.symbols.values()) == [SYMBOL]
