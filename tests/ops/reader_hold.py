"""A reader process that holds segments open: `reader_hold.py DIR SKIP`.

Opens a QueueReader at the oldest record, reads SKIP records (which may carry it into a
later segment), prints `AT <segment seq> <index>` and keeps the reader (and the read lock
on its segment) until stdin closes; then reads the rest and prints `READ <n>`.
"""

from __future__ import annotations

import sys

from binfeed.queue import QueueReader


def main() -> None:
    reader = QueueReader(sys.argv[1])
    skip = int(sys.argv[2])
    seen = 0
    while seen < skip:
        batch = reader.poll(skip - seen)
        if not len(batch):
            break
        seen += len(batch)
    seq, pos = reader.position
    print(f"AT {seq} {pos}", flush=True)
    sys.stdin.read()
    rest = 0
    while True:
        batch = reader.poll()
        if not len(batch):
            break
        rest += len(batch)
    print(f"READ {seen + rest}", flush=True)


if __name__ == "__main__":
    main()
