"""The recorder end to end on 127.0.0.1: real server, real captures, real parser and queue."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from binfeed.binance.server import Fault, ServerConfig, open_server
from binfeed.binance.sources import SourceFrame, list_source
from binfeed.binance.streams import StreamKind
from binfeed.binance.supervisor import open_recorder
from binfeed.records import ConnectionEvent, GapReason

from .recorder_support import (
    assert_contiguous,
    assert_exact_subsequence,
    capture_frames,
    config_for,
    expected_by_stream,
    idle,
    read_queue,
    record_until,
    values_of,
)

# a recorder against the loopback server: seconds each
pytestmark = [pytest.mark.anyio, pytest.mark.slow]


async def test_every_frame_recorded_once_with_exact_values(tmp_path: Path) -> None:
    frames = capture_frames()
    async with open_server(list_source(frames), ServerConfig(speed=None,
                                                             ping_interval=0.4)) as server:
        config = config_for(server, ["btcusdt", "ethusdt"])
        await record_until(config, tmp_path / "q", idle(server), limit=60)
    expected = expected_by_stream(frames, config.streams)
    stored = read_queue(tmp_path / "q")
    assert set(stored.by_stream) == {s.name for s in config.streams}
    for name, want in expected.items():
        assert stored.by_stream[name] == want, name
    assert stored.total == 28040 + 9757 + 24077 + 6106
    assert stored.gaps == []
    ts = [t for v in stored.recv_ts.values() for t in v]
    assert min(ts) > 1_700_000_000 * 10**9  # local receive times, ns since the epoch
    assert [c.event for c in stored.connections] == [ConnectionEvent.CONNECTED,
                                                     ConnectionEvent.SUBSCRIBED]
    assert server.connections[0].subscriptions == [s.name for s in config.streams]


@pytest.mark.parametrize(
    ("fault", "close_code"),
    [
        (Fault("abort", after_frames=1500), 1006),
        (Fault("reset", after_frames=1500), 1006),
        (Fault("close", after_frames=1500, code=1011, reason="Internal error"), 1011),
        (Fault("close", after_frames=1500, code=1001, reason="Going away"), 1001),
        (Fault("close", after_frames=1500, code=1000), 1000),
    ],
    ids=["abort", "reset", "1011", "1001", "1000"],
)
async def test_reconnects_resubscribes_and_marks_the_gap(tmp_path: Path, fault: Fault,
                                                         close_code: int) -> None:
    frames = [f for f in capture_frames() if f.symbol == "btcusdt"][:6000]
    config_server = ServerConfig(speed=None, ping_interval=0.4, faults=[fault])
    async with open_server(list_source(frames), config_server) as server:
        # streams by SUBSCRIBE only, so resubscription is visible to the server
        config = config_for(server, ["btcusdt"], max_url_length=0)
        recorder = await record_until(config, tmp_path / "q", idle(server), limit=30)
    assert len(server.connections) == 2
    first, second = server.connections
    assert first.faults_applied == [fault.action]
    assert first.subscriptions == second.subscriptions == ["btcusdt@bookTicker",
                                                          "btcusdt@trade"]
    assert second.control_messages >= 1  # SUBSCRIBE sent again
    assert recorder.stats.reconnects == 1
    stored = read_queue(tmp_path / "q")
    expected = expected_by_stream(frames, config.streams)
    for name, want in expected.items():
        assert_exact_subsequence(stored.by_stream[name], want)
        assert stored.by_stream[name][-1] == want[-1]  # recorded to the end after the loss
    # a reset may discard what the kernel still held for the recorder; a close never does
    assert stored.total >= second.frames_sent + (0 if fault.action == "reset" else 1500)
    (lost,) = stored.events(ConnectionEvent.DISCONNECTED)
    assert lost.code == close_code
    assert len(stored.events(ConnectionEvent.CONNECTED)) == 2
    assert {g.reason for g in stored.gaps} == {GapReason.DISCONNECTED}
    # bookTicker ids jump, so only a gap record can say frames may be missing; a trade gap
    # is written unless the next trade id proves continuity
    assert "btcusdt@bookTicker" in {g.stream_name for g in stored.gaps}
    bt_gap = next(g for g in stored.gaps if g.stream_name == "btcusdt@bookTicker")
    seqs = [r[0] for r in stored.by_stream["btcusdt@bookTicker"]]
    assert bt_gap.last_seq in seqs
    assert bt_gap.next_seq == seqs[seqs.index(bt_gap.last_seq) + 1]


async def test_stall_is_detected_and_replaced(tmp_path: Path) -> None:
    frames = [f for f in capture_frames() if f.symbol == "btcusdt"][:4000]
    config_server = ServerConfig(speed=None, ping_interval=0.1,
                                 faults=[Fault("stall", after_frames=1000)])
    async with open_server(list_source(frames), config_server) as server:
        config = config_for(server, ["btcusdt"], stall_timeout=0.5)
        recorder = await record_until(config, tmp_path / "q", idle(server), limit=30)
    assert recorder.stats.stalls == 1
    assert len(server.connections) == 2
    stored = read_queue(tmp_path / "q")
    (stall,) = stored.events(ConnectionEvent.STALLED)
    assert stall.code >= 500  # ms without a frame
    assert GapReason.STALLED in {g.reason for g in stored.gaps}
    expected = expected_by_stream(frames, config.streams)
    for name, want in expected.items():
        assert_exact_subsequence(stored.by_stream[name], want)
        assert stored.by_stream[name][-1] == want[-1]


async def test_server_shutdown_rotates_without_loss_or_doubling(tmp_path: Path) -> None:
    frames = [f for f in capture_frames() if f.symbol == "btcusdt"][:8000]
    # paced so that frames keep flowing on both connections during the overlap
    config_server = ServerConfig(speed=60.0, ping_interval=0.4,
                                 faults=[Fault("shutdown", after_frames=800, grace=1.5)])
    async with open_server(list_source(frames), config_server) as server:
        config = config_for(server, ["btcusdt"], overlap=0.3)
        recorder = await record_until(
            config, tmp_path / "q",
            lambda r: r.stats.rotations == 1 and len(server.connections) == 2
            and server.connections[0].closed_at is not None
            and server.connections[1].frames_sent > 1500, limit=30)
    assert recorder.stats.reconnects == 0
    assert recorder.stats.server_shutdowns == 1
    stored = read_queue(tmp_path / "q")
    assert stored.gaps == []
    assert len(stored.events(ConnectionEvent.SERVER_SHUTDOWN)) == 1
    assert len(stored.events(ConnectionEvent.ROTATED)) == 1
    expected = expected_by_stream(frames, config.streams)
    for name, want in expected.items():
        assert_contiguous(stored.by_stream[name], want)
    assert stored.total > 2000


async def test_planned_rotation_before_the_cut_loses_and_doubles_nothing(tmp_path: Path) -> None:
    frames = [f for f in capture_frames() if f.symbol == "btcusdt"][:12000]
    async with open_server(list_source(frames), ServerConfig(speed=20.0,
                                                             ping_interval=0.4)) as server:
        config = config_for(server, ["btcusdt"], max_age=0.8, overlap=0.2)
        recorder = await record_until(config, tmp_path / "q",
                                      lambda r: r.stats.rotations >= 3, limit=30)
    assert recorder.stats.reconnects == 0
    stored = read_queue(tmp_path / "q")
    assert stored.gaps == []
    assert len(stored.events(ConnectionEvent.ROTATED)) >= 3
    expected = expected_by_stream(frames, config.streams)
    for name, want in expected.items():
        assert_contiguous(stored.by_stream[name], want)


async def test_refused_subscription_is_in_the_queue(tmp_path: Path) -> None:
    frames = [f for f in capture_frames() if f.symbol == "btcusdt"][:2000]
    config_server = ServerConfig(speed=None, ping_interval=0.4, refuse=frozenset({"xyzusdt"}))
    async with open_server(list_source(frames), config_server) as server:
        config = config_for(server, ["btcusdt", "xyzusdt"], kinds=[StreamKind.BOOK_TICKER])
        recorder = await record_until(config, tmp_path / "q", idle(server), limit=30)
    assert recorder.stats.refused == ["xyzusdt@bookTicker"]
    stored = read_queue(tmp_path / "q")
    (refused,) = stored.events(ConnectionEvent.SUBSCRIBE_REFUSED)
    assert refused.code == 2
    assert refused.detail.startswith("xyzusdt@bookTicker: Invalid request")
    want = expected_by_stream(frames, config.streams)["btcusdt@bookTicker"]
    assert stored.by_stream["btcusdt@bookTicker"] == want
    # the URL naming the refused stream was answered with HTTP 400, then SUBSCRIBE
    assert server.rejections[0][1] == 400


async def test_subscribe_pacing_counted_by_the_server(tmp_path: Path) -> None:
    frames = [f for f in capture_frames() if f.symbol == "btcusdt"][:200]
    symbols = ["btcusdt"] + [f"sym{i}usdt" for i in range(9)]
    # Pings every 0.5 s: the recorder's pongs count with its SUBSCRIBEs (Binance allows 5
    # per second; binfeed sends at most 4 per 1.1 s).
    config_server = ServerConfig(speed=None, ping_interval=0.5)
    async with open_server(list_source(frames), config_server) as server:
        config = config_for(server, symbols, kinds=[StreamKind.BOOK_TICKER],
                            max_url_length=0, params_per_message=1)
        await record_until(
            config, tmp_path / "q",
            lambda r: len(r.stats.confirmed) == len(symbols), limit=30)
    (conn,) = server.connections
    assert conn.control_messages == len(symbols)
    assert not conn.closed_by_rate_limit
    assert conn.max_incoming_per_window <= 4
    assert conn.pongs_received >= 1
    assert sorted(conn.subscriptions) == sorted(f"{s}@bookTicker" for s in symbols)


async def test_malformed_frames_are_counted_and_the_connection_kept(tmp_path: Path) -> None:
    good = [f for f in capture_frames() if f.name == "btcusdt@bookTicker"][:300]
    bad_payloads = [
        '{"u":1,"s":"BTCUSDT","b":"nan","B":"1.0","a":"2.0","A":"1.0"}',
        '{"u":1,"s":"BTCUSDT","b":"1e5","B":"1.0","a":"2.0","A":"1.0"}',
        '{"u":1,"s":"BTCUSDT","b":"61837.63","B":"","a":"2.0","A":"1.0"}',
        "not json at all",
        '{"u":1,"s":"BTCUSDT","b":"61837.63"}',
    ]
    frames = list(good)
    for i, payload in enumerate(bad_payloads):
        at = 50 * (i + 1)
        frames.insert(at, SourceFrame(frames[at].recv_ns, "btcusdt", "bookTicker", payload))
    async with open_server(list_source(frames), ServerConfig(speed=None,
                                                             ping_interval=0.4)) as server:
        config = config_for(server, ["btcusdt"], kinds=[StreamKind.BOOK_TICKER])
        recorder = await record_until(config, tmp_path / "q", idle(server), limit=30)
    counters = recorder.ingestor_counters
    assert counters.errors == len(bad_payloads)
    assert counters.book_tickers == len(good)
    assert len(server.connections) == 1
    assert recorder.stats.reconnects == 0
    stored = read_queue(tmp_path / "q")
    assert stored.by_stream["btcusdt@bookTicker"] == [values_of(f) for f in good]


async def test_a_silent_stream_is_reported_not_reconnected(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from binfeed.commands.record_status import RecordingStatus

    frames = [f for f in capture_frames() if f.symbol == "btcusdt"][:3000]
    async with open_server(list_source(frames), ServerConfig(speed=10.0,
                                                             ping_interval=0.4)) as server:
        # nosuchusdt: accepted by the server (as Binance does), then nothing ever comes
        config = config_for(server, ["btcusdt", "nosuchusdt"], kinds=[StreamKind.BOOK_TICKER],
                            silent_after=0.5)
        with open_recorder(tmp_path / "q", config) as recorder:
            status = RecordingStatus(recorder)
            async with anyio.create_task_group() as tg:
                await tg.start(recorder.run)
                tg.start_soon(status.track, 0.1)
                await anyio.sleep(1.2)
                snapshot = status.snapshot()
                tg.cancel_scope.cancel()
    silent = {s.name: s.silent for s in snapshot.streams}
    assert silent == {"btcusdt@bookTicker": False, "nosuchusdt@bookTicker": True}
    assert recorder.stats.reconnects == 0
    assert len(server.connections) == 1
    assert any("nosuchusdt@bookTicker" in r.getMessage() and r.levelname == "WARNING"
               for r in caplog.records)
