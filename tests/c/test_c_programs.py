"""Compiles every tests/c/test_*.c against binfeed's C sources and runs it, twice:
with -Wall -Wextra -Werror (optimised) and under AddressSanitizer + UndefinedBehaviorSanitizer.

A C test program gets one argument, a scratch directory, and the environment variable
BINFEED_TEST_DATA (tests/data). It exits 0 on success and prints what failed otherwise.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
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


def _compile(cmd: list[str]) -> str | None:
    """Runs a compiler command; None on success, else what it printed."""
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode == 0:
        return None
    return f"{' '.join(map(str, cmd))}\n{proc.stdout}\n{proc.stderr}"


def _compile_all(cmds: list[list[str]]) -> list[str | None]:
    """The commands' results, run on every core: compiling is most of these tests' time."""
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        return list(pool.map(_compile, cmds))


@pytest.fixture(scope="session")
def c_programs(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
               ) -> dict[tuple[str, str], Path | str]:
    """Each selected test program, per config: its executable, or the compiler's message.
    Built from object files of binfeed's sources (-Werror) and the vendored yyjson."""
    if shutil.which(CC) is None:
        pytest.skip(f"no C compiler {CC!r}")
    keys = sorted({(item.callspec.params["program"], item.callspec.params["config"])
                   for item in request.session.items
                   if getattr(item, "originalname", "") == "test_c_program"})
    objects: dict[str, list[Path]] = {}
    cmds: list[list[str]] = []
    for name in sorted({config for _, config in keys}):
        flags = CONFIGS[name]
        d = tmp_path_factory.mktemp(f"obj-{name}")
        objects[name] = []
        for src in sorted((CSRC / "src").glob("*.c")):
            obj = d / (src.stem + ".o")
            cmds.append([CC, *COMMON, *WARNINGS, *flags, "-c", str(src), "-o", str(obj)])
            objects[name].append(obj)
        yy = CSRC / "vendor" / "yyjson" / "yyjson.c"
        obj = d / "yyjson.o"
        # Vendored code: compiled with the same sanitizers, but not with our -Werror set.
        cmds.append([CC, *COMMON, *flags, "-c", str(yy), "-o", str(obj)])
        objects[name].append(obj)
    failed = [msg for msg in _compile_all(cmds) if msg is not None]
    if failed:
        pytest.fail("binfeed's C sources do not compile:\n" + "\n".join(failed))
    bin_dir = tmp_path_factory.mktemp("c-programs")
    exes = {key: bin_dir / f"{Path(key[0]).stem}-{key[1]}" for key in keys}
    results = _compile_all([
        [CC, *COMMON, *WARNINGS, *CONFIGS[config], str(HERE / program),
         *map(str, objects[config]), "-o", str(exes[(program, config)]), "-lm", "-lpthread"]
        for program, config in keys])
    return {key: exes[key] if msg is None else msg for key, msg in zip(keys, results, strict=True)}


@pytest.mark.parametrize("config", sorted(CONFIGS))
@pytest.mark.parametrize("program", PROGRAMS)
def test_c_program(
    program: str, config: str, c_programs: dict[tuple[str, str], Path | str], tmp_path: Path
) -> None:
    exe = c_programs[(program, config)]
    if isinstance(exe, str):
        pytest.fail(exe)  # the compiler's message
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    env = dict(os.environ)
    env["BINFEED_TEST_DATA"] = str(ROOT / "tests" / "data")
    env["ASAN_OPTIONS"] = "detect_leaks=1:abort_on_error=0:halt_on_error=1"
    env["UBSAN_OPTIONS"] = "print_stacktrace=1:halt_on_error=1"
    proc = subprocess.run([str(exe), str(scratch)], capture_output=True, text=True,
                          env=env, timeout=300, check=False)
    assert proc.returncode == 0, f"{program} [{config}] failed:\n{proc.stdout}\n{proc.stderr}"
