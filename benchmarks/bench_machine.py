"""The connection machine's own cost per frame, without a network: the hot path of the
recorder (``ConnectionMachine.receive_frames`` on a proven live connection) against a bare
loop doing the least any glue must do with the same frames, same run.

Each read is 8 text frames (real bookTicker frames of the bundled capture, as websockets
hands them out: ``bytearray`` payloads). Two sinks:

- ``null``: a sink whose ingest returns "stored" at once, so the figure is the machine's
  Python alone;
- ``parser``: the real C parser and a queue in a temporary directory (ids shifted so that
  every frame is new), so the figure is the whole per-frame cost behind the socket.

The baseline calls the same sink per frame in a plain loop (``bytes(frame.data)`` and the
call). ``--tree DIR`` imports binfeed from another checkout (built in place), to compare
two trees with one script.

Usage: python benchmarks/bench_machine.py [--reads 200000] [--repeat 7] [--tree DIR] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FRAME = (b'{"stream":"btcusdt@bookTicker","data":{"u":%d,"s":"BTCUSDT","b":"25.35190000",'
         b'"B":"31.21000000","a":"25.36520000","A":"40.66000000"}}')
PER_READ = 8


class Frame:
    """A received text frame as websockets hands it out."""

    __slots__ = ("data", "fin", "opcode")

    def __init__(self, data: bytes) -> None:
        self.opcode, self.data, self.fin = 1, bytearray(data), True


class NullSink:
    """Every frame is stored, at no cost."""

    subscription = None

    def ingest(self, frame: bytes, recv_ns: int) -> int:
        return 1

    def set_state(self, streams: object, state: object) -> list[int]:
        return list(range(len(streams)))  # type: ignore[arg-type]

    def unsubscribed_stream(self) -> str:
        return ""

    def audit(self, record: object) -> None:
        pass

    def stream_lost(self, stream: object, reason: object) -> None:
        pass


def reads(n: int, first_id: int) -> list[list[Frame]]:
    """n reads of PER_READ frames, update ids rising from ``first_id``."""
    return [[Frame(FRAME % (first_id + i * PER_READ + j)) for j in range(PER_READ)]
            for i in range(n)]


def measure(sink_name: str, n_reads: int, repeat: int) -> dict[str, float]:
    from binfeed.binance.machine import ConnectionMachine
    from binfeed.binance.streams import StreamKind, stream_ids

    streams = stream_ids(["btcusdt"], [StreamKind.BOOK_TICKER])
    with tempfile.TemporaryDirectory(prefix="bench-machine-") as tmp:
        if sink_name == "null":
            sink = NullSink()
            ingest = sink.ingest
            closers: list[object] = []
        else:
            from binfeed.binance.sink import ConnectionSink
            from binfeed.ingest import Ingestor
            from binfeed.queue import QueueWriter

            writer = QueueWriter(Path(tmp) / "q", segment_slots=1 << 22)
            ingestor = Ingestor(writer)
            sink = ConnectionSink(ingestor, writer)  # type: ignore[assignment]
            ingest = sink.ingest
            closers = [ingestor, writer]
        machine = ConnectionMachine(1, streams, [], sink)  # type: ignore[arg-type]
        machine.opened(0.0)
        machine.receive_frames(reads(1, 1)[0], 1, 0.1)  # the proof: the sink is the appender
        assert machine.proven_at is not None
        next_id = 1 + PER_READ

        def through_machine() -> None:
            nonlocal next_id
            batch = reads(n_reads, next_id)
            next_id += n_reads * PER_READ
            t = time.perf_counter()
            rf = machine.receive_frames
            for i, read in enumerate(batch):
                rf(read, i, 0.2)
            spent.append(time.perf_counter() - t)

        def bare() -> None:
            nonlocal next_id
            batch = reads(n_reads, next_id)
            next_id += n_reads * PER_READ
            t = time.perf_counter()
            for i, read in enumerate(batch):
                for frame in read:
                    ingest(bytes(frame.data), i)
            spent.append(time.perf_counter() - t)

        figures = {}
        for name, run in (("bare", bare), ("machine", through_machine)):
            spent: list[float] = []
            for _ in range(repeat):
                run()
            figures[name] = statistics.median(spent) / (n_reads * PER_READ) * 1e9
        for c in closers:
            c.close()  # type: ignore[attr-defined]
    return figures


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reads", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--tree", type=Path, default=ROOT, help="the binfeed checkout to measure")
    ap.add_argument("--json", action="store_true", help="print JSON only")
    args = ap.parse_args()
    sys.path.insert(0, str(args.tree.resolve()))
    out: dict[str, object] = {"tree": str(args.tree), "reads": args.reads,
                              "frames_per_read": PER_READ}
    for sink in ("null", "parser"):
        fig = measure(sink, args.reads, args.repeat)
        out[sink] = {k: round(v, 1) for k, v in fig.items()}
        if not args.json:
            extra = fig["machine"] - fig["bare"]
            print(f"{sink:>6} sink: machine {fig['machine']:6.1f} ns/frame, bare loop "
                  f"{fig['bare']:6.1f} ns/frame, machine - bare {extra:+6.1f}")
    if args.json:
        print(json.dumps(out))


if __name__ == "__main__":
    main()
