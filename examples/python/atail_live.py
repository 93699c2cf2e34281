"""Follow a binfeed queue from async code (anyio: asyncio or trio): print its records as
they are published, a "quiet" line whenever nothing came for a while, and a tick from
another task, which keeps running while the reader waits.

    python examples/python/atail_live.py DIR [--backend asyncio|trio]
        [--symbols BTCUSDT] [--types trade] [--quiet SECONDS] [--idle SECONDS]

The queue may not exist yet: the script waits for it without blocking the event loop.
--idle ends it once nothing came for that long (default: never; Ctrl-C ends it).
"""

from __future__ import annotations

import argparse
import contextlib

import anyio

from binfeed.queue import QueueReader


async def follow(args: argparse.Namespace) -> None:
    symbols = args.symbols.split(",") if args.symbols else None
    types = args.types.split(",") if args.types else None
    reader = await QueueReader.wait_for_async(args.queue, on_damage=print)
    with reader:
        async for rec in reader.atail(timeout=args.quiet, idle_timeout=args.idle,
                                      symbols=symbols, types=types):
            if rec is None:
                print(f"quiet for {args.quiet} s", flush=True)
                continue
            print(rec, flush=True)


async def main(args: argparse.Namespace) -> None:
    async with anyio.create_task_group() as tg:

        async def ticks() -> None:  # other work of the program, never starved
            while True:
                await anyio.sleep(args.tick)
                print("tick", flush=True)

        tg.start_soon(ticks)
        await follow(args)
        tg.cancel_scope.cancel()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("queue")
    ap.add_argument("--backend", choices=["asyncio", "trio"], default="asyncio")
    ap.add_argument("--symbols", help="comma-separated names (default: every symbol)")
    ap.add_argument("--types", help="comma-separated record types (default: all but symbol)")
    ap.add_argument("--quiet", type=float, default=1.0, help="seconds before a quiet line")
    ap.add_argument("--idle", type=float, default=None, help="end after this many quiet s")
    ap.add_argument("--tick", type=float, default=0.5, help="seconds between two ticks")
    ns = ap.parse_args()
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C ends it quietly
        anyio.run(main, ns, backend=ns.backend)
