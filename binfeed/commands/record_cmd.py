"""``binfeed record``: record Binance Spot streams into a queue until told to stop."""

from __future__ import annotations

import contextlib
import logging
import sys
from pathlib import Path
from typing import IO

import anyio
import click

from binfeed import errors
from binfeed.binance.endpoint import DEFAULT_BASE_URL, DEFAULT_STREAMS_PER_CONNECTION, Endpoint
from binfeed.binance.health import DEFAULT_MAX_AGE, DEFAULT_STALL_TIMEOUT
from binfeed.binance.pacing import DEFAULT_CONNECT_BURST, DEFAULT_CONNECT_RATE
from binfeed.binance.settings import RecorderConfig
from binfeed.binance.streams import parse_kinds, stream_ids
from binfeed.binance.supervisor import Recorder, open_recorder
from binfeed.binance.timeunit import TimeUnit
from binfeed.binance.tls import client_context
from binfeed.commands.common import (
    config_option,
    queue_location,
    recorder_default_name,
    retain_option,
    segment_slots_option,
    sync_option,
)
from binfeed.commands.console import EXIT_OK, EXIT_USAGE
from binfeed.commands.record_status import RecordingStatus, status_line, summary_lines
from binfeed.commands.record_symbols import (
    SymbolRefresh,
    listed_symbols,
    symbol_choice,
    symbol_options,
)
from binfeed.commands.signals import Stop, stop_on_signals
from binfeed.durability import SyncPolicy
from binfeed.retention import RetentionPolicy, retention_task

log = logging.getLogger("binfeed.record")

# The record command's own exit codes, beside console's EXIT_OK and EXIT_USAGE.
EXIT_INTERNAL = 1
EXIT_QUEUE = 3
EXIT_REFUSED = 4
EXIT_ENDPOINT = 5
#: Environment variable that supplies --ca-file.
CA_FILE_ENV = "BINFEED_CA_FILE"


def _check_ca_file(ctx: click.Context, param: click.Parameter,
                   value: Path | None) -> Path | None:
    # A CA file that cannot be used is a usage error, found before anything is opened.
    if value is not None:
        try:
            client_context(value)
        except errors.ConfigError as exc:
            raise click.BadParameter(str(exc), ctx, param) from None
    return value


@click.command("record")
@queue_location(writer=True, default_name=recorder_default_name)
@symbol_options
@click.option("--streams", default="bookTicker", show_default=True,
              metavar="STREAM[,STREAM...]", help="Stream types: bookTicker, trade.")
@click.option("--url", default=DEFAULT_BASE_URL, show_default=True, metavar="URL",
              help="Endpoint base scheme://host[:port] (binfeed adds /stream?streams=...). "
              "wss:// certificates are always verified.")
@click.option("--ca-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              envvar=CA_FILE_ENV, metavar="PATH", callback=_check_ca_file,
              help="PEM file of CA certificates to trust besides the system's, for every "
              "TLS connection (a TLS-inspecting proxy, a test exchange). Verification "
              f"cannot be turned off. Env: {CA_FILE_ENV}.")
@click.option("--time-unit", type=click.Choice([u.value for u in TimeUnit]),
              default=TimeUnit.MS.value, show_default=True,
              help="The unit to ask Binance for its times in: ms (its default) or us "
              "(timeUnit=MICROSECOND: trade times with their microseconds). Records store "
              "microseconds either way; with ms the last three digits are 0.")
@click.option("--duration", type=click.FloatRange(min=0, min_open=True), default=None,
              metavar="SECONDS", help="Record this long, then seal and exit 0. "
              "Default: until SIGINT/SIGTERM.")
@segment_slots_option()
@sync_option()
@click.option("--streams-per-connection", type=click.IntRange(1, 1024),
              default=DEFAULT_STREAMS_PER_CONNECTION, show_default=True,
              help="Streams per WebSocket connection (Binance allows 1024).")
@click.option("--stall-timeout", type=click.FloatRange(min=0, min_open=True),
              default=DEFAULT_STALL_TIMEOUT, show_default=True, metavar="SECONDS",
              help="Replace a connection that delivered nothing (not even a ping) this long.")
@click.option("--max-connection-age", type=click.FloatRange(min=0, min_open=True),
              default=DEFAULT_MAX_AGE, show_default=True, metavar="SECONDS",
              help="Replace each connection once it is this old (Binance cuts them at 24 h): "
              "the new one is opened and subscribed first, then takes over; nothing is lost "
              "or doubled.")
@click.option("--connect-burst", type=click.IntRange(min=1), default=DEFAULT_CONNECT_BURST,
              show_default=True, metavar="N",
              help="Connection attempts this process may make at once (every shard, "
              "reconnect and rotation together), before --connect-rate paces them.")
