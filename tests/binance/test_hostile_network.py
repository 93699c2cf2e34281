"""The recorder under a hostile network, on 127.0.0.1: a link dropped every half second, a
recorder process stopped for longer than its stall timeout, a ping flood. Real server
(binfeed.binance.server), real ``binfeed record`` processes and real signals, real queue."""

from __future__ import annotations

import itertools
import signal
import statistics
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import anyio
import numpy as np
import pytest

from binfeed.binance.endpoint import Endpoint
from binfeed.binance.server import BinanceServer, Fault, ServerConfig, open_server
from binfeed.binance.sources import SourceFrame, list_source
from binfeed.binance.streams import StreamKind, stream_ids
from binfeed.binance.transport import open_websocket
from binfeed.queue import QueueReader
from binfeed.records import BookTicker, Connection, ConnectionEvent, RecordType, Trade

from .recorder_support import (
    BOTH,
    Stored,
    assert_exact_subsequence,
    capture_frames,
    config_for,
    count_records,
    expected_by_stream,
    read_queue,
    record_until,
)

pytestmark = [pytest.mark.anyio, pytest.mark.slow]  # seconds of real time each
RECORD = [sys.executable, "-c", "from binfeed.commands.record_cmd import record; record()"]
BTC_BOTH = stream_ids(["btcusdt"], BOTH)


def paced(count: int, per_second: float) -> list[SourceFrame]:
    """Real btcusdt frames (bookTicker and trade, in capture order) re-timed to a steady
    ``per_second``: the server's pace is then known exactly."""
    frames = [f for f in capture_frames()
              if f.symbol == "btcusdt" and f.stream in ("bookTicker", "trade")][:count]
    assert len(frames) == count
    t0 = 1_723_161_600 * 10**9
    return [f._replace(recv_ns=t0 + round(i * 1e9 / per_second)) for i, f in enumerate(frames)]


def assert_every_hole_is_a_gap(stored: Stored, frames: Sequence[SourceFrame]) -> None:
    """Wherever frames of a stream are missing between two stored records, a GAP record
    says so, naming exactly those two records."""
    for name, want in expected_by_stream(frames, BTC_BOTH).items():
        position = {v[0]: i for i, v in enumerate(want)}
        gaps = {(g.last_seq, g.next_seq) for g in stored.gaps if g.stream_name == name}
        got = stored.by_stream[name]
        for a, b in itertools.pairwise(got):
            if position[b[0]] != position[a[0]] + 1:
                assert (a[0], b[0]) in gaps, f"{name}: frames missing after {a[0]}, no GAP"


def downtimes_in_queue(queue: Path) -> list[float]:
    """Per drop, as the queue alone shows it: seconds from the DISCONNECTED record (written
    when the recorder saw the connection end) to the next market-data record."""
    out: list[float] = []
    lost_at: int | None = None
    with QueueReader(queue) as reader:
        for rec in reader.records():
            if isinstance(rec, Connection) and rec.event == ConnectionEvent.DISCONNECTED:
                lost_at = rec.recv_ts_ns
            elif isinstance(rec, BookTicker | Trade) and lost_at is not None:
                out.append((rec.recv_ts_ns - lost_at) / 1e9)
                lost_at = None
    return out


async def polled_until(condition: Callable[[], bool], seconds: float) -> None:
    for _ in range(int(seconds / 0.02)):
        if condition():
            return
        await anyio.sleep(0.02)
    raise AssertionError(f"not reached within {seconds} s")


MARKET = np.array([RecordType.BOOK_TICKER, RecordType.TRADE], dtype=np.uint16)


def market_slots(queue: Path) -> int:
    """bookTicker and trade records in the queue, counted without decoding them."""
    with QueueReader(queue) as reader:
        n = 0
        while len(batch := reader.poll(1 << 16)):
            n += int(np.isin(batch["type"], MARKET).sum())
        return n


def summary_of(out: str) -> dict[str, str]:
    head = next(line for line in out.splitlines() if line.startswith("record "))
    return dict(kv.split("=", 1) for kv in head.split()[1:])


async def run_record(server: BinanceServer, queue: Path, *extra: str) -> tuple[int, str, str]:
    """``binfeed record`` of btcusdt bookTicker and trade until the server played
    everything (and 0.5 s more), then SIGTERM: (exit status, stdout, stderr)."""
    args = [*RECORD, "-q", str(queue), "-s", "btcusdt", "--streams", "bookTicker,trade",
            "--url", server.url, *extra]
    async with await anyio.open_process(args) as proc:
        with anyio.fail_after(60):
            await server.finished.wait()
        await anyio.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        with anyio.fail_after(15):
            code = await proc.wait()
        out = (await proc.stdout.receive(1 << 20)).decode() if proc.stdout else ""
        err = (await proc.stderr.receive(1 << 20)).decode() if proc.stderr else ""
    return code, out, err


# -- reconnect policy -----------------------------------------------------------------


