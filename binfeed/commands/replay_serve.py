"""``binfeed replay --serve``: the loopback server over a queue, from its banner to the
last --stats file, until a signal stops it; the server itself is
:class:`binfeed.binance.server.BinanceServer`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TypeVar
from urllib.parse import quote

import anyio
import click

from binfeed import errors
from binfeed.binance.queue_source import queue_source
from binfeed.binance.server import BinanceServer
from binfeed.binance.server_config import ServerConfig
from binfeed.commands.common import check_symbols, queue_symbols
from binfeed.commands.signals import Stop, stop_on_signals
from binfeed.selection import Selection
from binfeed.symbols import stream_name

#: --stats: the file is rewritten at most this often while serving (and at exit).
STATS_EVERY = 0.5


def serve_queue(queue_dir: Path, config: ServerConfig, selection: Selection,
                faults: list[str], stats_file: Path | None) -> None:
    """Runs the loopback server over the queue at ``queue_dir`` until SIGINT or SIGTERM;
    ``faults`` are the --fault labels (the banner, the --stats header)."""
    known = sorted(set(queue_symbols(queue_dir)))
    if selection.symbols:
        check_symbols(selection, queue_dir, known)
    source = queue_source(queue_dir, selection)
    host, port = config.host, config.port
    header = {"queue": str(queue_dir), "faults": faults}

    def report(server: BinanceServer) -> None:
        assert stats_file is not None
        try:
            server.write_report(stats_file, header)
        except OSError as exc:
            raise errors.BinfeedError(f"cannot write --stats {stats_file}: "
                                      f"{exc.strerror or exc}; choose a writable path") from exc

    async def keep_report(server: BinanceServer) -> None:
        written = (-1, False)
        while True:
            state = (server.version, server.finished.is_set())
            if state != written:
                report(server)
                written = state
            await anyio.sleep(STATS_EVERY)

    async def main(stop: Stop) -> None:
        server = BinanceServer(source, config)
        written = False
        try:
            async with anyio.create_task_group() as tg:
                await tg.start(server.serve)
                if stats_file is not None:
                    report(server)  # a path that cannot be written fails before serving
                    written = True
                    tg.start_soon(keep_report, server)
                click.echo(_banner(queue_dir, server.url, config, known, faults))
                sys.stdout.flush()
                await stop.wait()
                tg.cancel_scope.cancel()
        finally:
            if written:
                report(server)  # complete: every connection closed

    try:
        with stop_on_signals("replay --serve", "closing the connections") as stop:
            anyio.run(main, stop)
    except OSError as exc:
        raise errors.BinfeedError(
            f"cannot serve on {host}:{port}: {exc.strerror or exc}; choose another --port "
            "(0 picks a free one) or --host") from exc
    except BaseExceptionGroup as group:
        ours = _first_of(group, errors.BinfeedError)
        if ours is not None:
            raise ours from group
        oserr = _first_of(group, OSError)
        if oserr is None:
            raise
        raise errors.BinfeedError(
            f"cannot serve on {host}:{port}: {oserr.strerror or oserr}; choose another --port "
            "(0 picks a free one) or --host") from group


def _banner(queue_dir: Path, url: str, config: ServerConfig, known: list[str],
            faults: list[str]) -> str:
    speed = config.speed
    pace = "as fast as each client reads" if speed is None else (
        "at the recorded pace" if speed == 1 else f"{speed:g}x the recorded pace")
    clock = ("each connection replays from the start" if config.clock == "per_connection"
             else "one replay shared by every connection")
    example = quote(stream_name(known[0] if known else "btcusdt", "bookTicker"), safe="@")
    injected = f" Faults: {', '.join(faults)}." if faults else ""
    return (f"serving {queue_dir} on {url} {pace}; {clock}. Symbols: "
            f"{', '.join(known) or '-'}.{injected} Try {url}/ws/{example} or "
            f"{url}/stream?streams={example}. Ctrl-C stops.")


_E = TypeVar("_E", bound=BaseException)


def _first_of(group: BaseExceptionGroup, kind: type[_E]) -> _E | None:
    """The first exception of ``kind`` in ``group`` and its nested groups."""
    for exc in group.exceptions:
        if isinstance(exc, kind):
            return exc
        if isinstance(exc, BaseExceptionGroup):
            found = _first_of(exc, kind)
            if found is not None:
                return found
    return None
