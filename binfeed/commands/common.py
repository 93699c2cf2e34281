"""The CLI commands' shared options (where the queue is, its configuration file, the flags
several commands take) and the symbol checks of readers; their console and errors are
:mod:`binfeed.commands.console`'s.

- :func:`queue_location`: where a command's queue is, as ``DIR`` / ``--queue DIR`` or as
  ``--bus-root ROOT [--name NAME]`` (:mod:`binfeed.bus`); the command receives one path.
- :func:`config_option`: ``--config FILE`` (TOML, :mod:`binfeed.config`), defaults for
  every other flag; the command line wins.
- :func:`retain_option`: ``--retain 7d|50GiB`` (:mod:`binfeed.retention`).
- :func:`segment_slots_option`: ``--segment-slots N`` of the commands that write a queue.
- :func:`sync_option`: ``--sync none|seal|interval:S`` (:mod:`binfeed.durability`).
- :func:`window_options`: ``--from T --to T``, receive-time windows (:mod:`binfeed.selection`).
- :func:`queue_symbols`: the symbol names a queue defines.
- :func:`check_symbols`: what a reader says when ``--symbols`` names symbols the queue lacks.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import click
from click.core import ParameterSource

from binfeed import bus
from binfeed._ffi import lib
from binfeed.commands.params import RETENTION, SYNC, TIME
from binfeed.errors import ConfigError, InvalidRecordError
from binfeed.queue import QueueReader
from binfeed.selection import Selection, no_match_message
from binfeed.symbols import symbol_key

F = TypeVar("F", bound=Callable[..., Any])

#: Environment variable that supplies ``--config`` when the flag is not given.
CONFIG_ENV = "BINFEED_CONFIG"


def queue_dir_option(required: bool = True) -> Callable[[F], F]:
    """``--queue DIR``: the queue directory a command writes or reads."""
    return click.option(
        "--queue", "-q", "queue", required=required,
        type=click.Path(file_okay=False, dir_okay=True, writable=True, resolve_path=False),
        help="Queue directory (created if missing when writing).",
    )


def _symbol_keys(ctx: click.Context, param: click.Parameter, value: str | None) -> list[str]:
    try:
        return split_symbols(value)
    except InvalidRecordError as exc:
        raise click.BadParameter(str(exc), ctx, param) from None


def symbols_option(help_text: str) -> Callable[[F], F]:
    """``--symbols a,b``: comma-separated symbols, any case; the command receives them as
    the queue stores them (``['BTCUSDT', '币安人生USDT']``, [] when not given)."""
    return click.option("--symbols", "-s", default=None, metavar="SYM[,SYM...]",
                        callback=_symbol_keys, help=help_text)


def _check_segment_slots(ctx: click.Context, param: click.Parameter, value: int) -> int:
    # The writer refuses too small segments too, but only once the command runs, as an
    # exception: checking here makes it a usage error (exit 2) before anything is opened.
    minimum = int(lib.BF_MIN_SEGMENT_SLOTS)
    if 0 < value < minimum:
        raise click.BadParameter(
            f"{value} is too small: give at least {minimum}, or 0 for the queue's default",
            ctx, param)
    return value


def segment_slots_option() -> Callable[[F], F]:
    """``--segment-slots N``: records per segment file of a command that writes a queue
    (0, the default, leaves it to the queue); the command receives ``segment_slots``."""
    return click.option(
        "--segment-slots", "segment_slots", type=click.IntRange(min=0), default=0,
        show_default=True, metavar="N", callback=_check_segment_slots,
        help=f"Records per segment file (0: the queue's default, "
        f"{lib.BF_DEFAULT_SEGMENT_SLOTS // 1024**2} Mi records). A new "
        "segment reserves its whole size on disk when it is created: smaller segments "
        "need less free space at a time, and retention drops data in smaller steps.")


def sync_option() -> Callable[[F], F]:
    """``--sync LEVEL``: what a writing command does for durability; the command receives
    ``sync`` (a :class:`~binfeed.durability.SyncPolicy`)."""
    return click.option(
        "--sync", "sync", type=SYNC, default="none", show_default=True,
        help="Durability against a power cut (a crash of the process loses nothing "
        "published at any level): none (the kernel writes back when it likes), seal "
        "(fdatasync each segment when it is sealed), interval:SECONDS (seal, and the open "
        "segment every SECONDS). See docs/reliability.md for what each costs.")


def window_options() -> Callable[[F], F]:
    """``--from T`` and ``--to T``: the command receives ``time_from`` and ``time_to`` (ns
    since the epoch, or None)."""
    def decorate(fn: F) -> F:
        fn = click.option("--to", "time_to", type=TIME, default=None, metavar="T",
                          help="Only records received before T.")(fn)
        return click.option(
            "--from", "time_from", type=TIME, default=None, metavar="T",
            help="Only records received at or after T (ISO 8601, UTC unless it says "
            "otherwise, or ns since the epoch).")(fn)
    return decorate


def queue_symbols(queue_dir: Path) -> list[str]:
    """The symbol names the queue at ``queue_dir`` defines (its newest segment lists them
    all)."""
    with QueueReader(queue_dir, from_end=True) as probe:
        return list(probe.symbols.values())


def check_symbols(selection: Selection, queue_dir: Path, names: Iterable[str], *,
                  follow: bool = False) -> None:
    """Warns on stderr about selected symbols the queue does not have; when it has none of
    them, stops with ``Error: ...`` (exit 1), unless ``follow`` (they may come later).

    Raises:
        click.ClickException: no selected symbol is in the queue (without ``follow``).
    """
    names = set(names)
    message = no_match_message(selection, queue_dir, names)
    if message is None:
        return
    if not follow and not selection.symbols & names:
        raise click.ClickException(f"nothing to read: {message}")
    suffix = "; following: they may come later" if follow and not selection.symbols & names \
        else ""
    click.echo(f"binfeed: warning: {message}{suffix}", err=True)


def split_symbols(value: str | None) -> list[str]:
    """'btcusdt, 币安人生usdt' -> ['BTCUSDT', '币安人生USDT'] (empty entries dropped).

    Raises:
        InvalidRecordError: a name no queue can hold (:func:`binfeed.symbols.symbol_key`).
    """
    if not value:
        return []
    return [symbol_key(s.strip()) for s in value.split(",") if s.strip()]


# --------------------------------------------------------------------------------------
# Queue location: DIR / --queue DIR, or --bus-root ROOT [--name NAME]
# --------------------------------------------------------------------------------------

#: How a recorder's default queue name is found: from the command's parsed parameters.
DefaultName = str | Callable[[Mapping[str, Any]], str | None] | None

_DIR = "_bf_queue_dir"
_ROOT = "bus_root"
_NAME = "_bf_queue_name"


def recorder_default_name(params: Mapping[str, Any]) -> str:
    """Default queue name of ``binfeed record`` from its ``streams`` parameter
    (:func:`binfeed.bus.recorder_queue_name`: ``binance-spot`` for the default streams)."""
    return bus.recorder_queue_name(params.get("streams"))


def queue_location(
    *,
    writer: bool = False,
    param: str = "queue",
    default_name: DefaultName = None,
    listing: bool = False,
) -> Callable[[F], F]:
    """Where the command's queue is; the command receives it as ``param`` (a Path).

    Readers (``writer=False``) take an optional ``DIR`` argument, writers ``--queue/-q
    DIR``; both also take ``--bus-root ROOT`` (or $BINFEED_BUS_ROOT) with ``--name NAME``,
    meaning the queue ``ROOT/NAME`` (:mod:`binfeed.bus`). Exactly one of the two ways must
    be given on the command line; a way given only in a config file or the environment
    yields to one given on the command line.

    Args:
        writer: ``--queue DIR`` instead of a ``DIR`` argument; the name defaults to
            ``default_name``.
        param: the keyword the command receives the queue path as.
        default_name: writers: the name when ``--name`` is not given (a string, or a
            function of the command's parsed parameters, e.g. :func:`recorder_default_name`);
            None: ``--name`` is required with ``--bus-root``. Readers without ``--name``
            use the bus's only queue.
        listing: readers: ``--bus-root`` without ``--name`` passes ``param=None`` and
            ``bus_root=ROOT`` (the command lists the bus) instead of choosing a queue;
            the command then also receives ``bus_root``.

    Example::

        @click.command()
        @queue_location(writer=True, default_name=recorder_default_name)
        def record(queue: Path, ...): ...
    """

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            ctx = click.get_current_context()
            directory = kwargs.pop(_DIR, None)
            root = kwargs.pop(_ROOT, None)
            name = kwargs.pop(_NAME, None)
            path = _resolve(ctx, writer, directory, root, name, default_name, listing, kwargs)
            kwargs[param] = path
            if listing:
                kwargs["bus_root"] = root if path is None else None
            return fn(*args, **kwargs)

        where = ("--queue DIR" if writer else "DIR")
        options = [
            click.option("--bus-root", _ROOT, envvar=bus.BUS_ROOT_ENV, default=None,
                         metavar="ROOT",
                         type=click.Path(file_okay=False, path_type=Path),
                         help=f"A bus root holding named queues (ROOT/NAME), instead of "
                         f"{where}. Env: {bus.BUS_ROOT_ENV}."),
            click.option("--name", _NAME, default=None, metavar="NAME",
                         help=_name_help(writer, default_name, listing)),
        ]
        if writer:
            options.append(click.option(
                "--queue", "-q", _DIR, default=None, metavar="DIR",
                type=click.Path(file_okay=False, dir_okay=True, path_type=Path),
                help="Queue directory (created if missing), or use --bus-root."))
        else:
            options.append(click.argument(
                _DIR, metavar="[DIR]", required=False,
                type=click.Path(file_okay=False, dir_okay=True, path_type=Path)))
        decorated: Any = wrapper
        for option in reversed(options):
            decorated = option(decorated)
        return decorated

    return decorate


def _name_help(writer: bool, default_name: DefaultName, listing: bool) -> str:
    if writer:
        if default_name is None:
            return "Queue name under --bus-root (required with it)."
        if isinstance(default_name, str):
            return f"Queue name under --bus-root (default: {default_name})."
        return ("Queue name under --bus-root (default: from the exchange, market and "
                "streams, e.g. binance-spot; see docs/operations.md).")
    if listing:
        return "Queue name under --bus-root (default: list the bus's queues)."
    return "Queue name under --bus-root (default: the bus's only queue)."


def _rank(ctx: click.Context, name: str) -> int:
    """Lower is stronger: command line, environment, config file, default."""
    source = ctx.get_parameter_source(name)
    return int(source) if source is not None else int(ParameterSource.DEFAULT)


def _resolve(
    ctx: click.Context,
    writer: bool,
    directory: Path | None,
    root: Path | None,
    name: str | None,
    default_name: DefaultName,
    listing: bool,
    params: Mapping[str, Any],
) -> Path | None:
    dir_flag = "--queue" if writer else "DIR"
    cmdline = ParameterSource.COMMANDLINE
    if directory is not None and root is not None:
        if _rank(ctx, _DIR) == _rank(ctx, _ROOT) == cmdline:
            raise click.UsageError(f"give either {dir_flag} or --bus-root, not both", ctx)
        if _rank(ctx, _DIR) <= _rank(ctx, _ROOT):
            root = None
        else:
            directory = None
    if directory is not None:
        if name is not None and _rank(ctx, _NAME) == cmdline:
            raise click.UsageError(f"--name goes with --bus-root, not with {dir_flag}", ctx)
        return directory
    if root is None:
        if name is not None and _rank(ctx, _NAME) == cmdline:
            raise click.UsageError(
                f"--name needs --bus-root ROOT (or ${bus.BUS_ROOT_ENV})", ctx)
        how = "--queue DIR" if writer else "DIR"
        raise click.UsageError(f"give the queue: {how}, or --bus-root ROOT [--name NAME]", ctx)
    try:
        if name is not None:
            return bus.queue_path(root, name)
        if writer:
            default = default_name(params) if callable(default_name) else default_name
            if default is None:
                raise click.UsageError("--bus-root needs --name NAME here", ctx)
            return bus.queue_path(root, default)
        if listing:
            return None
        return bus.resolve_reader_queue(root, None)
    except ConfigError as exc:
        if name is not None:
            raise click.BadParameter(str(exc), ctx, param_hint="'--name'") from None
        raise click.ClickException(str(exc)) from None


# --------------------------------------------------------------------------------------
# --config FILE
# --------------------------------------------------------------------------------------


def _load_config(ctx: click.Context, param: click.Parameter, value: Path | None) -> None:
    if value is None:
        return
    from binfeed.config import build_default_maps, cli_commands, load_toml

    commands = cli_commands(ctx)
    own = ctx.command.name or ""
    commands.setdefault(own, ctx.command)
    try:
        maps = build_default_maps(load_toml(value), commands, str(value))
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    merged = dict(ctx.default_map or {})
    merged.update(maps.get(own, {}))
    ctx.default_map = merged


def config_option() -> Callable[[F], F]:
    """``--config FILE`` (or $BINFEED_CONFIG): defaults for the command's flags from a TOML
    file (:mod:`binfeed.config`); flags on the command line and in the environment win.

    An unknown key or a value of the wrong type stops the command with ``Error: ...``
    (exit 1) before it does anything.
    """
    return click.option(
        "--config", "config_file", type=click.Path(dir_okay=False, path_type=Path),
        envvar=CONFIG_ENV, is_eager=True, expose_value=False, callback=_load_config,
        metavar="FILE",
        help=f"TOML file of defaults for these flags (keys = flag names; see "
        f"docs/config.example.toml). Flags win. Env: {CONFIG_ENV}.")


# --------------------------------------------------------------------------------------
# --retain
# --------------------------------------------------------------------------------------


def retain_option(required: bool = False) -> Callable[[F], F]:
    """``--retain AGE|SIZE``: the command receives ``retain`` as a
    :class:`binfeed.retention.RetentionPolicy` (None when not given)."""
    extra: dict[str, Any] = {"required": True} if required else {"default": None}
    return click.option(
        "--retain", "retain", type=RETENTION, metavar="AGE|SIZE",
        help="Keep this much: an age (36h, 7d, 2w), a size (50GiB, 500MB) or both "
        "(7d,50GiB). Older whole sealed segments are deleted, never the newest, never one "
        "a reader has open.", **extra)
