"""How one connection takes part in a rotation: a replacement buffers its market data until
it goes live; a replaced connection drops what it still receives.

:class:`Rotation` is a part of :class:`~binfeed.binance.machine.ConnectionMachine` (which
inherits it): the mode inputs :meth:`~Rotation.go_live` and :meth:`~Rotation.detach` (the
shard's plan calls them), and the appenders the machine's hot path calls through its
``_append``: ``BUFFERING`` keeps market data in a buffer, ``LIVE`` appends (noting the
connection's proof on its first stored record), ``DETACHED`` drops.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from binfeed.binance.machine_types import STORED_MAX as _STORED_MAX
from binfeed.binance.machine_types import Mode
from binfeed.ingest import FrameKind
from binfeed.records import GapReason

if TYPE_CHECKING:
    from binfeed.binance.machine import ConnectionMachine

#: What a buffering machine's own append returns for market data it kept (not a C kind).
BUFFERED = 0
#: Combined-stream market data starts so; anything else (replies, events) is handled at once.
_ENVELOPE = b'{"stream"'
_DUPLICATE = int(FrameKind.DUPLICATE)


class Rotation:
    """The mode inputs and appenders of :class:`~binfeed.binance.machine.ConnectionMachine`."""

    def go_live(self: ConnectionMachine, now: float, lost: GapReason | None = None) -> int:
        """Feeds the buffered market data to the appender (the parser drops what the old
        connection already stored) and appends directly from now on; returns the number of
        frames fed. ``lost``: the old connection may have missed frames, so every stream is
        marked lost first, and each GAP comes before the buffer's first record."""
        if lost is not None:
            for stream in self.streams:
                self.sink.stream_lost(stream, lost)
        buffered, self._buffer = self._buffer, []
        self.mode = Mode.LIVE
        sink = self._sink
        self._append = sink if self.proven_at is not None else self._append_until_proven
        for frame, recv_ns in buffered:
            kind = sink(frame, recv_ns)
            if not 0 < kind <= _STORED_MAX:
                self._parsed(kind, frame, recv_ns, now)
        return len(buffered)

    def detach(self: ConnectionMachine) -> None:
        """Stops appending (a connection being replaced): what it still receives is
        dropped; the replacement carries the same streams."""
        self.mode = Mode.DETACHED
        self._append = _drop
        self._buffer = []
        self.held.clear()  # the replacement holds and stores its own

    def _buffer_frame(self: ConnectionMachine, frame: bytes, recv_ns: int) -> int:
        if frame[:9] == _ENVELOPE:
            self._buffer.append((frame, recv_ns))
            if self.proven_at is None and self.subscribed_at is not None:
                self.proven_at = self.last_rx
            return BUFFERED
        return self._sink(frame, recv_ns)

    def _append_until_proven(self: ConnectionMachine, frame: bytes, recv_ns: int) -> int:
        """The appender of a live connection until its proof; then the sink itself (from
        the next read on), so that the hot path pays nothing for it."""
        kind = self._sink(frame, recv_ns)
        if 0 < kind <= _STORED_MAX and self.subscribed_at is not None:
            self.proven_at = self.last_rx
            self._append = self._sink
        return kind


def _drop(frame: bytes, recv_ns: int) -> int:
    return _DUPLICATE
