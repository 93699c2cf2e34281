"""The header-only reader builds in every language its header names (C99, C11, C++11 and
later) with -Wall -Wextra -Werror -Wpedantic, under ASan and UBSan, and a consumer built in
each reads a real queue exactly as the Python reader does; C++98, below the stated minimum,
is refused with the header's own message."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from binfeed.queue import QueueReader, QueueWriter
from binfeed.records import BookTicker, SymbolDefinition, Trade
from tests.queue.helpers import write_book_tickers

pytestmark = pytest.mark.slow  # compiles the consumer once per language

ROOT = Path(__file__).resolve().parents[2]
HEADER = ROOT / "csrc" / "include" / "binfeed_reader.h"
CONSUMER = Path(__file__).with_name("reader_consumer.c")
CC = os.environ.get("CC", "cc")
CXX = os.environ.get("CXX", "c++")
FLAGS = ["-Wall", "-Wextra", "-Werror", "-Wpedantic", "-O1", "-g", "-fno-omit-frame-pointer",
         "-fsanitize=address,undefined", "-fno-sanitize-recover=all"]

#: (compiler, -std, how the header says it does atomics there)
LANGUAGES = [
    (CC, "c99", "gnu"),
    (CC, "c11", "c11"),
    (CXX, "c++11", "std"),
    (CXX, "c++17", "std"),
]


def _compile(compiler: str, std: str, exe: Path) -> subprocess.CompletedProcess[str]:
    lang = ["-x", "c++"] if compiler == CXX else []
    return subprocess.run([compiler, f"-std={std}", *FLAGS, *lang, f"-I{HEADER.parent}",
                           str(CONSUMER), "-o", str(exe)],
                          capture_output=True, text=True, check=False)


@pytest.fixture(scope="module")
def queue(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A queue across several segments (one SYMBOL record per symbol in each)."""
    q = tmp_path_factory.mktemp("languages") / "q"
    with QueueWriter(q, segment_slots=64) as w:
        write_book_tickers(w, 0, 300, ["BTCUSDT", "ETHUSDT"])
        w.append_trade("ETHUSDT", 7, 2500.5, 0.25, trade_ts_us=1, event_ts_us=2,
                       buyer_is_maker=True, best_match=True, recv_ts_ns=3)
    return q


def _python_summary(q: Path) -> dict[str, str]:
    """What the consumer must print, counted by the Python reader."""
    records = list(QueueReader(q).records(include_symbols=True))
    return {
        "records": str(len(records)),
        "book_tickers": str(sum(isinstance(r, BookTicker) for r in records)),
        "trades": str(sum(isinstance(r, Trade) for r in records)),
        "symbols": ",".join(r.symbol for r in records if isinstance(r, SymbolDefinition)),
    }


def test_the_header_states_its_languages() -> None:
    text = HEADER.read_text()
    for line in (" *   C11 or later", " *   C99 ", " *   C++11 or later"):
        assert line in text
    assert "C++98 and C++03 have no std::atomic and fail" in text


@pytest.mark.parametrize(("compiler", "std", "atomics"), LANGUAGES,
                         ids=[std for _, std, _ in LANGUAGES])
def test_a_consumer_builds_and_reads_in(compiler: str, std: str, atomics: str,
                                        queue: Path, tmp_path: Path) -> None:
    exe = tmp_path / f"consumer-{std}"
    built = _compile(compiler, std, exe)
    assert built.returncode == 0, built.stderr
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:halt_on_error=1",
               UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1")
    run = subprocess.run([str(exe), str(queue)], capture_output=True, text=True, env=env,
                         timeout=60, check=False)
    assert run.returncode == 0, run.stderr
    fields = dict(kv.split("=", 1) for kv in run.stdout.split())
    assert fields.pop("lang") == std
    assert fields.pop("atomics") == atomics
    assert fields == _python_summary(queue)
    assert int(fields["book_tickers"]) == 300
    assert fields["symbols"].count("BTCUSDT") >= 5  # one SYMBOL record per segment


@pytest.mark.parametrize("std", ["c++98", "c++03"])
def test_cpp_before_11_is_refused_with_the_headers_message(std: str, tmp_path: Path) -> None:
    built = _compile(CXX, std, tmp_path / "consumer")
    assert built.returncode != 0
    assert "binfeed_reader.h needs C++11 or later (std::atomic)" in built.stderr

