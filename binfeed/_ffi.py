"""The only importer of the compiled extension: ``ffi``, ``lib`` and status checking.

Every C call that returns a status goes through :func:`check`, which turns a negative
``BF_E*`` code into the matching :mod:`binfeed.errors` exception, with the detailed message
C kept for the handle when there is one.
"""

from __future__ import annotations

from typing import NoReturn

from binfeed import errors

try:
    from binfeed._binfeed_c import ffi, lib
except ImportError as exc:  # pragma: no cover - only without a build
    raise ImportError(
        "binfeed's C extension is not built. Install binfeed with `pip install .` (or run "
        "`./dev test` in a checkout), which needs a C compiler and the Python headers."
    ) from exc

__all__ = ["check", "ffi", "lib", "raise_status", "string"]

_EXCEPTIONS: dict[int, type[errors.BinfeedError]] = {
    lib.BF_EINVAL: errors.InvalidRecordError,
    lib.BF_ENOMEM: errors.BinfeedError,
    lib.BF_EIO: errors.QueueIOError,
    lib.BF_ENOSPC: errors.DiskFullError,
    lib.BF_ELOCKED: errors.QueueLockedError,
    lib.BF_ECORRUPT: errors.QueueCorruptError,
    lib.BF_EVERSION: errors.QueueVersionError,
    lib.BF_ENOTFOUND: errors.QueueNotFoundError,
    lib.BF_ESYMBOL: errors.InvalidRecordError,
    lib.BF_EJSON: errors.FrameError,
    lib.BF_EFIELD: errors.FrameError,
    lib.BF_ENUMBER: errors.FrameError,
    lib.BF_EUNKNOWN: errors.FrameError,
    lib.BF_ETOOBIG: errors.FrameError,
    lib.BF_ECLOSED: errors.QueueClosedError,
    lib.BF_ETIMEOUT: errors.ReadTimeout,
    lib.BF_ESTATE: errors.BinfeedError,
    lib.BF_EDAMAGED: errors.DamagedRecordError,
}


def string(ptr: object) -> str:
    """A C string (``char *`` or ``char[]``) as ``str``; NULL gives ''."""
    if ptr == ffi.NULL:
        return ""
    return ffi.string(ptr).decode("utf-8", "replace")  # type: ignore[no-any-return]


def raise_status(status: int, detail: str = "") -> NoReturn:
    """Raises the exception for a negative status, preferring C's detailed message."""
    cls = _EXCEPTIONS.get(status, errors.BinfeedError)
    message = detail or string(lib.bf_status_message(status))
    raise cls(message, status)


def check(status: int, detail: object = None) -> int:
    """Returns ``status`` when it is not an error, else raises.

    Args:
        status: a C return value.
        detail: a callable returning the handle's detailed message (called only on error),
            or a string.
    """
    if status >= 0:
        return status
    if callable(detail):
        message = detail()
    elif isinstance(detail, str):
        message = detail
    else:
        message = ""
    raise_status(status, message)
