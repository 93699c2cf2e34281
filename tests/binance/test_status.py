"""Status line and summary formatting (pure)."""

from __future__ import annotations

from binfeed.commands.record_status import StatusSnapshot, StreamStatus, status_line, summary_lines


def snap(**kw: object) -> StatusSnapshot:
    base = dict(elapsed=12.34, frames=1000, frames_per_second=250.0, book_tickers=700,
                trades=290, duplicates=3, malformed=1, gaps=2, connections=1,
                connections_opened=2, reconnects=1, rotations=0, stalls=0, last_frame_age=0.25,
                streams=(StreamStatus("btcusdt@bookTicker", None, 0.1),
                         StreamStatus("xrpusdt@trade", 5, None, silent=True)),
                refused=("bad@trade",))
    base.update(kw)
    return StatusSnapshot(**base)  # type: ignore[arg-type]


def test_status_line() -> None:
    line = status_line(snap())
    assert "250 frames/s" in line
    assert "bookTicker 700 trade 290" in line
    assert "btcusdt@bookTicker 0.1s" in line
    assert "xrpusdt@trade 5 SILENT" in line
    assert "conns 1 reconnects 1 gaps 2" in line
    assert "malformed 1" in line
    assert "refused bad@trade" in line
    assert line.endswith("last frame 0.2s ago") or line.endswith("last frame 0.3s ago")
    assert len(status_line(snap(), width=40)) == 40


def test_summary_is_key_value() -> None:
    head, *streams = summary_lines(snap(last_frame_age=None))
    fields = dict(kv.split("=", 1) for kv in head.split()[1:])
    assert head.startswith("record ")
    assert fields["frames"] == "1000"
    assert fields["gaps"] == "2"
    assert fields["refused"] == "bad@trade"
    assert streams == [
        "stream name=btcusdt@bookTicker records=- last_frame_age_s=0.1 silent=no",
        "stream name=xrpusdt@trade records=5 last_frame_age_s=- silent=yes",
    ]