@click.option("--connect-rate", type=click.FloatRange(min=0, min_open=True, max=100),
              default=DEFAULT_CONNECT_RATE, show_default=True, metavar="PER_SECOND",
              help="Connection attempts per second after the burst. Binance allows 300 "
              "per 5 minutes per IP, shared by every recorder on that IP: burst + 300 x "
              "rate must stay under 300 for all of them together (docs/recorder.md).")
@click.option("--status/--no-status", "show_status", default=None,
              help="Live status line on stderr. Default: only when stderr is a terminal.")
@retain_option()
@config_option()
def record(queue: Path, symbols: str | None, symbols_file: Path | None, quote: str | None,
           rest_url: str, symbols_refresh: float, streams: str, url: str, ca_file: Path | None,
           time_unit: str,
           duration: float | None,
           segment_slots: int, sync: SyncPolicy, streams_per_connection: int,
           stall_timeout: float, max_connection_age: float, connect_burst: int,
           connect_rate: float, show_status: bool | None,
           retain: RetentionPolicy | None) -> None:
    """Record Binance Spot market streams into the queue at DIR.

    Connects to the combined-stream endpoint, subscribes, and appends every bookTicker and
    trade frame as a fixed-size record, with the local receive time. Survives the network:
    reconnects at once after a connection that delivered data (with backoff only while
    attempts keep failing, within --connect-burst/--connect-rate) and resubscribes,
    replaces stalled connections (reading what the socket holds first), rotates before
    Binance's 24 h cut (and on serverShutdown) without losing or doubling frames, and writes
    a GAP record wherever frames may be missing and CONNECTION records for every event.

    Only the streams asked for are stored: frames of any other stream the server sends
    are counted (unsubscribed=) and logged once per stream; frames of a stream whose
    SUBSCRIBE waits for its reply are held until the reply, then stored or dropped.

    On a terminal a live status line shows frames/s, records per stream, reconnects, gaps,
    the age of the last frame and the downtime after drops. Otherwise the output is
    quiet: at the end, one ``record key=value ...`` line and one ``stream key=value ...``
    line per stream on stdout. Logs go to stderr (-v for more).

    SIGINT or SIGTERM stops cleanly: the queue is sealed, the summary printed, exit 0.
    Further signals during the stop are ignored (tools like GNU timeout signal the
    process, then its group), except that a third within 5 s exits at once with 130.

    \b
    Exit status:
      0  recorded until --duration, SIGINT or SIGTERM; the queue is sealed
         (also when connections were lost meanwhile: gaps are in the data)
      2  bad arguments
      3  the queue cannot be written (held by another writer, not writable,
         disk full, damaged)
      4  the server refused every subscription: nothing to record
      5  the endpoint refused us for good (TLS certificate, HTTP 404/451...), or
         --symbols all could not read exchangeInfo from --rest-url (after retries)
      1  an unexpected internal error (the log has the traceback)
    130  a third SIGINT/SIGTERM within 5 s: stopped at once, the queue left
         unsealed (the next writer recovers it; nothing published is lost)

    Example:

    \b
        binfeed record --queue data/q --symbols btcusdt,ethusdt --streams bookTicker,trade
        binfeed record -q data/all --symbols all --quote USDT --streams-per-connection 1024
        binfeed record -q data/q -s 币安人生usdt --streams trade --time-unit us
        binfeed record -q /tmp/q -s btcusdt --url ws://127.0.0.1:9000 --duration 60
        binfeed record --bus-root /srv/binfeed -s btcusdt --retain 7d,50GiB
        binfeed record -q /tmp/q -s btcusdt --url wss://testnet.example --ca-file ca.pem
        binfeed record --config /etc/binfeed.toml
    """
    try:
        endpoint = Endpoint.parse(url)
    except errors.ConfigError as exc:
        raise click.BadParameter(str(exc), param_hint="'--url'") from None
    choice = symbol_choice(symbols, symbols_file, quote, rest_url, symbols_refresh)
    try:
        kinds = parse_kinds(streams)
    except errors.ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    names = choice.symbols
    refresh = None
    if names is None:
        rest_context = client_context(ca_file)
        try:
            names = anyio.run(listed_symbols, choice, rest_context)
        except (errors.EndpointError, errors.ConfigError) as exc:
            click.echo(f"Error: {exc}", err=True)
            sys.exit(EXIT_ENDPOINT)
        refresh = SymbolRefresh(choice, names, kinds, rest_context)
    wanted = stream_ids(names, kinds)
    config = RecorderConfig(endpoint, wanted, streams_per_connection=streams_per_connection,
                            stall_timeout=stall_timeout, max_age=max_connection_age,
                            sync_interval=sync.every_s,
                            connect_burst=connect_burst, connect_rate=connect_rate,
                            time_unit=TimeUnit(time_unit), ca_file=ca_file)
    live = sys.stderr.isatty() if show_status is None else show_status
    code = run_record(queue, config, duration=duration, segment_slots=segment_slots,
                      live_status=live, out=sys.stdout, retain=retain,
                      sync_on_seal=sync.on_seal, refresh=refresh)
    sys.exit(code)


