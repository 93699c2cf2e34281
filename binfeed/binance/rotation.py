"""How one connection takes part in a rotation: a replacement keeps its market data in a
buffer until it goes live; a replaced connection drops what it still receives.

:class:`Rotation` is owned by :class:`~binfeed.binance.machine.ConnectionMachine`, whose
mode inputs (:meth:`~binfeed.binance.machine.ConnectionMachine.go_live`,
:meth:`~binfeed.binance.machine.ConnectionMachine.detach`; the shard's plan calls them)
set the appender its hot path calls through ``_append``: :meth:`Rotation.buffer` while
``BUFFERING`` (market data kept, anything else ingested at once), :func:`drop` once
``DETACHED``; going live, the buffer is ingested in order (:meth:`Rotation.release`).
"""

from __future__ import annotations

from collections.abc import Iterator

from binfeed.binance.machine_types import STORED_MAX, Sink
from binfeed.ingest_results import FrameKind

#: What a buffering machine's own append returns for market data it kept (not a C kind).
BUFFERED = 0
#: Combined-stream market data starts so; anything else (replies, events) is handled at once.
_ENVELOPE = b'{"stream"'
_DUPLICATE = int(FrameKind.DUPLICATE)


class Rotation:
    """A replacement connection's buffer of market data (see the module doc).

    Args:
        sink: the connection's sink (its parser).
    """

    def __init__(self, sink: Sink) -> None:
        self._ingest = sink.ingest
        self._buffer: list[tuple[bytes, int]] = []

    def __len__(self) -> int:
        return len(self._buffer)

    def buffer(self, frame: bytes, recv_ns: int) -> int:
        """The appender while ``BUFFERING``: keeps market data (``BUFFERED``), ingests
        anything else."""
        if frame[:9] == _ENVELOPE:
            self._buffer.append((frame, recv_ns))
            return BUFFERED
        return self._ingest(frame, recv_ns)

    def release(self) -> Iterator[tuple[int, bytes, int]]:
        """Ingests the buffer, in order (the parser drops what the old connection already
        stored); yields each verdict but a stored record, with its frame and receive time,
        for the machine to handle before the next frame is ingested."""
        buffered, self._buffer = self._buffer, []
        ingest = self._ingest
        for frame, recv_ns in buffered:
            kind = ingest(frame, recv_ns)
            if not 0 < kind <= STORED_MAX:
                yield kind, frame, recv_ns

    def clear(self) -> None:
        """Forgets the buffer (a replaced connection: the replacement stores the data)."""
        self._buffer = []


def drop(frame: bytes, recv_ns: int) -> int:
    """The appender once ``DETACHED``: every frame is dropped, as a duplicate would be."""
    return _DUPLICATE
