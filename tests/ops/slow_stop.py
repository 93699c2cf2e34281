"""A command whose clean stop takes long, under binfeed's stop-on-signal handling.

`slow_stop.py SECONDS`: prints READY, waits for a stop (SIGINT or SIGTERM) with
``binfeed.commands.signals``, prints STOPPING, spends SECONDS on its clean-up (as a
recorder sealing a large queue on a slow disk might), prints CLEAN and exits 0. A third
signal within 5 s of the first exits at once with 130 instead.
"""

from __future__ import annotations

import sys
import time

from binfeed.commands.signals import stop_on_signals


def main() -> None:
    seconds = float(sys.argv[1])
    with stop_on_signals("slow-stop", "a slow clean-up") as stop:
        print("READY", flush=True)
        while not stop.sleep(10.0):
            pass
        print("STOPPING", flush=True)
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            time.sleep(0.01)
        print("CLEAN", flush=True)


if __name__ == "__main__":
    main()
