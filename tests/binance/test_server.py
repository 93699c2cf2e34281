"""The loopback Binance server, driven by a real websockets client on 127.0.0.1."""

from __future__ import annotations

import itertools
import json
import time
from pathlib import Path

import anyio
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.frames import Frame, Opcode

from binfeed.binance.server import Fault, encode_text_frame, open_server
from binfeed.binance.sources import (
    SourceFrame,
    bundled_sample,
    capture_source,
    envelope_frame,
    list_source,
    load_capture,
    read_capture,
)
from tests import captures as c

pytestmark = pytest.mark.anyio
DATA = Path(__file__).resolve().parent.parent / "data" / "binance"


@pytest.fixture(scope="module")
def frames() -> list[SourceFrame]:
    """The first 3000 frames of the bundled BTCUSDT capture."""
    return load_capture([bundled_sample()])[:3000]


def expected(frames: list[SourceFrame], *names: str) -> list[str]:
    return [f'{{"stream":"{f.name}","data":{f.payload}}}' for f in frames if f.name in names]


async def recv_all(ws, n: int, seconds: float = 10.0) -> list[str]:
    out = []
    with anyio.fail_after(seconds):
        while len(out) < n:
            out.append(await ws.recv())
    return out


async def recv_until_closed(ws, seconds: float = 5.0) -> tuple[list[str], ConnectionClosed]:
    """Every message until the connection closes, and how it closed."""
    out = []
    with anyio.fail_after(seconds):
        while True:
            try:
                out.append(await ws.recv())
            except ConnectionClosed as exc:
                return out, exc


def test_capture_envelopes_keep_payload_bytes(tmp_path: Path) -> None:
    envelope = ('{"stream":"btcusdt@bookTicker","data":{"u":50093239212,'
                '"s":"BTCUSDT","b":"61837.63000000","B":"3.78826000","a":"61837.64000000",'
                '"A":"1.54698000"}}')
    f = envelope_frame(1723161254087891268, envelope)
    assert f == SourceFrame(1723161254087891268, "btcusdt", "bookTicker",
                            '{"u":50093239212,"s":"BTCUSDT","b":"61837.63000000","B":"3.78826000",'
                            '"a":"61837.64000000","A":"1.54698000"}')
    spaced = '{ "stream" : "a@trade", "data" : {"e": "trade"} }'
    assert envelope_frame(5, spaced) == SourceFrame(5, "a", "trade", '{"e":"trade"}')
    assert envelope_frame(123, '{"lastUpdateId":1,"bids":[]}') is None
    assert envelope_frame(1, "") is None
    assert envelope_frame(1, "abc {}") is None
    # lines without a receive time cannot be paced: skipped
    capture = tmp_path / "capture.txt"
    capture.write_text(f"7 {spaced}\n{spaced}\nabc {{}}\n\n9 {envelope}\n")
    assert [(f.recv_ns, f.name) for f in read_capture(capture)] == [
        (7, "a@trade"), (9, "btcusdt@bookTicker")]


def test_both_real_captures_merge_in_time_order() -> None:
    merged = load_capture(sorted(DATA.glob("spot_*usdt_20240808.gz")))
    assert len(merged) == c.ENVELOPES  # every line but the two REST snapshots
    assert all(a.recv_ns <= b.recv_ns for a, b in itertools.pairwise(merged))


@pytest.mark.parametrize("n", [0, 1, 125, 126, 65535, 65536, 70000])
def test_text_frame_encoding_matches_websockets(n: int) -> None:
    payload = b"x" * n
    assert encode_text_frame(payload) == Frame(Opcode.TEXT, payload).serialize(mask=False)


async def test_combined_url_serves_every_frame_in_order_then_stays_idle(
        frames: list[SourceFrame]) -> None:
    want = expected(frames, "btcusdt@bookTicker", "btcusdt@trade")
    assert len(want) > 2000
    async with open_server(list_source(frames), speed=None, ping_interval=None) as server:
        url = f"{server.url}/stream?streams=btcusdt@bookTicker/btcusdt@trade"
        async with connect(url, compression=None) as ws:
            got = await recv_all(ws, len(want))
            assert got == want
            with anyio.fail_after(5):
                await server.finished.wait()
            # idle, open, answering pings
            with anyio.move_on_after(0.3) as idle:
                await ws.recv()
            assert idle.cancelled_caught
            with anyio.fail_after(2):
                await (await ws.ping())
        assert server.connections[0].frames_sent == len(want)
        assert server.connections[0].path.startswith("/stream?streams=")


