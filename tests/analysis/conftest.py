"""Queues of real captures for the analysis tests (tables, export), made once per session
with ``binfeed import``, and the JSON lines of ``binfeed replay`` as the reference."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from binfeed.cli import main
from binfeed.queue import QueueWriter
from binfeed.records import ConnectionEvent
from tests import captures as c

EXCERPTS = c.DATA / "excerpts"
#: trade frames cut out of the ETH capture (by their index among its trade lines): each
#: run makes one sequence gap
ETH_CUTS = (range(100, 120), range(300, 320))


def cli(*args: str) -> tuple[int, str, str]:
    """``binfeed ARGS`` in this process: exit code, stdout, stderr."""
    result = CliRunner().invoke(main, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def jsonl(queue: Path, *args: str) -> list[dict[str, Any]]:
    """The records ``binfeed replay DIR --format jsonl --all ARGS`` prints, parsed."""
    code, out, err = cli("replay", str(queue), "--format", "jsonl", "--all", *args)
    assert code == 0, err
    return [json.loads(line) for line in out.splitlines()]


def by_type(rows: list[dict[str, Any]], record_type: str) -> list[dict[str, Any]]:
    return [r for r in rows if r["type"] == record_type]


def _eth_with_cuts(path: Path) -> Path:
    cut = {i for r in ETH_CUTS for i in r}
    lines, trades = [], 0
    with gzip.open(c.ETH, "rt", encoding="utf-8") as f:
        for line in f:
            if '@trade"' in line:
                trades += 1
                if trades - 1 in cut:
                    continue
            lines.append(line)
    path.write_text("".join(lines), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def market(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Both bundled captures (ETH with two runs of trade frames cut out: two gaps), then
    USD-M futures excerpts (bookTicker with exchange times, trades without best_match,
    receive time 0), then connection events, in 8,192-slot segments. Not in receive-time
    order: the second capture starts at the first one's start again."""
    root = tmp_path_factory.mktemp("market")
    queue = root / "q"
    eth = _eth_with_cuts(root / "eth_cut.txt")
    code, out, err = cli("import", "--queue", str(queue), "--segment-slots", "8192",
                         str(c.BTC), str(eth), str(EXCERPTS / "usdm_futures_bookTicker.jsonl"),
                         str(EXCERPTS / "usdm_futures_trade.jsonl"))
    assert code == 0, out + err
    with QueueWriter(queue) as w:
        t = 1723161300_000_000_000
        w.append_connection(ConnectionEvent.CONNECTED, 1, detail="wss://stream.binance.com "
                            '"quoted" \\ é', recv_ts_ns=t)
        w.append_connection(ConnectionEvent.SUBSCRIBED, 1, code=2, detail="", recv_ts_ns=t + 1)
        w.append_connection(ConnectionEvent.DISCONNECTED, 1, code=1006, detail="lost",
                            recv_ts_ns=t + 2)
    return queue


@pytest.fixture(scope="session")
def btc(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The BTC capture alone in 4,096-slot segments: records in receive-time order."""
    queue = tmp_path_factory.mktemp("btc") / "q"
    code, out, err = cli("import", "--queue", str(queue), "--segment-slots", "4096",
                         str(c.BTC))
    assert code == 0, out + err
    return queue


@pytest.fixture(scope="session")
def market_jsonl(market: Path) -> list[dict[str, Any]]:
    return jsonl(market)


@pytest.fixture(scope="session")
def btc_jsonl(btc: Path) -> list[dict[str, Any]]:
    return jsonl(btc)