async def test_a_link_dropped_every_1500_frames_keeps_most_of_the_feed(tmp_path: Path) -> None:
    # 3,000 frames/s for 12 s, the TCP connection aborted every 1,500 frames (every 0.5 s):
    # a connection that subscribed and stored data is replaced at once every time, within
    # the attempt budget (a burst of 10, then 0.8 per second).
    frames = paced(36_000, 3000.0)
    drops = Fault("abort", after_frames=1500, connection=0)
    config = ServerConfig(speed=1.0, ping_interval=20.0, faults=[drops])
    queue = tmp_path / "q"
    async with open_server(list_source(frames), config) as server:
        code, out, err = await run_record(server, queue)
    assert code == 0, err
    stored = read_queue(queue)
    assert server.shared.frames_played == len(frames)  # what the server had to send
    assert stored.total >= len(frames) // 2, f"only {stored.total} of {len(frames)}: {err}"
    for name, want in expected_by_stream(frames, BTC_BOTH).items():
        assert_exact_subsequence(stored.by_stream[name], want)  # each frame once, exact
    assert_every_hole_is_a_gap(stored, frames)
    lost = len(stored.events(ConnectionEvent.DISCONNECTED))
    dropped = sum(1 for c in server.connections if "abort" in c.faults_applied)
    # Every drop is in the queue, once. Every connection but the last was dropped; the last
    # may be too, when it reached 1,500 frames as the feed ended and the next attempt then
    # waited for the attempt budget until the recorder was stopped.
    assert lost == dropped >= 15
    assert dropped >= len(server.connections) - 1
    summary = summary_of(out)
    assert int(summary["reconnects"]) == lost
    down = downtimes_in_queue(queue)  # per drop followed by data (the last may not be)
    assert lost - 1 <= len(down) <= lost
    # bookTicker ids jump, so after each of those drops only a GAP can say what is missing
    assert sum(1 for g in stored.gaps if g.stream_name == "btcusdt@bookTicker") == len(down)
    # the first drops, before the budget's burst is used up: back at once (the target is
    # 100 ms, docs/recorder.md measures about 15 ms; the bound leaves room for a loaded
    # machine)
    assert statistics.median(down[:8]) < 0.25, down
    assert float(summary["downtime_max_s"]) >= float(summary["downtime_last_s"]) > 0
    # the total also counts an outage still going on at the end (at most the last second)
    assert float(summary["downtime_max_s"]) <= float(summary["downtime_total_s"])
    assert float(summary["downtime_total_s"]) <= sum(down) + 1.0


async def test_frames_flow_again_at_once_after_each_drop(tmp_path: Path) -> None:
    # The library's view of the same policy: eight drops, each followed by frames within
    # a generous bound (the target is 100 ms; benchmarks/bench_reconnect.py measures about
    # 15 ms); the recorder's own downtime figures (drop to subscribed) agree with the
    # queue's (drop to the next record).
    frames = paced(13_500, 3000.0)
    config_server = ServerConfig(speed=1.0, ping_interval=20.0,
                                 faults=[Fault("abort", after_frames=1500, connection=0)])
    async with open_server(list_source(frames), config_server) as server:
        config = config_for(server, ["btcusdt"], backoff_base=0.5, backoff_cap=60.0)

        def done(_: object) -> bool:
            return server.finished.is_set()

        recorder = await record_until(config, tmp_path / "q", done, limit=30)
    down = downtimes_in_queue(tmp_path / "q")
    assert len(down) == len(server.connections) - 1 == 8
    assert max(down) < 1.0, down
    assert statistics.median(down) < 0.25, down
    figures = recorder.plan.downtime(0.0)
    assert recorder.stats.recovered == 8
    assert figures.down_now == 0
    assert figures.max <= max(down) + 0.01
    assert figures.total <= sum(down) + 0.01


# -- stall detection that reads first ------------------------------------------------


