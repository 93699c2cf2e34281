"""Compiles every tests/c/test_*.c against binfeed's C sources and runs it, twice:
with -Wall -Wextra -Werror (optimised) and under AddressSanitizer + UndefinedBehaviorSanitizer.

A C test program gets one argument, a scratch directory, and the environment variable
BINFEED_TEST_DATA (tests/data). It exits 0 on success and prints what failed otherwise.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # compiles every C test twice, once with sanitizers

ROOT = Path(__file__).resolve().parents[2]
CSRC = ROOT / "csrc"
HERE = Path(__file__).resolve().parent
CC = os.environ.get("CC", "cc")

COMMON = [
    "-std=c11",
    "-D_GNU_SOURCE",
    "-DYYJSON_DISABLE_WRITER=1",
    "-DYYJSON_DISABLE_UTILS=1",
    "-DYYJSON_DISABLE_INCR_READER=1",
    f"-I{CSRC / 'include'}",
    f"-I{CSRC / 'src'}",
    f"-I{CSRC / 'vendor' / 'yyjson'}",
]
WARNINGS = ["-Wall", "-Wextra", "-Werror", "-Wshadow", "-Wstrict-prototypes", "-Wvla"]
CONFIGS = {
    "werror": ["-O2", "-g"],
    "sanitize": [
        "-O1",
        "-g",
        "-fno-omit-frame-pointer",
        "-fsanitize=address,undefined",
        "-fno-sanitize-recover=all",
    ],
}
PROGRAMS = sorted(p.name for p in HERE.glob("test_*.c"))


def _run(cmd: list[str], **kw: object) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, **kw)  # type: ignore[call-overload]
    if proc.returncode != 0:
        pytest.fail(f"{' '.join(map(str, cmd))}\n{proc.stdout}\n{proc.stderr}")


@pytest.fixture(scope="session")
def c_objects(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Path]]:
    """Object files of binfeed's sources (-Werror) and the vendored yyjson, per config."""
    if shutil.which(CC) is None:
        pytest.skip(f"no C compiler {CC!r}")
    out: dict[str, list[Path]] = {}
    for name, flags in CONFIGS.items():
        d = tmp_path_factory.mktemp(f"obj-{name}")
        objs = []
        for src in sorted((CSRC / "src").glob("*.c")):
            obj = d / (src.stem + ".o")
            _run([CC, *COMMON, *WARNINGS, *flags, "-c", str(src), "-o", str(obj)])
            objs.append(obj)
        yy = CSRC / "vendor" / "yyjson" / "yyjson.c"
        if yy.exists():
            obj = d / "yyjson.o"
            # Vendored code: compiled with the same sanitizers, but not with our -Werror set.
            _run([CC, *COMMON, *flags, "-c", str(yy), "-o", str(obj)])
            objs.append(obj)
        out[name] = objs
    return out


@pytest.mark.parametrize("config", sorted(CONFIGS))
@pytest.mark.parametrize("program", PROGRAMS)
def test_c_program(
    program: str, config: str, c_objects: dict[str, list[Path]], tmp_path: Path
) -> None:
    exe = tmp_path / Path(program).stem
    flags = CONFIGS[config]
    _run([CC, *COMMON, *WARNINGS, *flags, str(HERE / program), *map(str, c_objects[config]),
          "-o", str(exe), "-lm", "-lpthread"])
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    env = dict(os.environ)
    env["BINFEED_TEST_DATA"] = str(ROOT / "tests" / "data")
    env["ASAN_OPTIONS"] = "detect_leaks=1:abort_on_error=0:halt_on_error=1"
    env["UBSAN_OPTIONS"] = "print_stacktrace=1:halt_on_error=1"
    proc = subprocess.run([str(exe), str(scratch)], capture_output=True, text=True,
                          env=env, timeout=300, check=False)
    assert proc.returncode == 0, f"{program} [{config}] failed:\n{proc.stdout}\n{proc.stderr}"
