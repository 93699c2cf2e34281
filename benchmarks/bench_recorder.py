"""The recorder's whole path over loopback, against a bare websockets client, same run.

Part 1, throughput: a Binance-compatible server (binfeed.binance.server, in its own
process, every connection served the same frames from the start, as fast as the client
reads) plays real bookTicker and trade frames (both bundled captures, repeated with shifted
ids so that every frame is new to the parser). In alternating rounds:

- bare: ``websockets.asyncio.client.connect`` and ``recv()`` until N messages (decoded to
  str, as a plain client does; and ``decode=False``, the cheapest it gets);
- recorder: binfeed's Recorder (connection, supervisor, C parser, queue in a temporary
  directory), until the parser counted N frames.

Rate = (N - 1) / (time of the last frame - time of the first): receive times stamped by
each client. The ratio recorder / bare is the figure of merit (goal >= 0.90).

Part 2, latency: the server plays frames evenly spaced at --rate frames/s (default 10k);
the recorder stamps each frame's arrival (recv_ts_ns) and a reader in another process spins
on the queue and computes, for each record, the time it became visible minus its arrival.
Percentiles p50/p99/p99.9/max, once with a reader that spins (lowest latency, but on
this 2-core machine it takes a core from the server and the recorder) and once with a
reader that sleeps 20 us between empty polls.

Usage: python benchmarks/bench_recorder.py [--frames 300000] [--rounds 3]
                                          [--rate 10000] [--latency-frames 50000]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import anyio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from binfeed.binance.sources import SourceFrame, load_capture  # noqa: E402

CAPTURES = [ROOT / "tests/data/binance/spot_btcusdt_20240808.gz",
            ROOT / "tests/data/binance/spot_ethusdt_20240808.gz"]
_SEQ = {"bookTicker": re.compile(r'"u":(\d+)'), "trade": re.compile(r'"t":(\d+)')}


def unique_frames(n: int) -> list[SourceFrame]:
    """n bookTicker/trade frames from the real captures; each repetition shifts the ids
    past the previous one (trade ids stay contiguous), so none is a duplicate."""
    base = [f for f in load_capture(CAPTURES) if f.stream in _SEQ]
    spans: dict[str, tuple[int, int]] = {}
    for f in base:
        seq = int(_SEQ[f.stream].search(f.payload).group(1))  # type: ignore[union-attr]
        lo, hi = spans.get(f.name, (seq, seq))
        spans[f.name] = (min(lo, seq), max(hi, seq))
    out: list[SourceFrame] = []
    k = 0
    while len(out) < n:
        for f in base:
            if len(out) == n:
                break
            lo, hi = spans[f.name]
            shift = k * (hi - lo + 1)
            payload = f.payload if k == 0 else _SEQ[f.stream].sub(
                lambda m, s=shift: m.group(0).split(":")[0] + ":" + str(int(m.group(1)) + s),
                f.payload, count=1)
            out.append(SourceFrame(f.recv_ns, f.symbol, f.stream, payload))
        k += 1
    return out


def evenly_paced(frames: list[SourceFrame], rate: float) -> list[SourceFrame]:
    step = int(1e9 / rate)
    return [SourceFrame(i * step, f.symbol, f.stream, f.payload) for i, f in enumerate(frames)]


# -- the server process ---------------------------------------------------------------

def serve(mode: str, n: int, rate: float) -> None:
    from binfeed.binance.server import BinanceServer, ServerConfig
    from binfeed.binance.sources import list_source

    frames = unique_frames(n)
    speed: float | None = None
    if mode == "latency":
        frames, speed = evenly_paced(frames, rate), 1.0
    server = BinanceServer(list_source(frames), ServerConfig(speed=speed, ping_interval=None,
                                                             clock="per_connection"))

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            await tg.start(server.serve)
            print(f"URL {server.url}", flush=True)

    anyio.run(main)


class Server:
    def __init__(self, mode: str, n: int, rate: float = 0.0) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--serve", mode, "--frames", str(n), "--rate", str(rate)],
            stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()  # type: ignore[union-attr]
        if not line.startswith("URL "):
            raise RuntimeError(f"server did not start: {line!r}")
        self.url = line.split()[1]

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


# -- clients --------------------------------------------------------------------------

async def poll_until(condition: Callable[[], bool], interval: float) -> None:
    """Checks a condition of another component (a counter, a process) periodically."""
    while True:
        if condition():
            return
        await anyio.sleep(interval)


async def bare_client(url: str, streams: str, n: int, decode: bool) -> float:
    from websockets.asyncio.client import connect

    async with connect(f"{url}/stream?streams={streams}", compression=None,
                       max_size=1 << 20) as ws:
        await ws.recv(decode=decode)
        first = time.time_ns()
        for _ in range(n - 2):
            await ws.recv(decode=decode)
        last_msg = await ws.recv(decode=decode)
        last = time.time_ns()
        assert last_msg
    return (n - 1) / ((last - first) / 1e9)


async def recorder_client(url: str, symbols: list[str], n: int, queue: Path) -> float:
    from binfeed.binance.endpoint import Endpoint
    from binfeed.binance.streams import StreamKind, stream_ids
    from binfeed.binance.supervisor import RecorderConfig, open_recorder
    from binfeed.queue import QueueReader

    config = RecorderConfig(Endpoint.parse(url),
                            stream_ids(symbols, [StreamKind.BOOK_TICKER, StreamKind.TRADE]))
    with open_recorder(queue, config) as recorder:
        ingestor = recorder.ingestor
        async with anyio.create_task_group() as tg:
            await tg.start(recorder.run)
            await poll_until(lambda: ingestor.counters().frames >= n, 0.005)
            tg.cancel_scope.cancel()
        counters = ingestor.counters()
    assert counters.errors == 0 and counters.duplicates == 0, counters
    with QueueReader(queue) as reader:
        ts = [r.recv_ts_ns for r in reader.records() if hasattr(r, "bid_price")
              or hasattr(r, "trade_id")]
    ts = ts[:n]
    return (len(ts) - 1) / ((ts[-1] - ts[0]) / 1e9)


def throughput(n: int, rounds: int) -> dict:
    symbols = ["btcusdt", "ethusdt"]
    streams = "/".join(f"{s}@{k}" for s in symbols for k in ("bookTicker", "trade"))
    server = Server("throughput", n)
    results: dict[str, list[float]] = {"bare_str": [], "bare_bytes": [], "recorder": []}
    try:
        for _ in range(rounds):
            results["bare_str"].append(anyio.run(bare_client, server.url, streams, n, True))
            results["bare_bytes"].append(anyio.run(bare_client, server.url, streams, n, False))
            with tempfile.TemporaryDirectory() as tmp:
                results["recorder"].append(
                    anyio.run(recorder_client, server.url, symbols, n, Path(tmp) / "q"))
    finally:
        server.close()
    med = {k: statistics.median(v) for k, v in results.items()}
    return {"frames": n, "rounds": rounds, "runs": results, "median": med,
            "ratio_vs_bare_str": med["recorder"] / med["bare_str"],
            "ratio_vs_bare_bytes": med["recorder"] / med["bare_bytes"]}


# -- latency ---------------------------------------------------------------------------

READER = r"""
import json, sys, time
from binfeed.queue import QueueReader
path, n, out, spin = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4] == "spin"
while True:
    try:
        reader = QueueReader(path)
        break
    except Exception:
        time.sleep(0.001)