async def test_raw_path_sends_payloads_without_envelope(frames: list[SourceFrame]) -> None:
    want = [f.payload for f in frames if f.name == "btcusdt@trade"]
    async with open_server(list_source(frames), speed=None) as server, connect(
            f"{server.url}/ws/btcusdt@trade", compression=None) as ws:
        assert await recv_all(ws, len(want)) == want


async def test_subscribe_list_unsubscribe_and_errors(frames: list[SourceFrame]) -> None:
    async with open_server(list_source(frames), speed=None) as server, connect(
            f"{server.url}/stream", compression=None) as ws:
        await ws.send('{"method":"LIST_SUBSCRIPTIONS","id":1}')
        assert json.loads(await ws.recv()) == {"result": [], "id": 1}
        await ws.send('{"method":"SUBSCRIBE","params":["btcusdt@trade"],"id":2}')
        assert json.loads(await ws.recv()) == {"result": None, "id": 2}
        first = json.loads(await ws.recv())
        assert first["stream"] == "btcusdt@trade"
        await ws.send('{"method":"SUBSCRIB","params":["btcusdt@trade"],"id":3}')
        await anyio.sleep(0.3)
        await ws.send('{"method":"SUBSCRIBE","params":"btcusdt@trade","id":4}')
        replies = []
        with anyio.fail_after(10):
            while len(replies) < 2:
                msg = json.loads(await ws.recv())
                if "stream" not in msg:
                    replies.append(msg)
        assert replies[0]["id"] == 3
        assert replies[0]["error"]["code"] == 2
        assert replies[0]["error"]["msg"].startswith("Invalid request: unknown variant `SUBSCRIB`")
        assert replies[1]["id"] == 4
        assert replies[1]["error"]["code"] == 2


async def test_more_than_5_incoming_messages_per_second_closes_1008(
        frames: list[SourceFrame]) -> None:
    async with open_server(list_source(frames), speed=1.0) as server, connect(
            f"{server.url}/stream", compression=None) as ws:
        for i in range(6):
            await ws.send(f'{{"method":"LIST_SUBSCRIPTIONS","id":{i}}}')
        _, closed = await recv_until_closed(ws)
        assert closed.rcvd is not None
        assert closed.rcvd.code == 1008
        assert closed.rcvd.reason == "Too many requests"
        stats = server.connections[0]
        assert stats.closed_by_rate_limit
        assert stats.max_incoming_per_window == 6


@pytest.mark.slow
async def test_four_per_second_is_fine_and_pings_count(frames: list[SourceFrame]) -> None:
    # pings every 0.5 s (2 pongs/s) and 2 control messages/s: 4 per second, under 5
    async with open_server(list_source(frames), speed=1.0, ping_interval=0.5) as server, \
            connect(f"{server.url}/stream", compression=None, ping_interval=None) as ws:
        for i in range(4):
            await ws.send(f'{{"method":"LIST_SUBSCRIPTIONS","id":{i}}}')
            assert json.loads(await ws.recv()) == {"result": [], "id": i}
            await anyio.sleep(0.5)
        stats = server.connections[0]
        assert stats.pings_sent >= 3
        assert stats.pongs_received >= 3  # the client's automatic pongs
        assert stats.incoming_messages == stats.pongs_received + 4
        assert stats.max_incoming_per_window <= 5
        assert not stats.closed_by_rate_limit
        assert stats.control_messages == 4


async def test_refused_symbols(frames: list[SourceFrame]) -> None:
    async with open_server(list_source(frames), speed=None,
                           refuse=frozenset({"xyzusdt"})) as server:
        with pytest.raises(InvalidStatus) as info:
            async with connect(f"{server.url}/stream?streams=xyzusdt@trade"):
                pass
        assert info.value.response.status_code == 400
        async with connect(f"{server.url}/stream", compression=None) as ws:
            await ws.send('{"method":"SUBSCRIBE","params":["xyzusdt@trade"],"id":7}')
            reply = json.loads(await ws.recv())
            assert reply["id"] == 7
            assert reply["error"]["code"] == 2
            assert "xyzusdt@trade" in reply["error"]["msg"]
            # an unknown but not refused symbol is accepted and sends nothing
            await ws.send('{"method":"SUBSCRIBE","params":["nosuchusdt@trade"],"id":8}')
            assert json.loads(await ws.recv()) == {"result": None, "id": 8}
        assert server.rejections == [("/stream?streams=xyzusdt@trade", 400)]


