"""Binance decimal strings through the C parser give exactly Python's ``float(text)``.

Decimals are put into bookTicker frames, ingested, and read back from the queue; every
stored double must be bit-identical to ``float(text)``. Checked for:
- every price and quantity in the real captures (bookTicker, trade, depth levels, the REST
  snapshot), all of them;
- generated decimals (hypothesis): any digit strings, Binance-like fixed-point values, the
  shortest and the exact decimal of random doubles, and midpoints between neighbouring
  doubles (round-half-to-even);
- generated text outside the grammar (signs, exponents, underscores, spaces, nan/inf, a
  missing integer or fraction, other scripts' digits...), which must be refused.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from binfeed._ffi import lib
from binfeed.capture import read_frames
from binfeed.ingest import Ingestor
from binfeed.ingest_results import FrameKind
from binfeed.queue import QueueReader, QueueWriter
from binfeed.records import BOOK_TICKER_DTYPE, RecordType

DATA = Path(__file__).resolve().parent / "data" / "binance"
GRAMMAR = re.compile(r"[0-9]+(\.[0-9]+)?")
MAX_LEN = 512  # BF_DECIMAL_MAX_LEN in csrc/src/parse_decimal.h


@dataclass
class Probe:
    """A queue, its parser and a reader: decimals in, stored doubles out."""

    writer: QueueWriter
    ingestor: Ingestor
    reader: QueueReader
    update_id: int = 0

    def frames(self, texts: list[str]) -> list[bytes]:
        out = []
        for i in range(0, len(texts), 4):
            four = (texts[i:i + 4] + ["0"] * 3)[:4]
            self.update_id += 1
            out.append(json.dumps({"u": self.update_id, "s": "DEC", "b": four[0], "B": four[1],
                                   "a": four[2], "A": four[3]}).encode())
        return out

    def stored(self) -> np.ndarray:
        """The prices and quantities of the records stored since the last call, in order."""
        slots = self.reader.poll(1 << 30)
        rows = slots[slots["type"] == RecordType.BOOK_TICKER].view(BOOK_TICKER_DTYPE)
        return np.stack([rows["bid_price"], rows["bid_qty"], rows["ask_price"],
                         rows["ask_qty"]], axis=1).reshape(-1)

    def convert(self, texts: list[str]) -> np.ndarray:
        """Doubles for valid decimals (many at once); fails on any refusal."""
        results = self.ingestor.ingest_batch(self.frames(texts))
        assert set(results) == {FrameKind.BOOK_TICKER}, self.ingestor.last_error
        return self.stored()[: len(texts)]

    def convert_one(self, text: str) -> float | int:
        """The double for ``text`` as the "b" of a frame, or the parser's error status."""
        (frame,) = self.frames([text, "1", "2", "3"])
        rc = self.ingestor.ingest(frame, 0)
        if rc < 0:
            return rc
        assert rc == FrameKind.BOOK_TICKER
        return float(self.stored()[0])


@pytest.fixture(scope="module")
def probe(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Probe]:
    queue = tmp_path_factory.mktemp("decimals") / "q"
    writer = QueueWriter(queue)
    ingestor = Ingestor(writer)
    ingestor.ingest(b'{"u":0,"s":"DEC","b":"0","B":"0","a":"0","A":"0"}', 0)  # the queue exists
    reader = QueueReader(queue)
    reader.poll()
    yield Probe(writer, ingestor, reader)
    reader.close()
    ingestor.close()
    writer.close()


def same(got: float, text: str) -> bool:
    want = float(text)
    return math.copysign(1, got) == math.copysign(1, want) and got == want


# -------------------------------------------------------------------- the real captures


def capture_decimals() -> list[str]:
    """Every price and quantity string in the real captures and excerpts, once each."""
    seen: set[str] = set()

    def walk(value: object) -> None:
        if isinstance(value, str):
            if GRAMMAR.fullmatch(value):
                seen.add(value)
        elif isinstance(value, dict):
            for key, v in value.items():
                if key in ("b", "B", "a", "A", "p", "q", "bids", "asks") or isinstance(v, dict):
                    walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    for path in sorted(DATA.glob("*.gz")):
        for _, _, frame in read_frames(path):
            walk(json.loads(frame))
    for path in sorted((DATA / "excerpts").glob("*.jsonl")):
        for line in path.read_bytes().splitlines():
            walk(json.loads(line))
    return sorted(seen)


