"""Status line and summary formatting (pure)."""

from __future__ import annotations

from binfeed.commands.record_status import StatusSnapshot, StreamStatus, status_line, summary_lines


def snap(**kw: object) -> StatusSnapshot:
    base = dict(elapsed=12.34, frames=1000, frames_per_second=250.0, book_tickers=700,
                trades=290, duplicates=3, malformed=1, gaps=2, connections=1,
                connections_opened=2, reconnects=1, rotations=0, stalls=0, last_frame_age=0.25,
                streams=(StreamStatus("btcusdt@bookTicker", None, 0.1),
                         StreamStatus("xrpusdt@trade", 5, None, silent=True)),
                refused=("bad@trade",), unsubscribed=1234,
                unsubscribed_streams=("ethusdt@bookTicker", "xrpusdt@trade"), held_dropped=7)
    base.update(kw)
    return StatusSnapshot(**base)  # type: ignore[arg-type]


def test_status_line() -> None:
    line = status_line(snap(), width=400)
    assert "250 frames/s" in line
    assert "bookTicker 700 trade 290" in line
    assert "btcusdt@bookTicker 100.0 ms" in line
    assert "xrpusdt@trade 5 SILENT" in line
    assert "conns 1 reconnects 1 gaps 2" in line
    assert "malformed 1" in line
    assert "refused bad@trade" in line
    assert "| last frame 250.0 ms ago |" in line
    assert line.endswith("| down last 0 us max 0 us total 0 us")  # after one reconnect
    assert "| no frame yet |" in status_line(snap(last_frame_age=None), width=400)
    assert "unsubscribed 1,234" in line
    assert "held dropped 7" in line
    assert "unsubscribed" not in status_line(snap(unsubscribed=0))
    assert len(status_line(snap(), width=40)) == 40
    assert status_line(snap(reconnects=0), width=300).endswith(" ago")  # no drop: none
    down = status_line(snap(downtime_last=0.042, downtime_max=0.25, downtime_total=1.5,
                            down_now=1), width=300)
    assert down.endswith("| down last 42.0 ms max 250.0 ms total 1.50 s DOWN NOW")


def test_summary_is_key_value() -> None:
    head, *streams = summary_lines(snap(last_frame_age=None))
    fields = dict(kv.split("=", 1) for kv in head.split()[1:])
    assert head.startswith("record ")
    assert fields["frames"] == "1000"
    assert fields["gaps"] == "2"
    assert fields["refused"] == "bad@trade"
    assert fields["unsubscribed"] == "1234"
    assert fields["unsubscribed_streams"] == "ethusdt@bookTicker,xrpusdt@trade"
    assert fields["held_dropped"] == "7"
    empty = summary_lines(snap(unsubscribed=0, unsubscribed_streams=(), held_dropped=0))[0]
    assert "unsubscribed=0 unsubscribed_streams=- held_dropped=0" in empty
    assert fields["downtime_last_s"] == fields["downtime_total_s"] == "0.000"
    head, *_ = summary_lines(snap(downtime_last=0.0421, downtime_max=0.25, downtime_total=1.5))
    fields = dict(kv.split("=", 1) for kv in head.split()[1:])
    assert (fields["downtime_last_s"], fields["downtime_max_s"],
            fields["downtime_total_s"]) == ("0.042", "0.250", "1.500")
    assert streams == [
        "stream name=btcusdt@bookTicker records=- last_frame_age_s=0.1 silent=no",
        "stream name=xrpusdt@trade records=5 last_frame_age_s=- silent=yes",
    ]