async def test_a_stopped_recorder_keeps_every_frame_the_kernel_buffered(tmp_path: Path) -> None:
    # SIGSTOP for 5 s with --stall-timeout 3 while the server sends 3,000 frames/s: on
    # SIGCONT the recorder reads what the kernel kept for it instead of declaring a stall,
    # and loses no frame the server sent.
    frames = paced(24_000, 3000.0)
    queue = tmp_path / "q"
    async with open_server(list_source(frames), speed=1.0, ping_interval=1.0) as server:
        args = [*RECORD, "-q", str(queue), "-s", "btcusdt", "--streams", "bookTicker,trade",
                "--url", server.url, "--stall-timeout", "3"]
        async with await anyio.open_process(args) as proc:
            await polled_until(lambda: count_records(queue) >= 2000, 20.0)
            proc.send_signal(signal.SIGSTOP)
            await anyio.sleep(5.0)
            proc.send_signal(signal.SIGCONT)
            with anyio.fail_after(60):
                await server.finished.wait()
            # Time to read the backlog: a fraction of a second alone, seconds on a loaded
            # machine (a fixed 0.5 s once ended the recorder with 21,000 frames unread).
            # Counted from the slots' types (numpy, no records decoded), so that the server
            # in this process keeps up; a frame that is lost still fails below.
            with anyio.move_on_after(30):
                while market_slots(queue) < len(frames):  # noqa: ASYNC110
                    await anyio.sleep(0.05)
            proc.send_signal(signal.SIGTERM)
            with anyio.fail_after(15):
                code = await proc.wait()
            err = (await proc.stderr.receive(1 << 20)).decode() if proc.stderr else ""
    assert code == 0, err
    (conn,) = server.connections  # never replaced
    stored = read_queue(queue)
    assert stored.events(ConnectionEvent.STALLED) == []
    assert stored.gaps == []
    assert stored.total == conn.frames_sent == len(frames)  # every frame the server sent
    for name, want in expected_by_stream(frames, BTC_BOTH).items():
        assert stored.by_stream[name] == want
    # the process really was stopped while frames kept coming: a 5 s hole in the receive
    # times, then what the kernel's receive buffer kept, read at once: more frames within
    # 20 ms than the feed's pace (60) by far. (How many depends on the buffer: about 770 of
    # these frames fill the kernel's default 128 KiB; the rest may come seconds later, when
    # the server's TCP probes the reopened window, see StallWatch.)
    ts = sorted(t for v in stored.recv_ts.values() for t in v)
    jumps = [(b - a, i) for i, (a, b) in enumerate(itertools.pairwise(ts))]
    longest, at = max(jumps)
    assert longest > 4.5e9
    woke = ts[at + 1]
    assert sum(1 for t in ts if woke <= t < woke + 0.02e9) > 300
    assert "woke" in err and "late" in err  # the log says why nothing was judged


async def test_the_socket_peek_sees_unread_bytes_and_then_none(tmp_path: Path) -> None:
    # What the stall judgement asks the kernel, on a real socket: bytes the transport has
    # not read yet are seen (and left there); once everything is read, none.
    frames = paced(500, 1e6)
    async with open_server(list_source(frames), speed=None, ping_interval=None) as server:
        endpoint = Endpoint.parse(server.url)
        streams = stream_ids(["btcusdt"], BOTH)
        transport = await open_websocket(endpoint, endpoint.combined_url(streams),
                                         open_timeout=5.0, max_frame=1 << 20,
                                         ssl_context=None, streams_in_url=True)
        try:
            with anyio.fail_after(10):
                await server.finished.wait()
            await polled_until(lambda: not server.live[1].outbox, 10.0)
            await anyio.sleep(0.1)
            assert transport.has_unread()
            assert transport.has_unread()  # peeking takes nothing
            got: list[bytes] = []
            with anyio.fail_after(10):
                while len(got) < len(frames):
                    batch, _, _ = await transport.receive()
                    got += [bytes(f.data) for f in batch]
            assert not transport.has_unread()
        finally:
            await transport.aclose()
    assert len(got) == len(frames)


# -- one outgoing budget ------------------------------------------------------------


async def test_a_ping_flood_never_gets_more_than_4_messages_in_a_second(tmp_path: Path) -> None:
    # 50 pings per second while 12 SUBSCRIBEs go out one stream each: counted at the server
    # by receive time, no 1 s window ever holds more than 4 client messages (Binance closes
    # above 5); pongs keep coming, for the latest ping.
    symbols = [f"s{i}usdt" for i in range(12)]
    frames = paced(3000, 500.0)
    async with open_server(list_source(frames), speed=1.0, ping_interval=0.02) as server:
        config = config_for(server, ["btcusdt", *symbols], [StreamKind.BOOK_TICKER],
                            max_url_length=0, params_per_message=1)

        def subscribed_for_a_while(recorder: object) -> bool:
            conn = server.connections[0] if server.connections else None
            return conn is not None and conn.pings_sent >= 300

        recorder = await record_until(config, tmp_path / "q", subscribed_for_a_while,
                                      limit=30)
    (conn,) = server.connections
    assert not conn.closed_by_rate_limit
    assert conn.max_incoming_per_window <= 4
    assert conn.control_messages == len(symbols) + 1  # every SUBSCRIBE went, paced
    assert recorder.stats.confirmed == {s.name for s in config.streams}
    assert conn.pongs_received >= 5.0 / 1.1  # 6 s of flood at 4 per 1.1 s at most
    assert conn.incoming_messages == conn.control_messages + conn.pongs_received


async def test_binfeed_record_under_a_ping_flood_stays_within_the_budget(
        tmp_path: Path) -> None:
    frames = paced(6000, 2000.0)
    queue = tmp_path / "q"
    async with open_server(list_source(frames), speed=1.0, ping_interval=0.02) as server:
        code, _, err = await run_record(server, queue)
    assert code == 0, err
    (conn,) = server.connections
    assert conn.pings_sent >= 100
    assert not conn.closed_by_rate_limit and conn.max_incoming_per_window <= 4
    assert conn.pongs_received >= 2
    stored = read_queue(queue)
    assert stored.total == len(frames) and stored.gaps == []
