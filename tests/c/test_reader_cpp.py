"""binfeed's public C headers compile as C++17 with warnings as errors, and the header-only
reader (its std::atomic branch) reads back, from C++, a queue written by the C writer."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # compiles the headers as C++

ROOT = Path(__file__).resolve().parents[2]
CSRC = ROOT / "csrc"
HERE = Path(__file__).resolve().parent
CC = os.environ.get("CC", "cc")
CXX = os.environ.get("CXX", "c++")
WARNINGS = ["-Wall", "-Wextra", "-Werror"]


def _run(cmd: list[str], cwd: Path | None = None) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=cwd)
    if proc.returncode != 0:
        pytest.fail(f"{' '.join(map(str, cmd))}\n{proc.stdout}\n{proc.stderr}")


@pytest.mark.skipif(
    shutil.which(CXX) is None or shutil.which(CC) is None, reason="needs a C and a C++ compiler"
)
def test_reader_header_in_cpp(tmp_path: Path) -> None:
    # The library as a static archive: the linker takes only what the program uses (the
    # writer), so the parser's yyjson is not needed here.
    objs = []
    for src in sorted((CSRC / "src").glob("*.c")):
        obj = tmp_path / (src.stem + ".o")
        _run(
            [
                CC,
                "-std=c11",
                "-D_GNU_SOURCE",
                "-O1",
                *WARNINGS,
                f"-I{CSRC / 'include'}",
                f"-I{CSRC / 'src'}",
                f"-I{CSRC / 'vendor' / 'yyjson'}",
                "-c",
                str(src),
                "-o",
                str(obj),
            ]
        )
        objs.append(str(obj))
    lib = tmp_path / "libbinfeed.a"
    _run(["ar", "rcs", str(lib), *objs])
    exe = tmp_path / "reader_cpp_check"
    _run(
        [
            CXX,
            "-std=c++17",
            *WARNINGS,
            "-Wpedantic",
            "-O2",
            "-x",
            "c++",
            f"-I{CSRC / 'include'}",
            str(HERE / "reader_cpp_check.cpp"),
            "-x",
            "none",
            str(lib),
            "-o",
            str(exe),
            "-lpthread",
            "-lm",
        ]
    )
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    proc = subprocess.run(
        [str(exe), str(scratch)], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


@pytest.mark.skipif(shutil.which(CC) is None, reason="needs a C compiler")
@pytest.mark.parametrize("std", ["c11", "gnu17"])
def test_example_consumer_compiles_alone(tmp_path: Path, std: str) -> None:
    """examples/c/bf_tail.c needs nothing but csrc/include (what a C user copies)."""
    _run(
        [
            CC,
            f"-std={std}",
            *WARNINGS,
            "-Wshadow",
            "-Wstrict-prototypes",
            "-Wvla",
            "-Wpedantic",
            "-O2",
            f"-I{CSRC / 'include'}",
            str(ROOT / "examples" / "c" / "bf_tail.c"),
            "-o",
            str(tmp_path / "bf_tail"),
        ]
    )
