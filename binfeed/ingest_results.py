"""What the frame parser says of a frame and of its streams: the kind of each frame
(:class:`FrameKind`), the statuses of a bad one (:data:`PARSE_ERRORS`), what the last call
did (:class:`IngestInfo`), its totals (:class:`ParserCounters`) and each stream's figures
(:class:`StreamCounts`); every value is C's, through ``lib``.

:class:`binfeed.ingest.Ingestor` returns them; the recorder's machine and the importer
read them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from binfeed._ffi import lib
from binfeed.records import Stream
from binfeed.symbols import stream_name

__all__ = [
    "PARSE_ERRORS",
    "FrameKind",
    "IngestInfo",
    "ParserCounters",
    "StreamCounts",
]


class FrameKind(IntEnum):
    """What a frame was (the non-negative results of :meth:`Ingestor.ingest`)."""

    BOOK_TICKER = lib.BF_FRAME_BOOK_TICKER  #: a BOOK_TICKER record was stored
    TRADE = lib.BF_FRAME_TRADE  #: a TRADE record was stored (maybe after a GAP)
    DUPLICATE = lib.BF_FRAME_DUPLICATE  #: already stored (seq <= last): nothing written
    UNSTORED = lib.BF_FRAME_UNSTORED  #: a known message binfeed does not store (depth...)
    CONTROL = lib.BF_FRAME_CONTROL  #: a reply to SUBSCRIBE & co: the caller handles it
    SERVER_SHUTDOWN = lib.BF_FRAME_SERVER_SHUTDOWN  #: {"e":"serverShutdown"}: reconnect
    #: with a subscribed set (:mod:`binfeed.subscriptions`): a stream not in it, not stored
    UNSUBSCRIBED = lib.BF_FRAME_UNSUBSCRIBED
    #: with a subscribed set: its SUBSCRIBE waits for the reply; hold it, ingest it again
    PENDING = lib.BF_FRAME_PENDING


#: Statuses of a bad frame: nothing was written and the parser goes on.
PARSE_ERRORS: frozenset[int] = frozenset({
    lib.BF_EJSON, lib.BF_EFIELD, lib.BF_ENUMBER, lib.BF_EUNKNOWN, lib.BF_ETOOBIG,
    lib.BF_ESYMBOL,
})


@dataclass(frozen=True)
class ParserCounters:
    """Totals since the parser was created (frames = all the others but gaps added up;
    a frame held for a pending SUBSCRIBE is counted once it is judged)."""

    frames: int
    book_tickers: int
    trades: int
    duplicates: int
    unstored: int
    control: int  #: control replies and serverShutdown
    errors: int
    gaps: int  #: GAP records written
    unsubscribed: int = 0  #: frames of streams not subscribed (:mod:`binfeed.subscriptions`)


@dataclass(frozen=True)
class StreamCounts:
    """One stream's figures, as this parser saw them (:meth:`Ingestor.stream_counts`).

    Attributes:
        symbol: the symbol as the queue stores it ('BTCUSDT').
        stream: bookTicker or trade.
        stored: records this parser stored.
        duplicates: frames this parser dropped as duplicates.
        gaps: GAP records of the stream this parser wrote.
        last_seq: the last seq in the queue (also from before a restart), 0 if none.
        last_recv_ns: receive time of the last record this parser stored, 0 if none.
    """

    symbol: str
    stream: Stream
    stored: int
    duplicates: int
    gaps: int
    last_seq: int
    last_recv_ns: int

    @property
    def name(self) -> str:
        """The stream's name as Binance spells it ('btcusdt@bookTicker')."""
        return stream_name(self.symbol, self.stream.wire_name)


@dataclass(frozen=True)
class IngestInfo:
    """What the last :meth:`Ingestor.ingest` call did.

    Attributes:
        kind: its return value.
        stream: ``BF_STREAM_*`` of market data, else 0.
        symbol_id: the queue's id of the symbol, else 0.
        seq: bookTicker ``u`` / trade ``t``, else 0.
        gaps: GAP records written before the record (0 or 1).
    """

    kind: int
    stream: int
    symbol_id: int
    seq: int
    gaps: int
