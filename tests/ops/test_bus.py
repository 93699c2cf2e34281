"""The bus root: names, resolution, listing, and writers and readers sharing one root."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from binfeed import bus, errors
from binfeed.commands.common import config_option, queue_location, recorder_default_name
from binfeed.commands.console import translate_errors
from binfeed.commands.info_cmd import info
from binfeed.commands.replay_cmd import replay
from binfeed.queue import QueueWriter
from tests.ops.helpers import run_binfeed, spawn_binfeed, spawn_live_writer, stop, wait_line
from tests.ops.test_follow import interrupt, read_lines


@pytest.mark.parametrize(("streams", "name"), [
    (None, "binance-spot"),
    ("bookTicker", "binance-spot"),
    ("BOOKTICKER", "binance-spot"),
    ("trade", "binance-spot-trade"),
    ("trade,bookTicker", "binance-spot-bookticker-trade"),
    (["bookTicker", "trade", "trade"], "binance-spot-bookticker-trade"),
])
def test_recorder_default_names_derive_from_the_streams(streams: Any, name: str) -> None:
    assert bus.recorder_queue_name(streams) == name


def test_unknown_stream_in_a_default_name_is_refused() -> None:
    with pytest.raises(errors.ConfigError, match="unknown stream type 'depth'"):
        bus.recorder_queue_name("bookTicker,depth")


@pytest.mark.parametrize("name", ["", ".hidden", "../up", "a/b", "sp ace", "x" * 101, "é"])
def test_invalid_queue_names(name: str) -> None:
    with pytest.raises(errors.ConfigError, match="invalid queue name"):
        bus.queue_path("/srv", name)


def test_queue_names_lists_only_queues(tmp_path: Path) -> None:
    for name in ("b-feed", "a.feed"):
        with QueueWriter(tmp_path / name, segment_slots=64) as w:
            w.append_book_ticker("BTCUSDT", 1, 1.0, 1.0, 2.0, 1.0, recv_ts_ns=5)
    (tmp_path / "empty-dir").mkdir()
    (tmp_path / "a-file").write_text("x")
    (tmp_path / ".hidden").mkdir()
    assert bus.queue_names(tmp_path) == ["a.feed", "b-feed"]
    assert bus.queue_names(tmp_path / "missing") == []
    with pytest.raises(errors.ConfigError, match="holds 2 queues"):
        bus.resolve_reader_queue(tmp_path, None)
    assert bus.resolve_reader_queue(tmp_path, "b-feed") == tmp_path / "b-feed"
    with pytest.raises(errors.ConfigError, match="no queue on the bus"):
        bus.resolve_reader_queue(tmp_path / "empty-dir", None)


# -- the decorator, through a writer command and the real reader commands ---------------


@click.command("record")
@queue_location(writer=True, default_name=recorder_default_name)
@click.option("--streams", default="bookTicker")
@config_option()
@translate_errors
def fake_record(queue: Path, streams: str) -> None:
    """A stand-in for ``binfeed record``: prints the queue it would write."""
    click.echo(str(queue))


def invoke(cmd: click.Command, *args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(cmd, list(args), env={"BINFEED_BUS_ROOT": None,
                                                    "BINFEED_CONFIG": None, **(env or {})})


def test_writer_location(tmp_path: Path) -> None:
    root = str(tmp_path / "bus")
    r = invoke(fake_record, "--queue", "q1")
    assert (r.exit_code, r.output.strip()) == (0, "q1")
    r = invoke(fake_record, "--bus-root", root)
    assert r.output.strip() == f"{root}/binance-spot"
    r = invoke(fake_record, "--bus-root", root, "--streams", "trade,bookTicker")
    assert r.output.strip() == f"{root}/binance-spot-bookticker-trade"
    r = invoke(fake_record, "--bus-root", root, "--name", "research")
    assert r.output.strip() == f"{root}/research"
    r = invoke(fake_record, env={"BINFEED_BUS_ROOT": root})
    assert r.output.strip() == f"{root}/binance-spot"
    # --queue on the command line beats a root from the environment
    r = invoke(fake_record, "--queue", "q2", env={"BINFEED_BUS_ROOT": root})
    assert (r.exit_code, r.output.strip()) == (0, "q2")


@pytest.mark.parametrize(("args", "message"), [
    ((), "give the queue: --queue DIR, or --bus-root ROOT [--name NAME]"),
    (("--queue", "q", "--bus-root", "r"), "give either --queue or --bus-root, not both"),
    (("--name", "x"), "--name needs --bus-root ROOT"),
    (("--queue", "q", "--name", "x"), "--name goes with --bus-root, not with --queue"),
    (("--bus-root", "r", "--name", "../x"), "invalid queue name '../x'"),
])
def test_writer_location_errors(args: tuple[str, ...], message: str) -> None:
    r = invoke(fake_record, *args)
    assert r.exit_code == 2
    assert message in r.output


def test_readers_take_dir_or_bus_root(tmp_path: Path) -> None:
    root = tmp_path / "bus"
    with QueueWriter(root / "one", segment_slots=64) as w:
        w.append_book_ticker("BTCUSDT", 7, 1.5, 2.5, 3.5, 4.5, recv_ts_ns=11)
    by_dir = invoke(replay, str(root / "one"))
    by_bus = invoke(replay, "--bus-root", str(root), "--name", "one")
    only = invoke(replay, "--bus-root", str(root))  # the bus's only queue
    assert by_dir.exit_code == by_bus.exit_code == only.exit_code == 0
    assert by_dir.output == by_bus.output == only.output
    assert json.loads(by_dir.output)["update_id"] == 7
    with QueueWriter(root / "two", segment_slots=64) as w:
        w.append_book_ticker("ETHUSDT", 8, 1.5, 2.5, 3.5, 4.5, recv_ts_ns=12)
    r = invoke(replay, "--bus-root", str(root))
    assert r.exit_code == 1
    assert "Error: the bus at" in r.output
    assert "holds 2 queues (one, two)" in r.output
    assert "--name NAME" in r.output
    r = invoke(replay, str(root / "one"), "--bus-root", str(root))
    assert r.exit_code == 2
    assert "give either DIR or --bus-root, not both" in r.output
    r = invoke(replay)
    assert r.exit_code == 2
    assert "give the queue: DIR, or --bus-root ROOT" in r.output


def test_info_lists_the_bus(tmp_path: Path) -> None:
    root = tmp_path / "bus"
    for name, n in (("alpha", 3), ("beta", 70)):
        with QueueWriter(root / name, segment_slots=64) as w:
            for i in range(n):
                w.append_book_ticker("BTCUSDT", i + 1, 1.0, 1.0, 2.0, 1.0,
                                     recv_ts_ns=1_723_161_600_000_000_000 + i)
    r = invoke(info, "--bus-root", str(root))
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert lines[0] == f"bus       {root} (2 queues)"
    alpha = next(x for x in lines if x.strip().startswith("alpha"))
    beta = next(x for x in lines if x.strip().startswith("beta"))
    assert alpha.split()[1:3] == ["1", "4"]  # 1 segment, 1 symbol record + 3
    assert beta.split()[1:3] == ["2", "72"]  # rolled once: a symbol record per segment
    assert "2024-08-09 00:00:00.000Z" in beta
    doc = json.loads(invoke(info, "--bus-root", str(root), "--json").output)
    assert [q["name"] for q in doc["queues"]] == ["alpha", "beta"]
    assert doc["queues"][1]["last_recv_ns"] == 1_723_161_600_000_000_069
    one = invoke(info, "--bus-root", str(root), "--name", "beta")
    assert one.exit_code == 0
    assert f"queue     {root / 'beta'}" in one.output
    empty = invoke(info, "--bus-root", str(tmp_path / "nothing"))
    assert empty.exit_code == 0
    assert "(0 queues)" in empty.output


@pytest.mark.slow
def test_two_writers_and_a_reader_share_one_bus(tmp_path: Path) -> None:
    """Two writer processes on one root, a follower of one of them, info listing both."""
    root = tmp_path / "bus"
    follower = spawn_binfeed("replay", "--bus-root", str(root), "--name", "feed-b", "--follow")
    a = spawn_live_writer(root / "feed-a", 400, "--symbols", "BTCUSDT", "--segment-slots",
                          "64", "--rate", "2000", "--hold")
    b = spawn_live_writer(root / "feed-b", 300, "--symbols", "ETHUSDT", "--segment-slots",
                          "64", "--rate", "2000", "--hold")
    try:
        wait_line(a, "DONE")
        wait_line(b, "DONE")
        got = [json.loads(x) for x in read_lines(follower, 300)]
        assert {g["symbol"] for g in got} == {"ETHUSDT"}
        assert [g["update_id"] for g in got] == list(range(1, 301))
        listing = run_binfeed("info", "--bus-root", str(root)).stdout
        assert f"live pid {a.pid}" in listing
        assert f"live pid {b.pid}" in listing
        # a reader must choose; a second writer on a name in use is refused, naming it
        clash = run_binfeed("replay", "--bus-root", str(root))
        assert clash.returncode == 1
        assert "holds 2 queues (feed-a, feed-b)" in clash.stderr
        with pytest.raises(errors.QueueLockedError, match=str(a.pid)):
            QueueWriter(bus.queue_path(root, "feed-a"))
        rc, rest, err = interrupt(follower)
        assert (rc, rest) == (0, ""), err
    finally:
        stop(a)
        stop(b)
        if follower.poll() is None:
            follower.kill()
