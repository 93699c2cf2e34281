"""One connection's closing handshake (RFC 6455 section 7): our close frame and how long
the server may take to answer it, or the server's close frame and the reason it gives.

:class:`Closing` is owned by :class:`~binfeed.binance.machine.ConnectionMachine`: its
:meth:`~binfeed.binance.machine.ConnectionMachine.close` starts the handshake, a close
frame it receives is handed here, and :attr:`Closing.done` is its
:attr:`~binfeed.binance.machine.ConnectionMachine.transport_done` (also set, by
:meth:`Closing.end_now`, when the machine ends a connection without a handshake). The
transport answers the server's close frame itself (RFC 6455 section 5.5.1; websockets
does), so the machine never echoes one.
"""

from __future__ import annotations

from binfeed.binance.retry import Failure, FailureKind


class Closing:
    """Where one connection's closing handshake stands.

    Args:
        timeout: seconds our close frame may wait for the server's before the transport
            is closed anyway.
    """

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.since: float | None = None  # when our close frame was queued
        self.done = False  # the transport is to be closed now

    def started(self, now: float) -> None:
        """Our close frame was queued at ``now``."""
        self.since = now

    def deadline(self) -> float | None:
        """When the server's answer is overdue (None: no close frame of ours)."""
        return None if self.since is None else self.since + self.timeout

    def overdue(self, now: float) -> bool:
        """Whether the server took too long to answer our close frame (then :attr:`done`
        is set)."""
        if self.since is None or now - self.since < self.timeout:
            return False
        self.done = True
        return True

    def end_now(self) -> None:
        """The transport is to be closed now, without a handshake or without waiting for
        its end (a stall, a cancelled recorder, a connection still opening)."""
        self.done = True

    def receive(self, payload: bytes) -> Failure:
        """The server's close frame: the failure it ends the connection with."""
        # RFC 6455 section 5.5.1: a 2-byte code, then a UTF-8 reason; section 7.1.5: a
        # close frame without a code is read as 1005.
        code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
        self.done = True
        return Failure(FailureKind.CLOSED, code, payload[2:].decode("utf-8", "replace"))
