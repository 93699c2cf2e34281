"""``--config FILE``: TOML defaults for the flags; the command line wins."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from binfeed.cli import all_commands, main
from binfeed.commands.monitor_cmd import monitor
from binfeed.commands.replay_cmd import replay
from binfeed.config import build_default_maps
from binfeed.queue import QueueWriter

ROOT = Path(__file__).resolve().parents[2]


def invoke(*args: str, env: dict[str, str | None] | None = None) -> Any:
    base: dict[str, str | None] = {"BINFEED_BUS_ROOT": None, "BINFEED_CONFIG": None}
    return CliRunner().invoke(main, list(args), env={**base, **(env or {})})


@pytest.fixture
def bus_root(tmp_path: Path) -> Path:
    root = tmp_path / "bus"
    for name, sym in (("spot", "BTCUSDT"), ("other", "ETHUSDT")):
        with QueueWriter(root / name, segment_slots=64) as w:
            w.append_book_ticker(sym, 1, 1.25, 2.0, 1.5, 3.0, recv_ts_ns=100)
            w.append_book_ticker(sym, 2, 1.25, 2.0, 1.5, 3.0, recv_ts_ns=200)
    return root


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "binfeed.toml"
    p.write_text(text)
    return p


def test_config_supplies_flags_and_the_command_line_wins(tmp_path: Path, bus_root: Path) -> None:
    cfg = write(tmp_path, f'bus_root = "{bus_root}"\nname = "other"\n\n'
                '[replay]\nname = "spot"\nformat = "csv"\nsymbols = ["btcusdt"]\n')
    r = invoke("replay", "--config", str(cfg))
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert lines[0].startswith("type,symbol,seq")  # [replay] format
    assert [x.split(",")[1] for x in lines[1:]] == ["BTCUSDT", "BTCUSDT"]  # [replay] name wins
    # flags beat the file
    r = invoke("replay", "--config", str(cfg), "--format", "jsonl", "--name", "other",
               "--symbols", "ethusdt")
    assert [json.loads(x)["symbol"] for x in r.output.splitlines()] == ["ETHUSDT", "ETHUSDT"]
    # a DIR on the command line beats a bus root from the file
    r = invoke("replay", str(bus_root / "other"), "--config", str(cfg), "--symbols", "")
    assert r.exit_code == 0, r.output
    assert r.output.splitlines()[1].split(",")[1] == "ETHUSDT"
    # the environment beats the file too, and BINFEED_CONFIG names the file
    r = invoke("replay", "--format", "jsonl", env={"BINFEED_CONFIG": str(cfg),
                                                   "BINFEED_BUS_ROOT": str(tmp_path / "none")})
    assert r.exit_code == 1
    assert "no queue on the bus" not in r.output
    assert "none/spot: No such file or directory (no queue there yet" in r.output


def test_top_level_keys_apply_to_every_command_that_has_them(tmp_path: Path,
                                                              bus_root: Path) -> None:
    cfg = write(tmp_path, f'bus_root = "{bus_root}"\nname = "spot"\ninterval = 0.1\n'
                'json = true\n')
    r = invoke("info", "--config", str(cfg))
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["path"] == str(bus_root / "spot")
    r = invoke("monitor", "--config", str(cfg), "--once", "--lines")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert doc["queue"] == str(bus_root / "spot")
    assert 0.09 < doc["interval_s"] < 0.5


@pytest.mark.parametrize(("text", "message"), [
    ('[monitor]\nintervall = 1\n',
     "unknown key 'intervall' in [monitor] (did you mean 'interval'?)"),
    ('colour = true\n', "unknown key 'colour'"),
    ('[replay]\nformat = "xml"\n', "'format' in [replay]: 'xml' is not one of"),
    ('[monitor]\ninterval = "fast"\n', "'interval' in [monitor] must be a number, not the "
     "string 'fast'"),
    ('[monitor]\ninterval = 0.001\n', "'interval' in [monitor]: 0.001 is not in the range"),
    ('[monitor]\nonce = "yes"\n', "'once' in [monitor] must be true or false"),
    ('[info]\ngaps = 2.5\n', "'gaps' in [info] must be an integer, not the number 2.5"),
    ('[replay]\nfollow = [true]\n', "'follow' in [replay] must be true or false, not a list"),
    ('[monitr]\ninterval = 1\n', "unknown table [monitr]: tables are named after commands"),
    ('[prune]\nretain = "7 days"\n', "'retain' in [prune]: invalid retention '7 days'"),
    ('interval = [1, 2]\n', "'interval' takes one value, not a list"),
    ('bus_root = = 1\n', "is not valid TOML"),
])
def test_bad_config_is_a_clear_error(tmp_path: Path, text: str, message: str) -> None:
    cfg = write(tmp_path, text)
    r = invoke("monitor", "--config", str(cfg), str(tmp_path), "--once")
    assert r.exit_code == 1, r.output
    assert r.output.startswith(f"Error: {cfg}: ") or "not valid TOML" in r.output
    assert message in r.output
    assert "Traceback" not in r.output


def test_missing_config_file(tmp_path: Path) -> None:
    r = invoke("info", "--config", str(tmp_path / "nope.toml"), str(tmp_path))
    assert r.exit_code == 1
    assert r.output == f"Error: config file {tmp_path / 'nope.toml'} does not exist\n"


def test_a_command_on_its_own_reads_only_its_keys(tmp_path: Path, bus_root: Path) -> None:
    cfg = write(tmp_path, f'[replay]\nbus_root = "{bus_root}"\nname = "spot"\n')
    r = CliRunner().invoke(replay, ["--config", str(cfg)], env={"BINFEED_BUS_ROOT": None})
    assert r.exit_code == 0, r.output
    assert len(r.output.splitlines()) == 2
    r = CliRunner().invoke(monitor, ["--config", str(cfg)], env={"BINFEED_BUS_ROOT": None})
    assert r.exit_code == 1
    assert "unknown table [replay]" in r.output


def test_the_example_config_is_valid() -> None:
    doc = tomllib.loads((ROOT / "docs" / "config.example.toml").read_text())
    commands: dict[str, click.Command] = all_commands()
    # Only commands that take --config are checked (all of them, once `record` has it).
    configurable = {n for n, c in commands.items()
                    if any(p.name == "config_file" for p in c.params)}
    assert {"replay", "info", "monitor", "prune"} <= configurable
    present = {k: v for k, v in doc.items() if not isinstance(v, dict) or k in configurable}
    maps = build_default_maps(present, commands, "docs/config.example.toml")
    assert maps["monitor"]["interval"] == 0.5
    assert maps["replay"]["bus_root"] == "/srv/binfeed"
    assert maps["prune"]["retain"] == "14d,200GiB"
    if "record" in configurable:
        assert maps["record"]["symbols"] == "btcusdt,ethusdt,solusdt"
        assert maps["record"]["_bf_queue_name"] == "binance-spot"


def test_dir_key_and_a_required_flag_from_the_file(tmp_path: Path, bus_root: Path) -> None:
    cfg = write(tmp_path, f'[prune]\ndir = "{bus_root / "spot"}"\nretain = "1B"\n'
                'dry-run = true\n')
    r = invoke("prune", "--config", str(cfg))
    assert r.exit_code == 0, r.output
    assert r.output.startswith("would delete 0 segment(s)")  # one segment: the newest stays
    r = invoke("prune", "--config", str(cfg), "--retain", "soon")
    assert r.exit_code == 2
    assert "invalid retention 'soon'" in r.output


def test_the_example_config_works_for_every_command_through_the_real_cli(
        tmp_path: Path) -> None:
    """Commands are loaded lazily: a config table for another command must still be known."""
    with QueueWriter(tmp_path / "q") as w:
        w.append_book_ticker("BTCUSDT", 1, 1.0, 2.0, 3.0, 4.0)
    example = Path(__file__).resolve().parents[2] / "docs" / "config.example.toml"
    proc = subprocess.run(
        [sys.executable, "-m", "binfeed", "info", str(tmp_path / "q"), "--config", str(example)],
        capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "BTCUSDT" in proc.stdout
