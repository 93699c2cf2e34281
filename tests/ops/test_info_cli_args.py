"""``binfeed info`` refuses bad arguments as bad usage (exit 2) and names the flag."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from binfeed.cli import main
from binfeed.importer import import_captures

TRADE = ('{"stream":"btcusdt@trade","data":{"e":"trade","E":1723161255343,"s":"BTCUSDT",'
         '"t":%d,"p":"61837.63000000","q":"0.02000000","T":1723161255342,"m":true,"M":true}}')


@pytest.fixture
def queue(tmp_path: Path) -> Path:
    """A queue with two gaps: trade ids 1, 5, 9 jump forward twice."""
    capture = tmp_path / "trades.jsonl"
    capture.write_text("".join(f"{i} {TRADE % t}\n" for i, t in enumerate((1, 5, 9), 1)))
    q = tmp_path / "q"
    report = import_captures(q, [capture])
    assert report.records_by_type["gap"] == 2
    return q


@pytest.mark.parametrize("value", ["-5", "-1"])
def test_negative_gaps_is_bad_usage(queue: Path, value: str) -> None:
    result = CliRunner().invoke(main, ["info", str(queue), "--gaps", value])
    assert result.exit_code == 2, result.output
    assert "Invalid value for '--gaps'" in result.stderr
    assert f"{value} is not in the range x>=0" in result.stderr
    assert "more" not in result.output  # no summary with a negative count of gaps


@pytest.mark.parametrize(("value", "listed"), [("0", 0), ("1", 1), ("2", 2)])
def test_gaps_lists_at_most_n_and_counts_all(queue: Path, value: str, listed: int) -> None:
    result = CliRunner().invoke(main, ["info", str(queue), "--gaps", value])
    assert result.exit_code == 0, result.output
    assert "gaps      2" in result.output
    assert result.output.count("btcusdt@trade") == listed  # one line per gap listed
    if listed < 2:
        assert f"... {2 - listed} more (use --gaps N or --json)" in result.output
    else:
        assert "more" not in result.output
