"""The one formatter of sizes, times and durations (binfeed.display)."""

from __future__ import annotations

import pytest

from binfeed.display import duration, exact_duration, exact_size, size, utc_time


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
