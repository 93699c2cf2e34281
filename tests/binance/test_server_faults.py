"""The loopback server's faults and its report, checked against what a real websockets
client on 127.0.0.1 received (the report must say exactly what a client should have)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import anyio
import pytest
from websockets.asyncio.client import connect

from binfeed.binance.faults import MALFORMED_KINDS, Fault, Injection
from binfeed.binance.server import BinanceServer, open_server
from binfeed.binance.sources import SourceFrame, bundled_sample, list_source, load_capture

from .test_server import recv_until_closed

pytestmark = pytest.mark.anyio
BOTH = "btcusdt@bookTicker/btcusdt@trade"


@pytest.fixture(scope="module")
def frames() -> list[SourceFrame]:
    """The first 3000 frames of the bundled BTCUSDT capture (bookTicker, trade, depth)."""
    return load_capture([bundled_sample()])[:3000]


def message(frame: SourceFrame) -> str:
    return f'{{"stream":"{frame.name}","data":{frame.payload}}}'


def expanded(runs: list[dict], frames: list[SourceFrame]) -> list[int]:
    """The indices a connection's runs name, in the order the frames were served."""
    out: set[int] = set()
    for run in runs:
        span = range(run["first"], run["last"] + 1)
        mine = [i for i in span if frames[i].name == run["stream"]]
        assert len(mine) == run["frames"], run
        out.update(mine)
    return sorted(out)


async def test_the_report_names_exactly_the_frames_each_connection_got(
        frames: list[SourceFrame], tmp_path: Path) -> None:
    index = {message(f): i for i, f in enumerate(frames)}
    span = (frames[-1].recv_ns - frames[0].recv_ns) / 1e9
    # paced (the data lasts about 1.5 s): frames go on playing while the client reconnects
    async with open_server(list_source(frames), speed=span / 1.5, clock="shared",
                           faults=[Fault("abort", 300, connection=0, label="drop-every=300")],
                           ) as server:
        received = []
        for _ in range(3):
            async with connect(f"{server.url}/stream?streams={BOTH}", compression=None) as ws:
                got, closed = await recv_until_closed(ws, 10.0)
                assert closed.rcvd is None  # no close frame: a drop
                received.append([index[m] for m in got])
            await anyio.sleep(0.1)
        await wait_closed(server, 3)
        path = tmp_path / "report.json"
        server.write_report(path, {"faults": ["drop-every=300"]})
    report = json.loads(path.read_text())
    assert report["faults"] == ["drop-every=300"] and report["clock"] == "shared"
    conns = report["connections"]
    assert [c["number"] for c in conns] == [1, 2, 3]
    for conn, got in zip(conns, received, strict=True):
        assert len(got) == 300 == conn["frames_sent"]
        assert expanded(conn["sent"], frames) == got
        assert conn["unconfirmed"] == []
        assert conn["faults"] == [{"fault": "drop-every=300", "after_frames": 300,
                                   "at": conn["faults"][0]["at"]}]
        assert conn["ended"] == "dropped by the server without a close frame"
        assert conn["closed_at"] >= conn["opened_at"]
    # what played while the client was away is between the runs: sent to nobody
    assert expanded(conns[1]["sent"], frames)[0] > received[0][-1] + 1
    played = report["playback"]["played"]
    assert played["btcusdt@trade"] + played["btcusdt@bookTicker"] >= 900


async def wait_closed(server: BinanceServer, n: int) -> None:
    """Until the server saw ``n`` connections and each of them ended."""
    for _ in range(500):
        if len(server.connections) >= n and all(c.closed_at is not None
                                                for c in server.connections):
            return
        await anyio.sleep(0.01)
    raise AssertionError(f"not {n} closed connections: {server.connections}")


async def test_malformed_frames_are_inserted_after_every_k_frames(
        frames: list[SourceFrame]) -> None:
    books = [f for f in frames if f.name == "btcusdt@bookTicker"][:200]
    want = [message(f) for f in books]
    async with open_server(list_source(books), speed=None, clock="per_connection",
                           injections=[Injection("malformed", 10)]) as server, \
            connect(f"{server.url}/stream?streams=btcusdt@bookTicker", compression=None) as ws:
        with anyio.fail_after(10):
            got = [await ws.recv() for _ in range(220)]
            stats = server.connections[0]
            for _ in range(500):  # counted once written
                if sum(stats.malformed_sent.values()) == 20:
                    break
                await anyio.sleep(0.01)
        with anyio.move_on_after(0.3) as nothing_more:
            await ws.recv()
        assert nothing_more.cancelled_caught
    data = [m for k, m in enumerate(got) if k % 11 != 10]
    bad = [m for k, m in enumerate(got) if k % 11 == 10]
    assert data == want  # every data frame, in order, none replaced
    assert all(m not in want for m in bad)
    assert bad[0] == want[9][: len(bad[0])]  # truncated: the frame before, cut in half
    assert bad[1] == "malformed frame 2: this is not JSON"
    assert json.loads(bad[2])["data"]["u"] == "not a number"
    assert json.loads(bad[3])["data"]["b"] == "1,5"
    assert stats.malformed_sent == dict.fromkeys(MALFORMED_KINDS, 5)
    assert stats.frames_sent == 200


