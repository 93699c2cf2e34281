"""Fragmented WebSocket messages joined again (RFC 6455 section 5.4): a text or binary
frame without FIN starts a message, continuation frames add to it, the one with FIN ends it.

:class:`Fragments` is owned by :class:`~binfeed.binance.machine.ConnectionMachine`, which
hands it every frame that is neither a whole message nor a ping or close frame, and
delivers what it returns like any whole message. Binance sends whole frames; a server
may fragment, and a transport hands fragments out as they come.
"""

from __future__ import annotations

from binfeed.binance.events import FrameLike, Opcode


class Fragments:
    """The message being joined, if any."""

    def __init__(self) -> None:
        self._parts: list[bytes] | None = None

    def join(self, frame: FrameLike) -> bytes | None:
        """Adds ``frame``: the whole message once its last fragment came, else None (also
        for a continuation without a start and for frames that are not data, a pong)."""
        op = frame.opcode
        if op in (Opcode.TEXT, Opcode.BINARY) and not frame.fin:
            self._parts = [bytes(frame.data)]
        elif op == Opcode.CONT and self._parts is not None:
            self._parts.append(bytes(frame.data))
            if frame.fin:
                message = b"".join(self._parts)
                self._parts = None
                return message
        return None
