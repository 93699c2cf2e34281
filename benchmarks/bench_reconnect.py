"""Downtime per drop: how soon frames flow again after the server cuts the connection.

A Binance-compatible server (binfeed.binance.server, in its own process, one shared
clock like the exchange's) plays real btcusdt bookTicker and trade frames evenly at
--rate frames/s for --seconds, and aborts the TCP connection (no close frame) every
--every frames sent on it, accepting the next connection at once. The recorder (the
library, production defaults: the reconnect policy of retry.py, the attempt bucket of
pacing.py) records into a temporary queue.

Per drop, from the queue alone (the CONNECTION records' and the records' receive times):

- drop -> connected: the DISCONNECTED record (written when the recorder saw the end)
  to the next CONNECTED record (handshake done);
- drop -> first record: to the next market-data record: the downtime a user sees.

Drops are split into those within the bucket's burst (the first --connect-burst
attempts, reconnected at once) and those after it (paced at --connect-rate). Also
printed: the recorder's own figures (``Recorder.plan.downtime``: drop to subscribed) and
the share of the server's frames stored.

Usage: python benchmarks/bench_reconnect.py [--rate 3000] [--every 1500] [--seconds 12]
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anyio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from binfeed.binance.sources import SourceFrame, load_capture  # noqa: E402

CAPTURE = ROOT / "tests/data/binance/spot_btcusdt_20240808.gz"


def paced_frames(count: int, rate: float) -> list[SourceFrame]:
    """btcusdt bookTicker and trade frames of the real capture, re-timed to ``rate``."""
    frames = [f for f in load_capture([CAPTURE]) if f.stream in ("bookTicker", "trade")]
    if count > len(frames):
        raise SystemExit(f"the capture has {len(frames)} frames; ask for fewer")
    step = 1e9 / rate
    return [f._replace(recv_ns=round(i * step)) for i, f in enumerate(frames[:count])]


def serve(count: int, rate: float, every: int) -> None:
    from binfeed.binance.server import BinanceServer, Fault, ServerConfig
    from binfeed.binance.sources import list_source

    faults = [Fault("abort", after_frames=every, connection=0)]
    server = BinanceServer(list_source(paced_frames(count, rate)),
                           ServerConfig(speed=1.0, ping_interval=20.0, faults=faults))

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            await tg.start(server.serve)
            print(f"URL {server.url}", flush=True)
            await server.finished.wait()
            print(f"PLAYED {server.shared.frames_played}", flush=True)

    anyio.run(main)


async def record(url: str, queue: Path, seconds: float, burst: int,
                 rate: float) -> dict[str, float]:
    from binfeed.binance.endpoint import Endpoint
    from binfeed.binance.streams import StreamKind, stream_ids
    from binfeed.binance.supervisor import RecorderConfig, open_recorder

    config = RecorderConfig(Endpoint.parse(url),
                            stream_ids(["btcusdt"], [StreamKind.BOOK_TICKER, StreamKind.TRADE]),
                            connect_burst=burst, connect_rate=rate)
    with open_recorder(queue, config) as recorder:
        with anyio.move_on_after(seconds):
            await recorder.run()
        down = recorder.plan.downtime(time.monotonic())
    return {"last": down.last, "max": down.max, "total": down.total,
            "recovered": recorder.stats.recovered}


def drops_in(queue: Path) -> list[tuple[float | None, float]]:
    """(drop -> connected, drop -> first record) per drop followed by a record, seconds;
    connected is None when the CONNECTED record came after the first record."""
    from binfeed.queue import QueueReader
    from binfeed.records import BookTicker, Connection, ConnectionEvent, Trade

    out: list[tuple[float | None, float]] = []
    lost: int | None = None
    connected: int | None = None
    with QueueReader(queue) as reader:
        for rec in reader.records():
            if isinstance(rec, Connection):
                if rec.event == ConnectionEvent.DISCONNECTED:
                    lost, connected = rec.recv_ts_ns, None
                elif rec.event == ConnectionEvent.CONNECTED and lost is not None:
                    connected = rec.recv_ts_ns
            elif isinstance(rec, BookTicker | Trade) and lost is not None:
                to_connected = None if connected is None else (connected - lost) / 1e9
                out.append((to_connected, (rec.recv_ts_ns - lost) / 1e9))
                lost = None
    return out


def stored_in(queue: Path) -> int:
    from binfeed.queue import QueueReader
    from binfeed.records import BookTicker, Trade

    with QueueReader(queue) as reader:
        return sum(1 for r in reader.records() if isinstance(r, BookTicker | Trade))


def ms(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    values = sorted(values)
    return {"n": len(values), "p50_ms": 1000 * statistics.median(values),
            "p90_ms": 1000 * values[int(0.9 * (len(values) - 1))],
            "max_ms": 1000 * values[-1]}


def main() -> None:
    from binfeed.binance.pacing import DEFAULT_CONNECT_BURST, DEFAULT_CONNECT_RATE

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rate", type=float, default=3000.0, help="frames per second")
    ap.add_argument("--every", type=int, default=1500, help="abort after this many frames")
    ap.add_argument("--seconds", type=float, default=12.0)
    ap.add_argument("--connect-burst", type=int, default=DEFAULT_CONNECT_BURST)
    ap.add_argument("--connect-rate", type=float, default=DEFAULT_CONNECT_RATE)
    ap.add_argument("--json", action="store_true", help="print JSON only")
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    logging.basicConfig(level=logging.ERROR)  # one warning per drop otherwise
    count = int(args.rate * args.seconds)
    if args.serve:
        serve(count, args.rate, args.every)
        return
    server = subprocess.Popen([sys.executable, __file__, "--serve", "--rate", str(args.rate),
                               "--every", str(args.every), "--seconds", str(args.seconds)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        if not line.startswith("URL "):
            raise RuntimeError(f"server did not start: {line!r}")
        with tempfile.TemporaryDirectory() as tmp:
            queue = Path(tmp) / "q"
            own = anyio.run(record, line.split()[1], queue, args.seconds + 1.0,
                            args.connect_burst, args.connect_rate)
            drops = drops_in(queue)
            stored = stored_in(queue)
    finally:
        server.terminate()
        server.wait(10)
    burst = args.connect_burst - 1  # the first attempt took a token too
    result = {
        "rate": args.rate, "every": args.every, "seconds": args.seconds, "frames": count,
        "stored": stored, "stored_share": stored / count, "drops": len(drops),
        "within_burst": {"to_connected": ms([c for c, _ in drops[:burst] if c is not None]),
                         "to_first_record": ms([f for _, f in drops[:burst]])},
        "after_burst": {"to_connected": ms([c for c, _ in drops[burst:] if c is not None]),
                        "to_first_record": ms([f for _, f in drops[burst:]])},
        "recorder_downtime_s": own,
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{count:,} frames at {args.rate:,.0f}/s, connection aborted every {args.every:,} "
          f"frames: {len(drops)} drops, {stored:,} records stored "
          f"({100 * stored / count:.1f} % of what the server had)")
    for part in ("within_burst", "after_burst"):
        for what, m in result[part].items():  # type: ignore[union-attr]
            if m:
                print(f"  {part:12} drop -> {what:16} n={m['n']:>3}  p50 {m['p50_ms']:7.1f} ms"
                      f"  p90 {m['p90_ms']:7.1f} ms  max {m['max_ms']:7.1f} ms")
    print(f"  recorder's own (drop -> subscribed): last {own['last'] * 1000:.1f} ms, "
          f"max {own['max'] * 1000:.1f} ms, total {own['total']:.2f} s over "
          f"{own['recovered']:.0f} recovered drops")


if __name__ == "__main__":
    main()
