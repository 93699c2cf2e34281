"""``binfeed replay --serve --fault ... --stats FILE``: the fault server as users run it, in
another process, checked with a real websockets client."""

from __future__ import annotations

import json
import time
from pathlib import Path

import anyio
import pytest
from click.testing import CliRunner
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from binfeed.binance.sources import SourceFrame, bundled_sample, load_capture
from binfeed.cli import main
from binfeed.commands.params import FAULT_KINDS
from tests.ops.helpers import run_binfeed
from tests.ops.test_serve import Served, write_frames

BOTH = "btcusdt@bookTicker/btcusdt@trade"


@pytest.fixture(scope="module")
def capture() -> list[SourceFrame]:
    """The first 3000 bookTicker and trade frames of the bundled real BTCUSDT capture."""
    frames = [f for f in load_capture([bundled_sample()]) if f.stream in ("bookTicker",
                                                                           "trade")]
    return frames[:3000]


@pytest.fixture(scope="module")
def queue(tmp_path_factory: pytest.TempPathFactory, capture: list[SourceFrame]) -> Path:
    q = tmp_path_factory.mktemp("faults") / "q"
    write_frames(q, capture)
    return q


async def until_closed(url: str) -> tuple[list[str], int | None]:
    """Every message of one connection, and the close code it got (None: dropped)."""
    out = []
    async with connect(url, compression=None, max_size=None) as ws:
        with anyio.fail_after(20):
            while True:
                try:
                    out.append(await ws.recv())
                except ConnectionClosed as exc:
                    return out, exc.rcvd.code if exc.rcvd else None


def wait_report(path: Path, closed: int, timeout: float = 10) -> dict:
    """The --stats file once it shows ``closed`` closed connections (it is kept up to date)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            report = json.loads(path.read_text())
        except (OSError, ValueError):
            report = None
        if report and sum(c["closed_at"] is not None for c in report["connections"]) >= closed:
            return report
        time.sleep(0.05)
    raise AssertionError(f"{path} never showed {closed} closed connection(s)")


@pytest.mark.slow
def test_faults_from_the_command_line_and_the_stats_file(
        tmp_path: Path, queue: Path, capture: list[SourceFrame]) -> None:
    stats = tmp_path / "served.json"
    index = {f'{{"stream":"{f.name}","data":{f.payload}}}': i for i, f in enumerate(capture)}
    faults = ["drop-every=300", "2:close=4000@100", "malformed-every=50"]
    # paced (3000 frames in about 3 s): the shared replay goes on between the connections
    args = [str(queue), "--speed", "10", "--clock", "shared", "--stats", str(stats)]
    for fault in faults:
        args += ["--fault", fault]
    with Served(*args) as served:
        assert "one replay shared by every connection" in served.banner
        assert f"Faults: {', '.join(faults)}." in served.banner
        url = f"{served.url}/stream?streams={BOTH}"
        first, code = anyio.run(until_closed, url)
        assert code is None and len(first) == 300 + 6  # dropped after 300, 6 malformed
        during = wait_report(stats, 1)  # written while serving
        second, code = anyio.run(until_closed, url)
        assert code == 4000 and len(second) == 100 + 2
        rc, err = served.stop()
        assert rc == 0, err
    report = json.loads(stats.read_text())
    assert during["connections"][0]["ended"] == "dropped by the server without a close frame"
    assert report["faults"] == faults and report["queue"] == str(queue)
    assert report["clock"] == "shared" and report["speed"] == 10.0
    one, two = report["connections"]
    for conn, got in ((one, first), (two, second)):
        data = [index[m] for m in got if m in index]
        assert len(got) - len(data) == sum(conn["malformed_sent"].values())
        sent = sorted(i for run in conn["sent"]
                      for i in range(run["first"], run["last"] + 1)
                      if capture[i].name == run["stream"])
        assert sent == data
    assert one["faults"][0]["fault"] == "drop-every=300"
    assert [f["fault"] for f in two["faults"]] == ["drop-every=300", "2:close=4000@100"][1:]
    assert two["close_code_sent"] == 4000
    assert two["ended"] == "closed by the server with 4000"
    # the shared clock: the second connection went on where the feed was, not from the start
    assert min(r["first"] for r in two["sent"]) > max(r["last"] for r in one["sent"])


@pytest.mark.parametrize(("args", "message"), [
    (["--fault", "drop-every=5"], "--fault, --stats and --clock are options of --serve"),
    (["--stats", "x.json"], "--fault, --stats and --clock are options of --serve"),
    (["--serve", "--fault", "flood=1"], "invalid fault 'flood=1': give KIND=VALUE"),
    (["--serve", "--fault", "close=1005@3"], "close code 1005 cannot be sent"),
    (["--serve", "--clock", "wall"], "'wall' is not one of 'connection', 'shared'"),
])
def test_fault_option_errors(queue: Path, args: list[str], message: str) -> None:
    result = CliRunner().invoke(main, ["replay", str(queue), *args])
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_a_stats_file_that_cannot_be_written_stops_the_server_before_it_serves(
        tmp_path: Path, queue: Path) -> None:
    target = tmp_path / "no" / "such" / "dir.json"
    done = run_binfeed("replay", str(queue), "--serve", "--port", "0", "--stats", str(target))
    assert done.returncode == 1
    assert done.stdout == ""  # no banner: it never served
    assert done.stderr == (f"Error: cannot write --stats {target}: No such file or directory; "
                           "choose a writable path\n")


def test_the_help_lists_every_fault_kind_with_examples() -> None:
    result = CliRunner().invoke(main, ["replay", "--help"])
    assert result.exit_code == 0
    for kind, (form, _) in FAULT_KINDS.items():
        assert f"  {kind}={form}  " in result.output
    assert "--fault drop-every=1500" in result.output
    assert "--stats served.json" in result.output


def test_the_docs_list_every_fault_kind() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "operations.md").read_text()
    for kind, (form, _) in FAULT_KINDS.items():
        assert f"| `{kind}={form}` |" in doc, kind
