"""cffi build script (API mode, out-of-line): the only place that knows C sources and flags.

`pip install .` runs it through setup.py's `cffi_modules`; in a checkout, `./dev test` (or
`pip install --no-build-isolation -e .`) rebuilds the extension in place when csrc/ changes.
"""

from __future__ import annotations

import os
from pathlib import Path

from cffi import FFI

ROOT = Path(__file__).resolve().parent
CSRC = ROOT / "csrc"
# Relative paths: setuptools wants sources relative to setup.py's directory.
SOURCES = sorted(str(p.relative_to(ROOT)) for p in (CSRC / "src").glob("*.c"))
VENDOR_SOURCES = ["csrc/vendor/yyjson/yyjson.c"]
INCLUDE_DIRS = ["csrc/include", "csrc/vendor/yyjson", "csrc/src"]
# yyjson: binfeed only reads JSON; compile the writer and other unused parts out.
DEFINE_MACROS = [
    ("YYJSON_DISABLE_WRITER", "1"),
    ("YYJSON_DISABLE_UTILS", "1"),
    ("YYJSON_DISABLE_INCR_READER", "1"),
    ("_GNU_SOURCE", "1"),
]
# -fvisibility=hidden: the module exports PyInit__binfeed_c alone (cffi's wrappers call
# the C in the same file), so the C's calls across its own files (parser -> writer -> CRC)
# bind directly instead of through the PLT, and no other library can interpose them.
EXTRA_COMPILE_ARGS = ["-std=c11", "-O3", "-fvisibility=hidden", "-fno-strict-aliasing", "-Wall",
                      "-Wno-unused-function"]
if os.environ.get("BINFEED_CFLAGS"):
    EXTRA_COMPILE_ARGS += os.environ["BINFEED_CFLAGS"].split()


def read_cdef() -> str:
    """The declarations cffi parses live in csrc/cdef/*.cdef (plain C, not Python strings)."""
    return "\n".join(p.read_text() for p in sorted((CSRC / "cdef").glob("*.cdef")))


ffibuilder = FFI()
ffibuilder.cdef(read_cdef())
ffibuilder.set_source(
    "binfeed._binfeed_c",
    "".join(f'#include "{h}"\n'
            for h in ("binfeed.h", "ffi_glue.h", "parse_capture.h", "tables.h")),
    sources=SOURCES + [s for s in VENDOR_SOURCES if (ROOT / s).exists()],
    include_dirs=INCLUDE_DIRS,
    define_macros=DEFINE_MACROS,
    extra_compile_args=EXTRA_COMPILE_ARGS,
)