def run_record(queue: Path, config: RecorderConfig, *, duration: float | None = None,
               segment_slots: int = 0, live_status: bool = False,
               out: IO[str] | None = None, status_interval: float = 1.0,
               retain: RetentionPolicy | None = None, sync_on_seal: bool = False,
               refresh: SymbolRefresh | None = None) -> int:
    """Opens the queue, records until the duration ends or SIGINT/SIGTERM, seals;
    ``refresh`` (``--symbols all``) changes the streams while it records.

    Signals (:mod:`binfeed.commands.signals`): the first stops cleanly, those during the
    stop are ignored, a third within 5 s exits the process at once with status 130.

    Returns:
        the exit code (see ``binfeed record --help``).
    """
    with stop_on_signals("record", "sealing the queue", logging.WARNING) as stop:
        return _run_record(queue, config, stop, duration=duration,
                           segment_slots=segment_slots, live_status=live_status, out=out,
                           status_interval=status_interval, retain=retain,
                           sync_on_seal=sync_on_seal, refresh=refresh)


def _run_record(queue: Path, config: RecorderConfig, stop: Stop, *, duration: float | None,
                segment_slots: int, live_status: bool, out: IO[str] | None,
                status_interval: float, retain: RetentionPolicy | None,
                sync_on_seal: bool, refresh: SymbolRefresh | None) -> int:
    out = out or sys.stdout
    opened = contextlib.ExitStack()
    try:
        recorder = opened.enter_context(open_recorder(
            queue, config, segment_slots=segment_slots, sync_on_seal=sync_on_seal))
    except errors.QueueError as exc:
        click.echo(f"Error: {exc}", err=True)
        return EXIT_QUEUE
    except errors.ConfigError as exc:  # the recorder's settings (a CA file), not the queue
        opened.close()
        click.echo(f"Error: {exc}", err=True)
        return EXIT_USAGE
    status = RecordingStatus(recorder)
    summary: list[str] = []
    code = EXIT_OK
    try:
        anyio.run(_record, recorder, status, stop, duration, live_status, status_interval,
                  queue, retain, refresh)
    except BaseException as exc:  # sorted by _exit_code below; nothing is swallowed
        code = _exit_code(exc)
        if code == EXIT_INTERNAL:
            log.error("the recorder failed", exc_info=exc)
            click.echo(f"Error: internal error: {exc!r} (please report it with the log)",
                       err=True)
        else:
            click.echo(f"Error: {_first_error(exc)}", err=True)
    finally:
        try:
            summary = summary_lines(status.snapshot())
            opened.close()  # the parser, then the writer: the queue is sealed
        except errors.BinfeedError as exc:
            click.echo(f"Error: sealing the queue failed: {exc}", err=True)
            code = code or EXIT_QUEUE
    for line in summary:
        click.echo(line, file=out)
    return code


async def _record(recorder: Recorder, status: RecordingStatus, stop: Stop,
                  duration: float | None, live_status: bool, status_interval: float,
                  queue: Path, retain: RetentionPolicy | None,
                  refresh: SymbolRefresh | None) -> None:
    async with anyio.create_task_group() as tg:
        tg.start_soon(_stop_when_asked, stop, tg.cancel_scope)
        if retain is not None:
            tg.start_soon(retention_task, queue, retain)
        if live_status:
            tg.start_soon(_show_status, status, status_interval)
        else:
            tg.start_soon(status.track, status_interval)
        with anyio.move_on_after(duration if duration is not None else float("inf")):
            async with anyio.create_task_group() as recording:
                await recording.start(recorder.run)
                if refresh is not None:
                    recording.start_soon(refresh.run, recorder)
        tg.cancel_scope.cancel()
    if live_status:
        sys.stderr.write("\n")


async def _stop_when_asked(stop: Stop, scope: anyio.CancelScope) -> None:
    await stop.wait()
    scope.cancel()


async def _show_status(status: RecordingStatus, interval: float) -> None:
    while True:
        await anyio.sleep(interval)
        status.tick()
        sys.stderr.write("\r\x1b[K" + status_line(status.snapshot()))
        sys.stderr.flush()


def _errors_in(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        found: list[BaseException] = []
        for sub in exc.exceptions:
            found.extend(_errors_in(sub))
        return found
    return [exc]


def _first_error(exc: BaseException) -> BaseException:
    leaves = _errors_in(exc)
    for leaf in leaves:
        if isinstance(leaf, errors.BinfeedError):
            return leaf
    return leaves[0]


def _exit_code(exc: BaseException) -> int:
    leaf = _first_error(exc)
    if isinstance(leaf, KeyboardInterrupt):
        return EXIT_OK
    if isinstance(leaf, errors.QueueError):
        return EXIT_QUEUE
    if isinstance(leaf, errors.SubscriptionError):
        return EXIT_REFUSED
    if isinstance(leaf, errors.EndpointError):
        return EXIT_ENDPOINT
    return EXIT_INTERNAL
