"""Runs every benchmark and prints its figures (what `./dev bench` does).

C programs in benchmarks/c/ are compiled with -O2 against binfeed's sources first; Python
benchmarks run in this interpreter. Each benchmark measures its baselines in the same run.
Copy the output into benchmarks/README.md with the date and the machine.

Usage: python benchmarks/run_all.py [--quick] [--only NAME[,NAME...]]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CC = os.environ.get("CC", "cc")
C_FLAGS = ["-O2", "-std=c11", "-D_GNU_SOURCE", "-DYYJSON_DISABLE_WRITER=1",
           "-DYYJSON_DISABLE_UTILS=1", "-DYYJSON_DISABLE_INCR_READER=1",
           f"-I{ROOT / 'csrc' / 'include'}", f"-I{ROOT / 'csrc' / 'src'}",
           f"-I{ROOT / 'csrc' / 'vendor' / 'yyjson'}"]


def c_sources() -> list[str]:
    srcs = sorted(str(p) for p in (ROOT / "csrc" / "src").glob("*.c"))
    return [*srcs, str(ROOT / "csrc" / "vendor" / "yyjson" / "yyjson.c")]


def build_c(name: str, out_dir: Path) -> Path:
    exe = out_dir / name
    subprocess.run([CC, *C_FLAGS, str(HERE / "c" / f"{name}.c"), *c_sources(), "-o", str(exe),
                    "-lpthread", "-lm"], check=True)
    return exe


def run(title: str, cmd: list[str]) -> None:
    print(f"\n## {title}\n$ {' '.join(cmd)}", flush=True)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, check=False)
    print(f"(exit {proc.returncode}, {time.perf_counter() - t0:.1f} s)", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="smaller runs (a smoke test)")
    ap.add_argument("--only", default="", help="comma-separated subset: queue_c, parse_c, "
                    "queue, live, ingest, tables, durability, machine, recorder, reconnect")
    args = ap.parse_args()
    only = {s for s in args.only.split(",") if s}
    print(f"# binfeed benchmarks, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, {CC}")
    py = sys.executable
    with tempfile.TemporaryDirectory(prefix="binfeed-bench-") as tmp:
        out = Path(tmp)
        if shutil.which(CC):
            if not only or "queue_c" in only:
                exe = build_c("bench_queue", out)
                run("C queue: append, reader scan, crc, cross-process latency",
                    [str(exe), "/dev/shm", "2000000" if args.quick else "10000000"])
            if (not only or "parse_c" in only) and (HERE / "c" / "bench_parse.c").exists():
                exe = build_c("bench_parse", out)
                run("C parser: real frames -> records", [str(exe)])
        if not only or "queue" in only:
            run("Python queue API", [py, str(HERE / "bench_queue.py"), "--records",
                                     "500000" if args.quick else "2000000"])
        if (not only or "ingest" in only) and (HERE / "bench_ingest.py").exists():
            run("Ingest: C parser vs json / orjson / msgspec; import vs msgspec importer",
                [py, str(HERE / "bench_ingest.py"), *(["--quick"] if args.quick else [])])
        if not only or "live" in only:
            run("Python live API: tail / atail throughput and hand-out latency",
                [py, str(HERE / "bench_live.py"), "--records",
                 "200000" if args.quick else "600000"])
        if not only or "tables" in only:
            run("Tables: binfeed.open to Arrow, pandas, polars; export",
                [py, str(HERE / "bench_tables.py"), "--records",
                 "1000000" if args.quick else "10000000"])
        if not only or "durability" in only:
            run("Durability: the cost of each --sync level",
                [py, str(HERE / "bench_durability.py"), *(["--repeat", "1"] if args.quick else [])])
        if not only or "machine" in only:
            run("Connection machine: receive_frames per frame vs a bare loop, no network",
                [py, str(HERE / "bench_machine.py"), *(["--reads", "50000"] if args.quick else [])])
        if (not only or "recorder" in only) and (HERE / "bench_recorder.py").exists():
            run("Recorder over loopback vs a bare websockets client",
                [py, str(HERE / "bench_recorder.py"), *(["--quick"] if args.quick else [])])
        if not only or "reconnect" in only:
            run("Recorder: downtime per drop on a link cut every 1,500 frames",
                [py, str(HERE / "bench_reconnect.py"),
                 *(["--seconds", "4"] if args.quick else [])])


if __name__ == "__main__":
    main()
