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
call). Each timed run gets a new machine (and, with the parser, a new prefaulted queue in
a temporary directory, so that page faults stay out of the figure); bare and machine runs
alternate. ``--tree DIR`` imports binfeed from another checkout (built in place), to
compare two trees with one script.

Usage: python benchmarks/bench_machine.py [--reads 200000] [--repeat 7] [--tree DIR] [--json]
"""

from __future__ import annotations

import argparse
import gc
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
    """A received frame as websockets hands it out (``opcode``, ``bytearray`` data, ``fin``)."""

    __slots__ = ("data", "fin", "opcode")

    def __init__(self, opcode: int, data: bytes) -> None:
        self.opcode, self.data, self.fin = opcode, bytearray(data), True


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


def reads(n: int) -> list[list[Frame]]:
    """n reads of PER_READ text frames, update ids rising from 2 (1 is the proof's)."""
    from binfeed.binance.events import Opcode

    return [[Frame(Opcode.TEXT, FRAME % (2 + i * PER_READ + j)) for j in range(PER_READ)]
            for i in range(n)]


def timed_run(sink_name: str, through_machine: bool, batch: list[list[Frame]],
              directory: Path) -> float:
    """Seconds to hand ``batch`` to a new proven machine (or, not ``through_machine``, to
    its sink in a bare loop). The parser sink writes a new queue in ``directory``, its
    segment prefaulted and large enough, so that neither page faults nor a roll fall
    into the timing."""
    from binfeed.binance.events import Opcode
    from binfeed.binance.machine import ConnectionMachine
    from binfeed.binance.sink import ConnectionSink
    from binfeed.binance.streams import StreamKind, stream_ids
    from binfeed.ingest import Ingestor
    from binfeed.queue import QueueWriter

    closers: list[Ingestor | QueueWriter] = []
    sink: NullSink | ConnectionSink = NullSink()
    if sink_name == "parser":
        slots = 1 << max(16, (len(batch) * PER_READ + 1024).bit_length())
        writer = QueueWriter(directory / "q", segment_slots=slots, prefault=True)
        ingestor = Ingestor(writer)
        sink = ConnectionSink(ingestor, writer)
        closers = [ingestor, writer]
    streams = stream_ids(["btcusdt"], [StreamKind.BOOK_TICKER])
    machine = ConnectionMachine(1, streams, [], sink)  # type: ignore[arg-type]
    machine.opened(0.0)
    machine.receive_frames([Frame(Opcode.TEXT, FRAME % 1)], 1, 0.1)  # the proof
    assert machine.proven_at is not None  # from here on the sink is the appender
    ingest = sink.ingest
    # The batch's millions of objects would make each full collection of the cyclic GC
    # walk them all, in the middle of the timing: they are set aside first.
    gc.collect()
    gc.freeze()
    t = time.perf_counter()
    if through_machine:
        rf = machine.receive_frames
        for i, read in enumerate(batch):
            rf(read, i, 0.2)
    else:
        for i, read in enumerate(batch):
            for frame in read:
                ingest(bytes(frame.data), i)
    spent = time.perf_counter() - t
    gc.unfreeze()
    for c in closers:
        c.close()
    return spent


def measure(sink_name: str, n_reads: int, repeat: int) -> dict[str, float]:
    """Median ns per frame of the bare loop and of the machine, their runs alternated."""
    batch = reads(n_reads)
    spent: dict[str, list[float]] = {"bare": [], "machine": []}
    for r in range(repeat):
        order = ("bare", "machine") if r % 2 == 0 else ("machine", "bare")
        for name in order:
            with tempfile.TemporaryDirectory(prefix="bench-machine-") as tmp:
                spent[name].append(timed_run(sink_name, name == "machine", batch, Path(tmp)))
    return {k: statistics.median(v) / (n_reads * PER_READ) * 1e9 for k, v in spent.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reads", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--tree", type=Path, default=ROOT, help="the binfeed checkout to measure")
    ap.add_argument("--json", action="store_true", help="print JSON only")
    args = ap.parse_args()
    tree = args.tree.resolve()
    sys.path.insert(0, str(tree))
    import binfeed

    imported = Path(binfeed.__file__).resolve()
    if not imported.is_relative_to(tree):
        sys.exit(f"bench_machine: binfeed was imported from {imported}, not from --tree {tree}"
                 " (is its extension built there?)")
    out: dict[str, object] = {"tree": str(tree), "reads": args.reads,
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
