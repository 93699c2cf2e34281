"""Symbol names: the queue's spelling (asked of C) and the spelling of stream names.

Binance writes a symbol upper-case in payloads (``"s":"BTCUSDT"``, ``"s":"币安人生USDT"``)
and lower-case in stream names (``btcusdt@trade``, ``币安人生usdt@trade``). Only the ASCII
letters change case: every other character (Binance lists UTF-8 symbols since 2025-12)
stays as it is. Python's ``str.upper()`` and ``str.lower()`` also change non-ASCII letters
(``Ａ`` -> ``ａ``, ``ß`` -> ``SS``) and are never used on symbols; these functions are.

Which names are valid, and their stored form, is the C writer's rule
(``bf_symbol_normalize``): at most ``BF_SYMBOL_MAX`` (32) bytes of UTF-8, ASCII letters,
digits, ``_``, ``-``, ``.`` and any non-ASCII character.

Example::

    >>> symbol_key("币安人生usdt"), stream_symbol("币安人生USDT")
    ('币安人生USDT', '币安人生usdt')
"""

from __future__ import annotations

from binfeed import errors
from binfeed._ffi import ffi, lib

__all__ = ["SYMBOL_MAX_BYTES", "stream_name", "stream_symbol", "symbol_key"]

#: Longest symbol name the queue stores, in bytes of UTF-8 (``BF_SYMBOL_MAX``).
SYMBOL_MAX_BYTES: int = int(lib.BF_SYMBOL_MAX)

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def symbol_key(name: str) -> str:
    """A symbol as the queue stores it: ``'btcusdt'`` -> ``'BTCUSDT'``, ``'币安人生usdt'``
    -> ``'币安人生USDT'`` (ASCII letters upper-case, nothing else changed).

    Raises:
        InvalidRecordError: empty, longer than :data:`SYMBOL_MAX_BYTES` bytes of UTF-8, or
            holding an ASCII character other than letters, digits, ``_``, ``-`` and ``.``.
    """
    try:
        raw = name.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate (bytes that were not UTF-8)
        raise errors.InvalidRecordError(
            f"invalid symbol {name!r}: it is not valid UTF-8", lib.BF_ESYMBOL) from None
    out = ffi.new("char[]", SYMBOL_MAX_BYTES)
    if raw and lib.bf_symbol_normalize(raw, len(raw), out) == lib.BF_OK:
        return ffi.unpack(out, len(raw)).decode("utf-8")
    if len(raw) > SYMBOL_MAX_BYTES:
        raise errors.InvalidRecordError(
            f"symbol {name!r} is too long: {len(raw)} bytes of UTF-8, and a queue stores at "
            f"most {SYMBOL_MAX_BYTES} bytes per symbol", lib.BF_ESYMBOL)
    raise errors.InvalidRecordError(
        f"invalid symbol {name!r}: use Binance's symbol name, made of ASCII letters, digits, "
        "'_', '-', '.' and non-ASCII characters (for example btcusdt or 币安人生usdt)",
        lib.BF_ESYMBOL)


def stream_symbol(symbol: str) -> str:
    """A symbol as stream names spell it: ASCII letters lower-case, nothing else changed
    (``'币安人生USDT'`` -> ``'币安人生usdt'``). No validation: see :func:`symbol_key`."""
    return symbol.translate(_ASCII_LOWER)


def stream_name(symbol: str, kind: str) -> str:
    """Binance's name of one stream of a symbol: ``('BTCUSDT', 'trade')`` ->
    ``'btcusdt@trade'``."""
    return f"{stream_symbol(symbol)}@{kind}"
