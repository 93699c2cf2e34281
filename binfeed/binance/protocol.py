"""binfeed's knowledge of Binance's market-stream protocol, without any I/O.

Like python-websockets' protocol core, nothing here opens a socket, sleeps or imports an
event loop or a network library: callers pass the time and the frames, and get decisions
and frames back. The recorder's I/O layers (:mod:`binfeed.binance.transport`, the
websockets adapter; :mod:`binfeed.binance.connection` and
:mod:`binfeed.binance.supervisor`, task glue) and the loopback server
(:mod:`binfeed.binance.server`) are thin around these modules, which the tests drive
without a network:

=========================================  ============================================
:mod:`~binfeed.binance.streams`            stream names (``btcusdt@bookTicker``,
                                           ``币安人生usdt@trade``)
:mod:`~binfeed.binance.endpoint`           ``--url`` bases, connect URLs (percent-encoded),
                                           sharding
:mod:`~binfeed.binance.timeunit`           ``timeUnit``: ms or us, exact conversions
:mod:`~binfeed.binance.control`            SUBSCRIBE & co, replies matched by id
:mod:`~binfeed.binance.pacing`             outgoing budget (4 messages per 1.1 s,
                                           pongs first), connection attempt bucket
:mod:`~binfeed.binance.retry`              retryable or fatal, reconnect at once after
                                           a proven connection, else backoff
:mod:`~binfeed.binance.health`             stalls (read first), silent streams,
                                           rotation handover
:mod:`~binfeed.binance.machine`            one connection's state machine: frames and
                                           ticks in, frames to send and events out
:mod:`~binfeed.binance.machine_types`      the machine's states, modes, sink, settings,
                                           counters
:mod:`~binfeed.binance.held`               frames held while a SUBSCRIBE waits
:mod:`~binfeed.binance.carried`            a connection's streams: replies, added,
                                           removed (machine part)
:mod:`~binfeed.binance.rotation`           a replacement's buffer (machine part)
:mod:`~binfeed.binance.watchdogs`          stall, overdue reply, close timeout
                                           (machine part)
:mod:`~binfeed.binance.shard_plan`         per shard: connect, reconnect, rotate, cut
                                           over
:mod:`~binfeed.binance.plan`               across shards: attempt budget, counters,
                                           downtime, the streams changing
:mod:`~binfeed.binance.events`             frames, events, actions, records in between
:mod:`~binfeed.binance.settings`           RecorderConfig and the defaults it gathers
:mod:`~binfeed.binance.exchange`           the server's side (routes, replies, limits)
=========================================  ============================================

This module re-exports the names a caller usually needs.
"""

from __future__ import annotations

from binfeed.binance.control import (
    ControlChannel,
    ControlEvent,
    ControlReply,
    ControlRequest,
    Failed,
    Listed,
    Refused,
    Split,
    Subscribed,
    Unmatched,
    Unsubscribed,
    parse_reply,
)
from binfeed.binance.endpoint import (
    DEFAULT_BASE_URL,
    DEFAULT_MAX_URL_LENGTH,
    DEFAULT_STREAMS_PER_CONNECTION,
    MAX_STREAMS_PER_CONNECTION,
    Endpoint,
    shard,
    split_for_url,
)
from binfeed.binance.health import (
    DEFAULT_MAX_AGE,
    DEFAULT_STALL_TIMEOUT,
    Handover,
    HandoverStep,
    StallStep,
    StallWatch,
    rotation_due,
    silent_streams,
    stalled,
)
from binfeed.binance.pacing import OutgoingBudget, RollingWindow, TokenBucket
from binfeed.binance.retry import Backoff, Failure, FailureKind, Verdict, backoff_delays, classify
from binfeed.binance.streams import (
    StreamId,
    StreamKind,
    is_stream_symbol,
    normalize_symbol,
    parse_kinds,
    parse_symbols,
    stream_ids,
)
from binfeed.binance.timeunit import TimeUnit, payload_in_unit

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_MAX_AGE",
    "DEFAULT_MAX_URL_LENGTH",
    "DEFAULT_STALL_TIMEOUT",
    "DEFAULT_STREAMS_PER_CONNECTION",
    "MAX_STREAMS_PER_CONNECTION",
    "Backoff",
    "ControlChannel",
    "ControlEvent",
    "ControlReply",
    "ControlRequest",
    "Endpoint",
    "Failed",
    "Failure",
    "FailureKind",
    "Handover",
    "HandoverStep",
    "Listed",
    "OutgoingBudget",
    "Refused",
    "RollingWindow",
    "Split",
    "StallStep",
    "StallWatch",
    "StreamId",
    "StreamKind",
    "Subscribed",
    "TimeUnit",
    "TokenBucket",
    "Unmatched",
    "Unsubscribed",
    "Verdict",
    "backoff_delays",
    "classify",
    "is_stream_symbol",
    "normalize_symbol",
    "parse_kinds",
    "parse_reply",
    "parse_symbols",
    "payload_in_unit",
    "rotation_due",
    "shard",
    "silent_streams",
    "split_for_url",
    "stalled",
    "stream_ids",
]
