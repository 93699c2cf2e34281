"""The one formatter of sizes, times and durations (binfeed.display)."""

from __future__ import annotations

import pytest

from binfeed.display import (
    clip,
    duration,
    exact_duration,
    exact_size,
    ljust,
    size,
    utc_time,
    width,
)


@pytest.mark.parametrize(("n", "text"), [
    (None, "-"), (0, "0 B"), (1023, "1023 B"), (1024, "1.0 KiB"), (1536, "1.5 KiB"),
    (1024**2 - 1, "1024.0 KiB"), (5 * 1024**3, "5.0 GiB"), (3 * 1024**4, "3.0 TiB"),
    (2048 * 1024**4, "2048.0 TiB"),
])
def test_size(n: int | None, text: str) -> None:
    assert size(n) == text


def test_exact_forms_read_back() -> None:
    assert [exact_size(n) for n in (1, 1000, 1024, 1536, 50 * 1024**3, 1024**4)] == [
        "1B", "1000B", "1KiB", "1536B", "50GiB", "1TiB"]
    assert [exact_duration(s) for s in (1.5, 90, 120, 36 * 3600, 7 * 86400)] == [
        "1.5s", "90s", "2m", "36h", "1w"]


def test_times() -> None:
    assert utc_time(None) == utc_time(0) == "-"
    assert utc_time(1_723_161_600_123_456_789) == "2024-08-09 00:00:00.123Z"
    assert duration(None) == "-"
    assert duration(-0.5) == "-500.0 ms (clock skew)"


def test_columns_count_terminal_cells() -> None:
    # CJK and fullwidth characters take two cells, combining marks none
    texts = ("BTCUSDT", "币安人生USDT", "ＡＢ", "e\u0301", "")
    assert [width(t) for t in texts] == [7, 12, 4, 1, 0]
    assert ljust("币安人生USDT", 14) == "币安人生USDT  "
    assert ljust("BTCUSDT", 14) == "BTCUSDT       "
    assert ljust("币安人生币安人生", 14) == "币安人生币安人生"  # wider than the column: as it is
    assert clip("币安人生USDT", 5) == "币安"  # never half a wide character
    assert clip("币安人生USDT", 12) == "币安人生USDT"
    assert clip("BTCUSDT", 3) == "BTC"