async def test_unknown_path_is_404(frames: list[SourceFrame]) -> None:
    async with open_server(list_source(frames)) as server:
        with pytest.raises(InvalidStatus) as info:
            async with connect(f"{server.url}/api/v3/ticker"):
                pass
        assert info.value.response.status_code == 404


@pytest.mark.parametrize(("action", "code"), [("abort", None), ("reset", None),
                                              ("close", 1011), ("close", 1001)])
async def test_fault_after_n_frames(frames: list[SourceFrame], action: str,
                                    code: int | None) -> None:
    fault = Fault(action, after_frames=100, code=code or 1011)  # type: ignore[arg-type]
    async with open_server(list_source(frames), speed=None, faults=[fault]) as server, \
            connect(f"{server.url}/stream?streams=btcusdt@bookTicker", compression=None) as ws:
        got, closed = await recv_until_closed(ws)
        assert len(got) == 100
        if code is None:
            assert closed.rcvd is None  # no close frame: 1006 for the client
        else:
            assert closed.rcvd.code == code
        assert server.connections[0].faults_applied == [action]


async def test_stall_keeps_the_socket_silent(frames: list[SourceFrame]) -> None:
    async with open_server(list_source(frames), speed=None, ping_interval=0.05,
                           faults=[Fault("stall", after_frames=50)]) as server, \
            connect(f"{server.url}/stream?streams=btcusdt@bookTicker", compression=None,
                    ping_interval=None) as ws:
        got = await recv_all(ws, 50)
        assert len(got) == 50
        with anyio.move_on_after(0.5) as silent:
            await ws.recv()
        assert silent.cancelled_caught
        pings = server.connections[0].pings_sent
        await anyio.sleep(0.2)
        assert server.connections[0].pings_sent == pings  # not even pings


async def test_server_shutdown_event_then_close_1001(frames: list[SourceFrame]) -> None:
    fault = Fault("shutdown", after_frames=20, grace=0.3)
    async with open_server(list_source(frames), speed=20.0, faults=[fault]) as server, \
            connect(f"{server.url}/stream?streams=btcusdt@bookTicker", compression=None) as ws:
        got, closed = await recv_until_closed(ws)
        events = [m for m in map(json.loads, got) if m["stream"].startswith("!")]
        assert events == [{"stream": "!serverShutdown",
                           "data": {"e": "serverShutdown", "E": events[0]["data"]["E"]}}]
        assert closed.rcvd.code == 1001
        assert server.connections[0].frames_sent > 20  # frames kept flowing during grace


@pytest.mark.slow
async def test_shared_clock_and_per_connection_clock(frames: list[SourceFrame]) -> None:
    names = ("btcusdt@bookTicker",)
    want = expected(frames, *names)
    async with open_server(list_source(frames), speed=None,
                           clock="per_connection") as server:
        url = f"{server.url}/stream?streams=btcusdt@bookTicker"
        async with connect(url, compression=None) as a, connect(url, compression=None) as b:
            assert await recv_all(a, len(want)) == want
            assert await recv_all(b, len(want)) == want
    # shared: a second connection joins the running playback and sees the same frames
    span = (frames[-1].recv_ns - frames[0].recv_ns) / 1e9
    async with open_server(list_source(frames), speed=span / 1.0) as server:  # plays in 1 s
        url = f"{server.url}/stream?streams=btcusdt@bookTicker"
        async with connect(url, compression=None) as a:
            head = await recv_all(a, 10)
            async with connect(url, compression=None) as b:
                (first_b,) = await recv_all(b, 1)
                rest_a = await recv_all(a, len(want) - 10)
                assert first_b in rest_a
                start = rest_a.index(first_b)
                more_b = await recv_all(b, len(rest_a) - start - 1)
                assert [first_b, *more_b] == rest_a[start:]
        assert head + rest_a == want


async def test_recorded_pace(frames: list[SourceFrame]) -> None:
    part = frames[:400]
    span = (part[-1].recv_ns - part[0].recv_ns) / 1e9
    speed = span / 0.5  # the slice plays in 0.5 s
    async with open_server(list_source(part), speed=speed) as server, connect(
            f"{server.url}/stream?streams=btcusdt@bookTicker/btcusdt@trade/btcusdt@depth@100ms",
            compression=None) as ws:
        t0 = time.monotonic()
        await recv_all(ws, len(part))
        elapsed = time.monotonic() - t0
    assert 0.4 <= elapsed <= 1.5


async def test_capture_source_filters_symbols() -> None:
    source = capture_source(sorted(DATA.glob("spot_*usdt_20240808.gz")), symbols=["ETHUSDT"])
    assert {f.symbol for f in source()} == {"ethusdt"}
