#!/usr/bin/env python3
"""Frame ingest benchmarks: binfeed's C parser against pure-Python baselines.

All figures come from one run on real frames (tests/data/binance), best of N rounds:

1. C ingest of real bookTicker frames: parse + normalize + append into a queue, timed in C
   (benchmarks/c/bench_parse.c), with the compact-form scanner and with yyjson only;
2. the same work from Python: one ``Ingestor.ingest`` call per frame; one
   ``ingest_packed`` call per batch of prepared buffers; ``ingest_batch`` on a list;
3. the same work in pure Python with ``json``, ``orjson`` and ``msgspec`` (parse, check,
   float(), duplicate check, 128-byte record packed into a buffer);
4. whole processes: ``binfeed import`` of the real captures against
   benchmarks/msgspec_importer.py doing the same import, wall time including start-up.

    python benchmarks/bench_ingest.py [--rounds N] [--quick] [--json FILE]

Targets: C ingest >= 8 M frames/s and >= 6x msgspec; per-frame call from Python
>= 2 M/s; batch >= 5 M/s; binfeed import >= 3x the msgspec importer, whole process.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import msgspec
import numpy as np
import orjson

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "binance"
CAPTURES = [DATA / "spot_btcusdt_20240808.gz", DATA / "spot_ethusdt_20240808.gz"]
CC = os.environ.get("CC", "cc")

sys.path.insert(0, str(ROOT))
# The whole-process baseline's payload type and BOOK_TICKER slot packing (this directory
# is sys.path[0] when the benchmark runs as a script).
from msgspec_importer import BOOK as SLOT  # noqa: E402
from msgspec_importer import BookTicker as Book  # noqa: E402

from binfeed.capture import read_frames  # noqa: E402
from binfeed.ingest import Ingestor  # noqa: E402
from binfeed.queue import QueueWriter  # noqa: E402


class Envelope(msgspec.Struct):
    stream: str
    data: Book


def book_ticker_frames() -> list[bytes]:
    return [f for path in CAPTURES for _, _, f in read_frames(path) if b"@bookTicker" in f]


def best_of(rounds: int, fn: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


# ---------------------------------------------------------------- C, timed in C


def c_ingest(frames: list[bytes], rounds: int, scratch: Path) -> dict[str, float]:
    exe = scratch / "bench_parse"
    sources = sorted(str(p) for p in (ROOT / "csrc" / "src").glob("*.c"))
    cmd = [CC, "-std=c11", "-O3", "-D_GNU_SOURCE", "-DYYJSON_DISABLE_WRITER=1",
           "-DYYJSON_DISABLE_UTILS=1", "-DYYJSON_DISABLE_INCR_READER=1",
           f"-I{ROOT / 'csrc' / 'include'}", f"-I{ROOT / 'csrc' / 'src'}",
           f"-I{ROOT / 'csrc' / 'vendor' / 'yyjson'}",
           str(ROOT / "benchmarks" / "c" / "bench_parse.c"), *sources,
           str(ROOT / "csrc" / "vendor" / "yyjson" / "yyjson.c"), "-o", str(exe), "-lm",
           "-lpthread"]
    subprocess.run(cmd, check=True)
    frames_file = scratch / "frames.txt"
    frames_file.write_bytes(b"\n".join(frames) + b"\n")
    work = scratch / "c-queues"
    work.mkdir()
    out = subprocess.run([str(exe), str(frames_file), str(work), str(rounds)], check=True,
                         capture_output=True, text=True).stdout
    shutil.rmtree(work, ignore_errors=True)
    result = json.loads(out)
    return {"c_fast_path": result["fast_path_fps"], "c_yyjson_only": result["yyjson_fps"],
            "c_subscribed": result["subscribed_fps"]}


# ---------------------------------------------------------------- binfeed from Python


def python_calls(frames: list[bytes], rounds: int, scratch: Path) -> dict[str, float]:
    n = len(frames)
    recv = [1723161254087891268 + i for i in range(n)]
    counter = iter(range(10**9))

    def fresh() -> tuple[QueueWriter, Ingestor]:
        w = QueueWriter(scratch / f"q{next(counter)}", segment_slots=n + 4096, prefault=True)
        return w, Ingestor(w)

    def timed(body: Callable[[Ingestor], None]) -> float:
        best = float("inf")
        for _ in range(rounds):
            w, ing = fresh()
            start = time.perf_counter()
            body(ing)
            best = min(best, time.perf_counter() - start)
            assert ing.counters().book_tickers == n, ing.last_error
            ing.close()
            w.close()
            shutil.rmtree(w.path)
        return best

    def per_frame(ing: Ingestor) -> None:
        ingest = ing.ingest
        for frame, t in zip(frames, recv, strict=True):
            ingest(frame, t)

    buf = b"".join(frames)
    offsets = np.zeros(n + 1, np.uint64)
    offsets[1:] = np.cumsum([len(f) for f in frames])
    recv_arr = np.array(recv, np.uint64)
    results = np.empty(n, np.int32)

    def packed(ing: Ingestor) -> None:
        ing.ingest_packed(buf, offsets, recv_arr, results)

    def listed(ing: Ingestor) -> None:
        ing.ingest_batch(frames, recv)

    return {"python_per_frame": n / timed(per_frame), "python_batch_packed": n / timed(packed),
            "python_batch_list": n / timed(listed)}


# ---------------------------------------------------------------- pure-Python baselines


def baselines(frames: list[bytes], rounds: int) -> dict[str, float]:
    n = len(frames)
    recv = [1723161254087891268 + i for i in range(n)]

    def with_dicts(loads: Callable[[bytes], object]) -> Callable[[], None]:
        def run() -> None:
            out = bytearray(SLOT.size * n)
            pack_into = SLOT.pack_into
            symbols: dict[str, int] = {}
            last: dict[int, int] = {}
            off = 0
            for frame, t in zip(frames, recv, strict=True):
                msg = loads(frame)
                d = msg["data"] if "stream" in msg else msg  # type: ignore[operator,index]
                u = d["u"]
                if type(u) is not int or u < 0:
                    raise ValueError("u")
                sid = symbols.setdefault(d["s"].upper(), len(symbols) + 1)
                if u <= last.get(sid, -1):
                    continue
                last[sid] = u
                pack_into(out, off, 0, 1, 0, u, t, d.get("E", 0), float(d["b"]), float(d["B"]),
                          float(d["a"]), float(d["A"]), sid)
                off += SLOT.size
        return run

    decode = msgspec.json.Decoder(Envelope).decode

    def with_msgspec() -> None:
        out = bytearray(SLOT.size * n)
        pack_into = SLOT.pack_into
        symbols: dict[str, int] = {}
        last: dict[int, int] = {}
        off = 0
        for frame, t in zip(frames, recv, strict=True):
            d = decode(frame).data
            sid = symbols.setdefault(d.s.upper(), len(symbols) + 1)
            if d.u <= last.get(sid, -1):
                continue
            last[sid] = d.u
            pack_into(out, off, 0, 1, 0, d.u, t, d.E, float(d.b), float(d.B), float(d.a),
                      float(d.A), sid)
            off += SLOT.size

    return {"json": n / best_of(rounds, with_dicts(json.loads)),
            "orjson": n / best_of(rounds, with_dicts(orjson.loads)),
            "msgspec": n / best_of(rounds, with_msgspec)}


# ---------------------------------------------------------------- whole processes


def whole_import(rounds: int, scratch: Path, copies: int) -> dict[str, float]:
    files = [str(p) for p in CAPTURES] * copies
    lines = sum(1 for path in CAPTURES for _ in read_frames(path)) * copies
    exe = shutil.which("binfeed", path=str(Path(sys.executable).parent))
    binfeed = [exe] if exe else [sys.executable, "-c",
                                 "from binfeed.cli import main; main()"]
    env = dict(os.environ, PYTHONPATH=str(ROOT))

    def run(cmd: list[str], target: Path) -> float:
        best = float("inf")
        for _ in range(rounds):
            shutil.rmtree(target, ignore_errors=True)
            if target.exists():
                target.unlink()
            start = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True, env=env)
            best = min(best, time.perf_counter() - start)
        shutil.rmtree(target, ignore_errors=True)
        return best

    queue = scratch / "import-q"
    t_binfeed = run([*binfeed, "import", "--queue", str(queue), *files], queue)
    out = scratch / "msgspec.bin"
    t_msgspec = run([sys.executable, str(ROOT / "benchmarks" / "msgspec_importer.py"),
                     str(out), *files], out)
    out.unlink(missing_ok=True)
    # the import loop alone, in this process (no interpreter start-up, no imports)
    from binfeed.importer import import_captures

    loop = float("inf")
    for _ in range(rounds):
        shutil.rmtree(queue, ignore_errors=True)
        loop = min(loop, import_captures(queue, files).seconds)
    shutil.rmtree(queue, ignore_errors=True)
    return {f"import_x{copies}_lines": lines, f"import_x{copies}_binfeed_s": t_binfeed,
            f"import_x{copies}_msgspec_s": t_msgspec,
            f"import_x{copies}_binfeed_loop_fps": lines / loop}


def startup(rounds: int) -> dict[str, float]:
    def run(code: str) -> float:
        return best_of(rounds, lambda: subprocess.run([sys.executable, "-c", code],
                                                       check=True, env=dict(
                                                           os.environ, PYTHONPATH=str(ROOT))))
    return {"startup_binfeed_cli_s": run("import binfeed.cli"),
            "startup_msgspec_gzip_s": run("import msgspec, gzip, struct")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true",
                        help="2 rounds, and no import of the 10-fold input (a smoke test)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()
    if args.quick:
        args.rounds = 2
    frames = book_ticker_frames()
    scratch = Path(tempfile.mkdtemp(prefix="binfeed-bench-"))
    try:
        r: dict[str, float] = {"bookTicker_frames": len(frames)}
        r |= c_ingest(frames, args.rounds, scratch)
        r |= python_calls(frames, args.rounds, scratch)
        r |= baselines(frames, args.rounds)
        r |= whole_import(args.rounds, scratch, 1)
        if not args.quick:
            r |= whole_import(max(1, args.rounds // 2), scratch, 10)
        r |= startup(args.rounds)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    ms = r["msgspec"]
    print(f"real bookTicker frames: {int(r['bookTicker_frames'])} (best of {args.rounds})")
    print("frames/s                              M/s    x msgspec   target")
    rows = [("C ingest, compact-form scanner", r["c_fast_path"], ">= 8 M/s, >= 6x"),
            ("C ingest, yyjson only", r["c_yyjson_only"], ""),
            ("C ingest through a subscribed set (the recorder)", r["c_subscribed"], ""),
            ("Python: Ingestor.ingest per frame", r["python_per_frame"], ">= 2 M/s"),
            ("Python: ingest_packed (batch)", r["python_batch_packed"], ">= 5 M/s"),
            ("Python: ingest_batch(list)", r["python_batch_list"], ""),
            ("pure Python: json", r["json"], ""),
            ("pure Python: orjson", r["orjson"], ""),
            ("pure Python: msgspec", r["msgspec"], "")]
    for name, fps, target in rows:
        print(f"{name:36s} {fps / 1e6:6.2f}   {fps / ms:8.1f}x   {target}")
    for copies in (1, 10):
        if f"import_x{copies}_lines" not in r:
            continue
        lines = r[f"import_x{copies}_lines"]
        b, m = r[f"import_x{copies}_binfeed_s"], r[f"import_x{copies}_msgspec_s"]
        print(f"import of both captures x{copies} ({int(lines)} lines), whole process: "
              f"binfeed {b:.3f} s, msgspec importer {m:.3f} s -> {m / b:.2f}x (target >= 3x); "
              f"binfeed's import loop alone {r[f'import_x{copies}_binfeed_loop_fps'] / 1e6:.2f}"
              " M lines/s")
    print(f"start-up: `import binfeed.cli` {r['startup_binfeed_cli_s']:.3f} s, "
          f"`import msgspec, gzip` {r['startup_msgspec_gzip_s']:.3f} s")
    if args.json:
        args.json.write_text(json.dumps(r, indent=2) + "\n")


if __name__ == "__main__":
    main()