def test_every_decimal_of_the_real_captures(probe: Probe) -> None:
    texts = capture_decimals()
    assert len(texts) > 10_000  # depth levels included
    got = probe.convert(texts)
    want = np.array([float(t) for t in texts])
    mismatch = np.flatnonzero(got.view(np.uint64) != want.view(np.uint64))
    assert mismatch.size == 0, [(texts[i], got[i], want[i]) for i in mismatch[:10]]


# -------------------------------------------------------------------- generated decimals

digit_strings = st.from_regex(r"\A[0-9]{1,40}(\.[0-9]{1,40})?\Z")


@st.composite
def binance_like(draw: st.DrawFn) -> str:
    """Fixed-point values as Binance prints them: up to 8 decimals, trailing zeros kept."""
    scale = draw(st.integers(0, 8))
    digits = str(draw(st.integers(0, 10**16))).rjust(scale + 1, "0")
    return digits if scale == 0 else f"{digits[:-scale]}.{digits[-scale:]}"


def positional(value: Decimal) -> str:
    text = format(value, "f")
    return text if "." not in text else text.rstrip("0").rstrip(".") or "0"


finite = st.floats(min_value=0.0, allow_nan=False, allow_infinity=False)


@st.composite
def from_doubles(draw: st.DrawFn) -> str:
    """The shortest decimal of a double, its exact decimal, or the midpoint between it and
    its neighbour above (a tie: round half to even)."""
    x = draw(finite)
    kind = draw(st.sampled_from(["shortest", "exact", "midpoint"]))
    if kind == "shortest":
        return positional(Decimal(repr(x)))
    if kind == "exact":
        return positional(Decimal(x))
    up = math.nextafter(x, math.inf)
    return positional((Decimal(x) + Decimal(up)) / 2 if math.isfinite(up) else Decimal(x))


@settings(max_examples=1500, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.one_of(digit_strings, binance_like(), from_doubles()))
@pytest.mark.slow
def test_generated_decimals_equal_float(probe: Probe, text: str) -> None:
    got = probe.convert_one(text)
    if len(text) > MAX_LEN or math.isinf(float(text)):
        assert got == lib.BF_ENUMBER  # too long, or beyond the largest double
    else:
        assert isinstance(got, float)
        assert same(got, text), (text, got, float(text))


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=st.lists(st.one_of(binance_like(), digit_strings), min_size=1, max_size=200))
def test_batches_of_decimals(probe: Probe, texts: list[str]) -> None:
    got = probe.convert(texts)
    assert all(same(float(g), t) for g, t in zip(got, texts, strict=True))


# -------------------------------------------------------------------- outside the grammar

near_misses = st.one_of(
    st.builds(lambda sign, d: sign + d, st.sampled_from(["-", "+", " ", "\t", "0x"]),
              digit_strings),
    st.builds(lambda d, tail: d + tail, digit_strings,
              st.sampled_from(["e5", "E-3", "e", "_0", " ", ".", "f", "\n", "\x00", "%"])),
    st.builds(lambda d: "." + d, st.from_regex(r"\A[0-9]{1,5}\Z")),
    st.builds(lambda d: d.replace("1", "_1") if "1" in d else "_" + d, digit_strings),
    st.sampled_from(["", "nan", "NaN", "inf", "-inf", "Infinity", "infinity", "١٢٣",
                     "１２", "0.5.5", "1,5", "1e400", "--1", "0b1"]),
)


@settings(max_examples=600, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.one_of(near_misses, st.text(max_size=30)))
@pytest.mark.slow
def test_text_outside_the_grammar_is_refused(probe: Probe, text: str) -> None:
    if GRAMMAR.fullmatch(text) and text.isascii():
        return  # st.text() found a real decimal: covered above
    before = probe.writer.stats().records_written
    assert probe.convert_one(text) == lib.BF_ENUMBER
    assert "decimal string" in probe.ingestor.last_error
    assert probe.writer.stats().records_written == before