async def test_frames_of_streams_not_subscribed(frames: list[SourceFrame]) -> None:
    part = frames[:1000]
    books = [message(f) for f in part if f.name == "btcusdt@bookTicker"]
    others = {message(f) for f in part if f.name != "btcusdt@bookTicker"}
    async with open_server(list_source(part), speed=None, clock="per_connection",
                           injections=[Injection("unsubscribed", 20)]) as server, \
            connect(f"{server.url}/stream?streams=btcusdt@bookTicker", compression=None) as ws:
        got = []
        with anyio.fail_after(10):
            while True:
                with anyio.move_on_after(0.3) as idle:
                    got.append(await ws.recv())
                if idle.cancelled_caught:
                    break
        stats = server.connections[0]
    foreign = [m for m in got if m not in books]
    assert [m for m in got if m in books] == books  # every subscribed frame, in order
    assert all(m in others for m in foreign)  # real frames of the other streams
    assert 0 < len(foreign) <= len(books) // 20
    for k, m in enumerate(got):  # each one after a multiple of 20 subscribed frames
        if m in others:
            assert sum(1 for x in got[:k] if x in books) % 20 == 0
    assert sum(stats.unsubscribed_sent.values()) == len(foreign)
    assert set(stats.unsubscribed_sent) <= {"btcusdt@trade", "btcusdt@depth@100ms"}


@pytest.mark.parametrize(("path", "combined"), [(f"/stream?streams={BOTH}", True),
                                                ("/ws/btcusdt@bookTicker", False)])
async def test_server_shutdown_seconds_after_the_opening(frames: list[SourceFrame], path: str,
                                                         combined: bool) -> None:
    """Binance's shape: raw on /ws, wrapped as the stream !serverShutdown on /stream."""
    fault = Fault("shutdown", connection=0, after_seconds=0.3, grace=0.2)
    span = (frames[-1].recv_ns - frames[0].recv_ns) / 1e9
    async with open_server(list_source(frames), speed=span / 10, faults=[fault]) as server:
        async with connect(server.url + path, compression=None) as ws:
            opened = time.monotonic()
            got, closed = await recv_until_closed(ws, 10.0)
            ended = time.monotonic() - opened
        events = [json.loads(m) for m in got if "serverShutdown" in m]
        stats = server.connections[0]
    event = {"e": "serverShutdown", "E": (events[0]["data"] if combined else events[0])["E"]}
    assert events == [{"stream": "!serverShutdown", "data": event} if combined else event]
    assert closed.rcvd is not None and closed.rcvd.code == 1001
    assert 0.45 <= ended < 2.0
    assert 0.3 <= stats.fault_log[0]["at"] < 0.6
    assert stats.ended == "closed by the server with 1001"


async def test_a_ping_flood_and_the_client_messages_with_their_times(
        frames: list[SourceFrame]) -> None:
    """50 pings a second: a client that answers each one (websockets does) goes over
    Binance's 5 messages per second and is closed with 1008; the report has every message
    with its time."""
    async with open_server(list_source(frames), speed=1.0, ping_interval=0.02) as server, \
            connect(f"{server.url}/stream?streams={BOTH}", compression=None,
                    ping_interval=None) as ws:
        await ws.send('{"method":"LIST_SUBSCRIPTIONS","id":1}')
        _, closed = await recv_until_closed(ws, 10.0)
        stats = server.connections[0]
    assert closed.rcvd is not None and closed.rcvd.code == 1008
    assert stats.closed_by_rate_limit
    kinds = [kind for _, kind in stats.client_messages]
    assert kinds[0] == "text" and kinds.count("pong") >= 5
    times = [t for t, _ in stats.client_messages]
    assert times == sorted(times) and times[-1] < 1.0
    assert stats.counted_per_second() == 6 == stats.max_incoming_per_window
    report = stats.as_json()
    assert report["max_client_messages_per_second"] == 6
    assert report["client_messages"][0] == [round(times[0], 6), "text"]
