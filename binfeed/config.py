"""``--config FILE``: TOML files whose keys are the command-line flags, for deployments.

Keys are the long flag names without ``--`` (``bus-root`` or ``bus_root``); a command's
``DIR`` argument is the key ``dir``. Keys at the top of the file apply to every command
that has that flag; a table named after a command applies to that command only and wins
over the top level; flags given on the command line (or in the environment) win over
both::

    bus_root = "/srv/binfeed"       # every command that takes --bus-root
    name = "binance-spot"

    [record]
    symbols = ["btcusdt", "ethusdt"] # a list is joined with ',' for comma-separated flags
    streams = "bookTicker,trade"
    retain = "7d"

    [monitor]
    interval = 0.5

An unknown table or key, or a value of the wrong type, is a :class:`ConfigError` naming
the file, the table and the key, raised before the command runs. The full example is
``docs/config.example.toml``.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click

from binfeed.errors import ConfigError

#: Parameters that never come from a config file.
_NOT_CONFIGURABLE = frozenset({"config_file", "help", "version"})


def load_toml(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The parsed TOML document at ``path``.

    Raises:
        ConfigError: the file cannot be read or is not valid TOML.
    """
    p = Path(path)
    try:
        with p.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file {p} does not exist") from None
    except IsADirectoryError:
        raise ConfigError(f"config file {p} is a directory; give a TOML file") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {p}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {p} is not valid TOML: {exc}") from None


def config_keys(command: click.Command) -> dict[str, click.Parameter]:
    """The config keys of a command (normalized with '_'), each with its parameter."""
    keys: dict[str, click.Parameter] = {}
    for param in command.params:
        if param.name is None or param.name in _NOT_CONFIGURABLE or not param.expose_value:
            continue
        if isinstance(param, click.Option):
            longs = [o for o in param.opts if o.startswith("--")]
            names = [o[2:] for o in longs] or [param.name]
        else:
            names = [param.human_readable_name.strip("[].").lower(), param.name]
        for name in names:
            if name.startswith("_"):
                continue
            keys[_norm(name)] = param
    return keys


def _norm(key: str) -> str:
    return key.replace("-", "_")


def build_default_maps(
    doc: Mapping[str, Any], commands: Mapping[str, click.Command], source: str
) -> dict[str, dict[str, Any]]:
    """Turns a config document into one click ``default_map`` per command name.

    Args:
        doc: the parsed TOML.
        commands: command name -> command (every command of the CLI, so that a key meant
            for another command is not mistaken for a typo).
        source: the file name, for messages.

    Raises:
        ConfigError: an unknown table or key, or a value of the wrong type.
    """
    keyed = {name: config_keys(cmd) for name, cmd in commands.items()}
    known_top = {k for keys in keyed.values() for k in keys}
    maps: dict[str, dict[str, Any]] = {name: {} for name in commands}
    sections: dict[str, Mapping[str, Any]] = {}
    for raw_key, value in doc.items():
        if isinstance(value, dict):
            if raw_key not in commands:
                raise ConfigError(
                    f"{source}: unknown table [{raw_key}]: tables are named after commands "
                    f"({', '.join(sorted(commands))})")
            sections[raw_key] = value
            continue
        key = _norm(raw_key)
        if key not in known_top:
            raise ConfigError(f"{source}: unknown key {raw_key!r}{_suggest(key, known_top)}")
        for name, keys in keyed.items():
            if key in keys:
                param = keys[key]
                maps[name][param.name or key] = _checked(value, param, source, raw_key, None)
    for section, table in sections.items():
        keys = keyed[section]
        for raw_key, value in table.items():
            key = _norm(raw_key)
            if key not in keys:
                raise ConfigError(f"{source}: unknown key {raw_key!r} in [{section}]"
                                  f"{_suggest(key, set(keys))}")
            param = keys[key]
            maps[section][param.name or key] = _checked(value, param, source, raw_key, section)
    return maps


def _suggest(key: str, known: set[str]) -> str:
    import difflib

    close = difflib.get_close_matches(key, sorted(known), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"{hint}; known keys: {', '.join(sorted(known))}"


def _checked(value: Any, param: click.Parameter, source: str, key: str,
             section: str | None) -> Any:
    """The value for click's default_map, after checking it against the parameter."""
    where = f"{source}: {key!r}" + (f" in [{section}]" if section else "")
    if isinstance(param, click.Option) and param.count:
        if not isinstance(value, int) or isinstance(value, bool):
            raise ConfigError(f"{where} must be an integer, not {_tname(value)}")
        return value
    if isinstance(param, click.Option) and param.is_flag and \
            isinstance(param.type, click.types.BoolParamType):
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false, not {_tname(value)}")
        return value
    many = param.multiple or (param.nargs != 1)
    if many:
        items = value if isinstance(value, list) else [value]
        return [_scalar(v, param, where) for v in items]
    if isinstance(value, list):
        if not _is_text(param.type) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{where} takes one value, not a list")
        value = ",".join(value)
    return _scalar(value, param, where)


def _is_text(ptype: click.ParamType) -> bool:
    return ptype is click.STRING or isinstance(ptype, click.types.StringParamType)


def _scalar(value: Any, param: click.Parameter, where: str) -> Any:
    ptype = param.type
    if isinstance(value, dict | list):
        raise ConfigError(f"{where} must be a single value, not {_tname(value)}")
    if isinstance(ptype, click.types.IntParamType) and (
            not isinstance(value, int) or isinstance(value, bool)):
        raise ConfigError(f"{where} must be an integer, not {_tname(value)}")
    if isinstance(ptype, click.types.FloatParamType) and (
            not isinstance(value, int | float) or isinstance(value, bool)):
        raise ConfigError(f"{where} must be a number, not {_tname(value)}")
    if isinstance(ptype, click.types.BoolParamType) and not isinstance(value, bool):
        raise ConfigError(f"{where} must be true or false, not {_tname(value)}")
    if isinstance(ptype, click.Path | click.Choice | click.types.StringParamType) and not \
            isinstance(value, str):
        raise ConfigError(f"{where} must be a string, not {_tname(value)}")
    try:
        ptype.convert(value, param, None)
    except click.BadParameter as exc:
        raise ConfigError(f"{where}: {exc.message}") from None
    return value


def _tname(value: Any) -> str:
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a table"
    return type(value).__name__


def cli_commands(ctx: click.Context) -> dict[str, click.Command]:
    """Every command of the CLI ``ctx`` belongs to (just its own command when it runs
    outside a group)."""
    root_ctx = ctx.find_root()
    root = root_ctx.command
    if isinstance(root, click.Group):
        # list_commands/get_command, not .commands: the binfeed group loads commands lazily
        return {name: cmd for name in root.list_commands(root_ctx)
                if (cmd := root.get_command(root_ctx, name)) is not None}
    return {ctx.command.name or "command": ctx.command}


__all__ = ["build_default_maps", "cli_commands", "config_keys", "load_toml"]
