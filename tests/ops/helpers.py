"""Processes and queues for the operator-tool tests (monitor, follow, bus, retention)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
BINFEED = [sys.executable, "-c", "from binfeed.cli import main; main(prog_name=\"binfeed\")"]


def env() -> dict[str, str]:
    """The environment for child processes: the checkout on PYTHONPATH, no bus root or
    config from the developer's shell, and no COLUMNS or LINES (pytest-xdist sets 80x24 in
    its workers, which would override the size of a test's pseudo-terminal)."""
    e = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
    for name in ("BINFEED_BUS_ROOT", "BINFEED_CONFIG", "COLUMNS", "LINES"):
        e.pop(name, None)
    return e


def spawn_live_writer(queue: Path, count: int, *args: str) -> subprocess.Popen[str]:
    """tests/ops/live_writer.py in another process (stdin, stdout piped)."""
    cmd = [sys.executable, str(HERE / "live_writer.py"), str(queue), str(count), *args]
    return subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env())


def spawn_binfeed(*args: str, **kw: object) -> subprocess.Popen[str]:
    """``binfeed ARGS`` in another process, stdout and stderr piped."""
    return subprocess.Popen([*BINFEED, *args], stdout=kw.pop("stdout", subprocess.PIPE),
                            stderr=kw.pop("stderr", subprocess.PIPE), text=True, env=env(),
                            **kw)  # type: ignore[call-overload]


def run_binfeed(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*BINFEED, *args], capture_output=True, text=True, env=env(),
                          timeout=timeout)


def wait_line(proc: subprocess.Popen[str], prefix: str, timeout: float = 20) -> str:
    """Reads the process's stdout until a line starting with ``prefix``; returns it."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    for line in proc.stdout:
        if line.startswith(prefix):
            return line.strip()
        if time.monotonic() > deadline:
            break
    err = proc.stderr.read() if proc.stderr and proc.poll() is not None else ""
    raise AssertionError(f"no line starting with {prefix!r} from {proc.args}: {err}")


def stop(proc: subprocess.Popen[str], timeout: float = 10) -> None:
    """Closes stdin (a --hold writer then exits) and waits; kills on timeout."""
    try:
        if proc.stdin and not proc.stdin.closed:
            proc.stdin.close()
        proc.wait(timeout=timeout)
    except (subprocess.TimeoutExpired, BrokenPipeError):
        proc.kill()
        proc.wait()


class Served:
    """``binfeed replay ... --serve --port 0`` in another process."""

    def __init__(self, *args: str) -> None:
        self.proc = spawn_binfeed("replay", *args, "--serve", "--port", "0")
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        m = re.search(r"on (ws://127\.0\.0\.1:\d+) ", line)
        assert m, f"no URL in {line!r}: {self.proc.stderr.read() if self.proc.stderr else ''}"
        self.url = m.group(1)
        self.banner = line

    def stop(self) -> tuple[int, str]:
        self.proc.send_signal(signal.SIGINT)
        try:
            _, err = self.proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise
        return self.proc.returncode, err

    def __enter__(self) -> Served:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