lat = []
with reader:
    print("READY", flush=True)
    while len(lat) < n:
        batch = reader.poll()
        if len(batch):
            now = time.time_ns()
            ts = batch["recv_ts_ns"][batch["type"] <= 2]
            lat.extend((now - ts).tolist())
        elif not spin:
            time.sleep(0.00002)
with open(out, "w") as f:  # a file: a pipe would fill up and block the reader
    json.dump(lat[:n], f)
"""


async def _latency_record(url: str, queue: Path, n: int, reader: subprocess.Popen) -> None:
    from binfeed.binance.endpoint import Endpoint
    from binfeed.binance.streams import StreamKind, stream_ids
    from binfeed.binance.supervisor import RecorderConfig, open_recorder

    config = RecorderConfig(Endpoint.parse(url), stream_ids(
        ["btcusdt", "ethusdt"], [StreamKind.BOOK_TICKER, StreamKind.TRADE]))
    with open_recorder(queue, config) as recorder:
        async with anyio.create_task_group() as tg:
            await tg.start(recorder.run)
            await poll_until(lambda: reader.poll() is not None, 0.05)
            tg.cancel_scope.cancel()


def latency(n: int, rate: float, spin: bool) -> dict:
    server = Server("latency", n + 1000, rate)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            queue = Path(tmp) / "q"
            from binfeed.queue import QueueWriter

            QueueWriter(queue).close()  # exists before the reader starts
            result = Path(tmp) / "latencies.json"
            reader = subprocess.Popen([sys.executable, "-c", READER, str(queue), str(n),
                                       str(result), "spin" if spin else "sleep"],
                                      stdout=subprocess.PIPE, text=True,
                                      env={**os.environ, "PYTHONPATH": str(ROOT)})
            assert reader.stdout is not None
            assert reader.stdout.readline().strip() == "READY"
            anyio.run(_latency_record, server.url, queue, n, reader)
            assert reader.wait() == 0
            lat = sorted(json.loads(result.read_text()))
    finally:
        server.close()

    def pct(p: float) -> float:
        return lat[min(len(lat) - 1, int(p / 100 * len(lat)))] / 1000

    return {"frames": len(lat), "rate": rate, "reader": "spin" if spin else "sleep 20us",
            "p50_us": pct(50), "p99_us": pct(99),
            "p99_9_us": pct(99.9), "max_us": lat[-1] / 1000}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=300_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--rate", type=float, default=10_000.0)
    ap.add_argument("--latency-frames", type=int, default=50_000)
    ap.add_argument("--serve", choices=["throughput", "latency"], help=argparse.SUPPRESS)
    ap.add_argument("--json", action="store_true", help="print JSON only")
    args = ap.parse_args()
    if args.serve:
        serve(args.serve, args.frames, args.rate)
        return
    tp = throughput(args.frames, args.rounds)
    lats = [latency(args.latency_frames, args.rate, spin) for spin in (True, False)]
    if args.json:
        print(json.dumps({"throughput": tp, "latency": lats}, indent=2))
        return
    m = tp["median"]
    print(f"recorder throughput over loopback, {tp['frames']:,} real frames, median of "
          f"{tp['rounds']} rounds (frames/s):")
    print(f"  bare websockets client, recv() -> str   {m['bare_str']:>12,.0f}")
    print(f"  bare websockets client, recv() -> bytes {m['bare_bytes']:>12,.0f}")
    print(f"  binfeed recorder (parse + queue)        {m['recorder']:>12,.0f}")
    print(f"  ratio recorder / bare str   {tp['ratio_vs_bare_str']:.2f}   (goal >= 0.90)")
    print(f"  ratio recorder / bare bytes {tp['ratio_vs_bare_bytes']:.2f}")
    for lat in lats:
        print(f"arrival -> visible in another process ({lat['reader']} reader), "
              f"{lat['frames']:,} frames at {lat['rate']:,.0f} frames/s (us): "
              f"p50 {lat['p50_us']:.1f}  p99 {lat['p99_us']:.1f}  p99.9 {lat['p99_9_us']:.1f}"
              f"  max {lat['max_us']:.1f}")


if __name__ == "__main__":
    main()
