#!/usr/bin/env python3
"""A pure-Python capture importer built on msgspec: the baseline for ``binfeed import``.

It does the same work as ``binfeed import``, written the fast way one would write it in
Python: gzip by magic bytes, large blocks split into lines, typed msgspec decoding of the
combined-stream envelope and of bookTicker / trade payloads, float() for prices and
quantities, per-stream duplicate and trade-gap detection, and 128-byte records (the slot
layout of binfeed_reader.h, without the checksum) appended to an output file. It prints a
one-line summary. It is less strict than binfeed (float() accepts "1e5", " 1", "1_0").

    python benchmarks/msgspec_importer.py OUT_FILE CAPTURE...
"""

from __future__ import annotations

import gzip
import struct
import sys
import time

import msgspec


class BookTicker(msgspec.Struct):
    u: int
    s: str
    b: str
    B: str
    a: str
    A: str
    E: int = 0


class Trade(msgspec.Struct):
    E: int
    s: str
    t: int
    p: str
    q: str
    T: int
    m: bool
    M: bool | None = None


class Envelope(msgspec.Struct):
    stream: str
    data: msgspec.Raw


# slot: crc32c u32 | type u16 | flags u16 | seq u64 | recv u64 | body (104 bytes)
BOOK = struct.Struct("<IHHQQQddddQ56x")
TRADE = struct.Struct("<IHHQQddQQQQB7x48x")
GAP = struct.Struct("<IHHQQQIIQQ72x")
assert BOOK.size == TRADE.size == GAP.size == 128

BLOCK = 1 << 22
FLUSH = 1 << 16  # records per write


def lines_of(path: str):
    with open(path, "rb") as raw:
        f = gzip.GzipFile(fileobj=raw) if raw.peek(2)[:2] == b"\x1f\x8b" else raw
        tail = b""
        while True:
            block = f.read(BLOCK)
            if not block:
                break
            block = tail + block
            cut = block.rfind(b"\n")
            tail = block[cut + 1:]
            yield from block[:cut].split(b"\n")
        if tail:
            yield tail


def main(out_path: str, files: list[str]) -> None:
    decode_env = msgspec.json.Decoder(Envelope).decode
    decode_book = msgspec.json.Decoder(BookTicker).decode
    decode_trade = msgspec.json.Decoder(Trade).decode
    pack_book, pack_trade, pack_gap = BOOK.pack, TRADE.pack, GAP.pack
    symbols: dict[str, int] = {}
    last: dict[tuple[int, int], int] = {}
    out: list[bytes] = []
    counts = {"bookTicker": 0, "trade": 0, "gap": 0, "duplicate": 0, "unstored": 0,
              "malformed": 0}
    frames = 0
    start = time.perf_counter()
    with open(out_path, "wb") as sink:
        for path in files:
            for line in lines_of(path):
                if not line:
                    continue
                frames += 1
                stamp, _, frame = line.partition(b" ")
                recv = int(stamp)
                try:
                    try:
                        env = decode_env(frame)
                    except msgspec.ValidationError:  # not an envelope: a REST snapshot...
                        msgspec.json.decode(frame)
                        counts["unstored"] += 1
                        continue
                    kind = env.stream[env.stream.rfind("@") + 1:]
                    if kind == "bookTicker":
                        d = decode_book(env.data)
                        sid = symbols.setdefault(d.s.upper(), len(symbols) + 1)
                        key = (sid, 1)
                        if d.u <= last.get(key, -1):
                            counts["duplicate"] += 1
                            continue
                        last[key] = d.u
                        out.append(pack_book(0, 1, 0, d.u, recv, d.E, float(d.b), float(d.B),
                                             float(d.a), float(d.A), sid))
                        counts["bookTicker"] += 1
                    elif kind == "trade":
                        d = decode_trade(env.data)
                        sid = symbols.setdefault(d.s.upper(), len(symbols) + 1)
                        key = (sid, 2)
                        prev = last.get(key, -1)
                        if d.t <= prev:
                            counts["duplicate"] += 1
                            continue
                        if prev >= 0 and d.t != prev + 1:
                            out.append(pack_gap(0, 17, 0, 0, recv, sid, 2, 1, prev, d.t))
                            counts["gap"] += 1
                        last[key] = d.t
                        flags = (1 if d.m else 0) | (0 if d.M is None else 4 | (2 if d.M else 0))
                        out.append(pack_trade(0, 2, 0, d.t, recv, float(d.p), float(d.q), d.t,
                                              d.T, d.E, sid, flags))
                        counts["trade"] += 1
                    else:
                        counts["unstored"] += 1
                except (msgspec.DecodeError, msgspec.ValidationError, ValueError):
                    counts["malformed"] += 1
                if len(out) >= FLUSH:
                    sink.write(b"".join(out))
                    out.clear()
        sink.write(b"".join(out))
    elapsed = time.perf_counter() - start
    print(f"imported {frames} frames in {elapsed:.2f} s ({frames / elapsed:,.0f} frames/s): "
          + ", ".join(f"{k} {v}" for k, v in counts.items()))


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2:])
