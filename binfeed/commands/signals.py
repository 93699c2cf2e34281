"""SIGINT and SIGTERM for long-running commands: the first stops cleanly, a third within 5 s
exits at once.

Every command that runs until it is told to stop (``record``, ``replay --serve``,
``replay --follow``, ``monitor``, ``demo``) runs inside :func:`stop_on_signals`, which
installs one handler for both signals for the command's whole life, its clean-up
included:

- the first signal asks for a clean stop (:attr:`Stop.requested`); the command notices it
  (:meth:`Stop.wait` in an event loop, :meth:`Stop.sleep` or the flag in a plain loop),
  finishes what it does (the recorder seals its queue and prints its summary) and exits 0;
- further signals during that stop are ignored (a line on stderr says so), so that tools
  which signal a process and then its process group (GNU ``timeout``, systemd, a shell's
  Ctrl-C) do not turn a clean stop into a killed process;
- a third signal within :data:`FORCE_WINDOW` seconds of the first of the three exits at
  once with status :data:`EXIT_FORCED` (130), without any clean-up: a writer's queue is
  then unsealed, and the next writer recovers it (docs/reliability.md).

The handler does nothing a signal handler must not: it sets a flag, writes to a pipe and
wakes the event loop with ``call_soon_threadsafe`` (what asyncio's own runner does).
Handlers are installed only in the main thread (elsewhere, e.g. a command run from a
worker thread in a test, the process's handlers are left alone and no stop is asked).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import select
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from types import FrameType

import anyio

__all__ = ["EXIT_FORCED", "FORCE_COUNT", "FORCE_WINDOW", "Stop", "stop_on_signals"]

log = logging.getLogger("binfeed")

#: The signals that stop a command.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
#: This many signals within ``FORCE_WINDOW`` seconds exit at once.
FORCE_COUNT = 3
FORCE_WINDOW = 5.0
#: The exit status of a command stopped at once (128 + SIGINT, as shells report Ctrl-C).
EXIT_FORCED = 130


class Stop:
    """A command's stop request, set by its first SIGINT or SIGTERM (see the module doc).

    Args:
        command: the command's name, for messages (``record``).
        doing: what the clean stop does, for the log line (``sealing the queue``).
        level: the log level of that line.
    """

    def __init__(self, command: str, doing: str, level: int = logging.INFO) -> None:
        self.command = command
        self.doing = doing
        self.level = level
        self.requested = False
        self.signal_name = ""
        self._times: deque[float] = deque(maxlen=FORCE_COUNT)
        self._wakers: list[tuple[asyncio.AbstractEventLoop, Callable[[], None]]] = []
        self._pipe: tuple[int, int] | None = None
        self._announced = False

    # -- the signal handler -------------------------------------------------------------
    def _handle(self, signum: int, frame: FrameType | None) -> None:
        now = time.monotonic()
        self._times.append(now)
        name = signal.Signals(signum).name
        if not self.requested:
            self.requested = True
            self.signal_name = name
            if self._pipe is not None:
                with contextlib.suppress(OSError):
                    os.write(self._pipe[1], b"!")
            for loop, wake in list(self._wakers):
                with contextlib.suppress(RuntimeError):  # the loop is closed: nothing waits
                    loop.call_soon_threadsafe(wake)
            return
        if len(self._times) == FORCE_COUNT and now - self._times[0] <= FORCE_WINDOW:
            _say(f"binfeed {self.command}: {name} again: exiting at once (status "
                 f"{EXIT_FORCED}) without finishing the stop\n")
            os._exit(EXIT_FORCED)
        _say(f"binfeed {self.command}: {name} ignored: already stopping ({self.doing}); "
             f"{FORCE_COUNT} signals within {FORCE_WINDOW:g} s exit at once\n")

    # -- noticing it --------------------------------------------------------------------
    def announce(self) -> None:
        """Logs the stop once (call where the command acts on it, not in the handler)."""
        if self.requested and not self._announced:
            self._announced = True
            log.log(self.level, "%s: stopping (%s); %d signals within %g s exit at once",
                    self.signal_name, self.doing, FORCE_COUNT, FORCE_WINDOW)

    async def wait(self) -> None:
        """Returns once a stop is requested (at once if it already was); for a task of
        the command's event loop (asyncio), which then cancels what it runs."""
        if not self.requested:
            event = anyio.Event()
            waker = (asyncio.get_running_loop(), event.set)
            self._wakers.append(waker)
            try:
                if not self.requested:  # a signal between the check and the append
                    await event.wait()
            finally:
                self._wakers.remove(waker)
        self.announce()

    def sleep(self, seconds: float) -> bool:
        """Sleeps up to ``seconds`` in a plain loop, returning early (True) once a stop is
        requested; False when the time ran out."""
        if self.requested:
            self.announce()
            return True
        if self._pipe is None:
            time.sleep(seconds)
        else:
            select.select([self._pipe[0]], [], [], max(0.0, seconds))
        if self.requested:
            self.announce()
        return self.requested


def _say(text: str) -> None:
    # Not logging: the handler may run in the middle of a log call on the same thread.
    with contextlib.suppress(OSError):
        os.write(2, text.encode("utf-8", "replace"))


@contextlib.contextmanager
def stop_on_signals(command: str, doing: str, level: int = logging.INFO) -> Iterator[Stop]:
    """SIGINT and SIGTERM handled as the module doc says for the block.

    After the block the previous handlers come back, unless a stop was asked: the process
    is then on its way out, and a signal that follows (a process group's copy of the same
    stop) must still be ignored, not kill it with another exit status. Both signals are
    then ignored (``SIG_IGN``): Python resets its own handlers to the default when the
    interpreter shuts down, which would let such a signal kill the exiting process.

    Args:
        command: the command's name (``record``), for messages.
        doing: what a clean stop does (``sealing the queue``), for messages.
        level: the log level of the line saying that the command stops.
    """
    stop = Stop(command, doing, level)
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    r, w = os.pipe()
    os.set_blocking(w, False)
    stop._pipe = (r, w)
    previous = {sig: signal.signal(sig, stop._handle) for sig in STOP_SIGNALS}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, signal.SIG_IGN if stop.requested else handler)
        stop._pipe = None
        os.close(r)
        os.close(w)
