"""A connection's subscribed streams in the C parser: frames of other streams are never stored.

:class:`Subscriptions` is one connection's set (``bf_subs`` in ``csrc/include/binfeed.h``,
"MARK: - Subscriptions"): each (symbol, stream kind) is ``ACCEPTED`` (named in the connect
URL, or its SUBSCRIBE confirmed), ``PENDING`` (its SUBSCRIBE waits for the reply) or
``NONE``. Its :attr:`~Subscriptions.ingest` is :meth:`binfeed.ingest.Ingestor.ingest` for
that connection's frames: the parser reads a frame's symbol and stream once and

- stores market data of an accepted stream, as ``Ingestor.ingest`` does;
- returns ``FrameKind.PENDING`` for a pending stream's, writing nothing and counting
  nothing: the caller holds the frame and ingests it again after the reply;
- returns ``FrameKind.UNSUBSCRIBED`` for any other stream's (another symbol, another kind,
  a kind binfeed does not store, a refused stream), writing nothing, not even the symbol;
  :attr:`binfeed.ingest.Ingestor.unsubscribed_stream` names it.

Example::

    subs = Subscriptions(ingestor)
    subs.set("btcusdt", Stream.BOOK_TICKER, SubscriptionState.ACCEPTED)
    kind = subs.ingest(frame, time.time_ns())   # an ethusdt frame: FrameKind.UNSUBSCRIBED
"""

from __future__ import annotations

from collections.abc import Callable
from enum import IntEnum
from typing import TYPE_CHECKING

from binfeed import errors
from binfeed._ffi import ffi, lib, raise_status
from binfeed.ingest_results import PARSE_ERRORS

if TYPE_CHECKING:
    from binfeed.ingest import Ingestor

__all__ = ["SubscriptionState", "Subscriptions"]


class SubscriptionState(IntEnum):
    """The state of one stream in a connection's set (``BF_SUB_*``)."""

    NONE = lib.BF_SUB_NONE  #: not subscribed: frames are UNSUBSCRIBED
    PENDING = lib.BF_SUB_PENDING  #: SUBSCRIBE waits for its reply: frames are PENDING
    ACCEPTED = lib.BF_SUB_ACCEPTED  #: frames are stored


class Subscriptions:
    """One connection's subscribed set, over ``ingestor`` (see the module doc).

    Args:
        ingestor: the parser the frames go through (shared by every connection; each has
            its own set). It must stay open while the set is used.

    Thread-safety: as the ingestor (one thread at a time).
    """

    def __init__(self, ingestor: Ingestor) -> None:
        out = ffi.new("bf_subs **")
        rc = lib.bf_subs_new(out)
        if rc < 0:
            raise_status(rc, "cannot create a subscription set")
        self._s = ffi.gc(out[0], lib.bf_subs_free)
        self._ingestor = ingestor
        self._info = ffi.new("bf_ingest_info *")
        self.ingest: Callable[[bytes, int], int] = self._make_ingest()

    def set(self, symbol: str, stream: int, state: SubscriptionState) -> int:
        """Sets the state of ``symbol``'s ``stream`` (``Stream``).

        Returns:
            the stream's index in the set (0, 1, 2... in the order streams were first set;
            a stream keeps its index), as :attr:`subscription` reports it.

        Raises:
            InvalidRecordError: an invalid symbol name or stream.
        """
        raw = symbol.encode("utf-8", "surrogatepass")
        rc = int(lib.bf_subs_set(self._s, raw, len(raw), int(stream), int(state)))
        if rc < 0:
            raise_status(rc, f"subscription of {symbol!r} stream {int(stream)}")
        return rc

    @property
    def subscription(self) -> int | None:
        """The index in the set of the last ingested frame's stream (as :meth:`set`
        returned it), None when the stream is not in the set or the frame was no market
        data."""
        i = int(self._info.subscription)
        return i - 1 if i else None

    def _make_ingest(self) -> Callable[[bytes, int], int]:
        # As Ingestor._make_ingest: everything bound, no attribute lookups per frame but
        # the two that keep a closed parser or writer from being used.
        c_ingest = lib.bf_ingest_subscribed
        ingestor = self._ingestor
        p = ingestor._handle()
        writer = ingestor._writer
        subs = self._s
        info = self._info
        parse_errors = PARSE_ERRORS
        raise_failure = ingestor._raise_failure

        def ingest(frame: bytes, recv_ts_ns: int) -> int:
            """Parses one frame of this connection and appends it if its stream is
            accepted; returns a :class:`~binfeed.ingest_results.FrameKind` value or a parse error
            (see :meth:`binfeed.ingest.Ingestor.ingest`).

            Raises:
                QueueError: the queue failed, or the parser or the writer is closed.
            """
            if writer._w is None or ingestor._p is None:
                raise errors.QueueClosedError(
                    "the recorder's parser or queue is closed; nothing more can be recorded",
                    lib.BF_ECLOSED)
            rc: int = c_ingest(p, subs, frame, len(frame), recv_ts_ns, info)
            if rc >= 0 or rc in parse_errors:
                return rc
            raise_failure(rc)
            raise AssertionError("unreachable")

        return ingest
