"""What a recorder can be told: :class:`RecorderConfig`, every default imported from its owner.

Each default lives in the module whose decision it governs (stall and rotation in
:mod:`~binfeed.binance.health`, backoff in :mod:`~binfeed.binance.retry`, the connection
attempt budget in :mod:`~binfeed.binance.pacing`, replies in
:mod:`~binfeed.binance.control`, limits in :mod:`~binfeed.binance.endpoint`, the closing
handshake in :mod:`~binfeed.binance.machine`); the few that belong to no decision module
(connecting, the queue's upkeep) are defined here. Nothing else repeats them.

Sans-I/O: plain values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from binfeed._ffi import lib
from binfeed.binance import control, health, pacing, retry
from binfeed.binance.endpoint import (
    DEFAULT_MAX_URL_LENGTH,
    DEFAULT_PARAMS_PER_MESSAGE,
    DEFAULT_STREAMS_PER_CONNECTION,
    Endpoint,
)
from binfeed.binance.machine_types import DEFAULT_CLOSE_TIMEOUT, ConnectionSettings
from binfeed.binance.streams import StreamId
from binfeed.binance.timeunit import TimeUnit

if TYPE_CHECKING:
    from pathlib import Path

#: Seconds for TCP, TLS and the WebSocket handshake together.
DEFAULT_OPEN_TIMEOUT = 10.0
#: Largest WebSocket message accepted: what the C parser accepts (longer is refused anyway).
DEFAULT_MAX_FRAME = int(lib.BF_DEFAULT_MAX_FRAME)
#: Prepare (create and prefault) the next segment once the current one is this full.
DEFAULT_PREFAULT_AT = 0.5
#: How often the queue is checked for prefaulting and periodic syncs, seconds.
DEFAULT_MAINTENANCE_INTERVAL = 0.2


@dataclass
class RecorderConfig:
    """Everything the recorder can be told (defaults: production values).

    Attributes:
        endpoint: where to connect.
        streams: what to record.
        streams_per_connection: shard size (binfeed default 200; Binance allows 1024).
        max_url_length: streams named in the connect URL up to this URL length, the rest by
            SUBSCRIBE; 0 = SUBSCRIBE only.
        stall_timeout: no frame at all for this long replaces a connection.
        silent_after: one stream silent this long is reported (not reconnected).
        max_age: rotate connections this old (before Binance's 24 h cut).
        overlap: seconds a replacement overlaps the old connection before the cut-over.
        quiet_cutover: a replacement that is subscribed but receives nothing is taken
            after this long.
        handover_timeout: a replacement not ready after this long is given up.
        rotation_retry: wait before trying a rotation again after a failed one.
        backoff_base, backoff_cap, reconnect_jitter: reconnection delays (retry.py's
            table).
        connect_burst, connect_rate: the process's connection attempt budget, all shards
            together: ``connect_burst`` at once, then ``connect_rate`` per second
            (pacing.py).
        open_timeout, close_timeout, reply_timeout: per connection.
        max_frame: largest WebSocket message accepted, bytes.
        params_per_message: streams per SUBSCRIBE message.
        sync_interval: fdatasync the open segment this often (seconds; 0 = never: the OS
            writes back; see binfeed.durability and record --sync).
        prefault_at: prepare the next segment once the current one is this full (0..1).
        maintenance_interval: how often the queue is checked for the two above.
        ca_file: a PEM file of CA certificates trusted besides the system's, for wss://
            (:func:`binfeed.binance.tls.client_context`; verification is always on).
        time_unit: the unit to ask Binance for its times in (``timeUnit`` in the URL);
            records keep microseconds either way, exact with ``TimeUnit.US``.
    """

    endpoint: Endpoint
    streams: Sequence[StreamId]
    streams_per_connection: int = DEFAULT_STREAMS_PER_CONNECTION
    max_url_length: int = DEFAULT_MAX_URL_LENGTH
    stall_timeout: float = health.DEFAULT_STALL_TIMEOUT
    silent_after: float = health.DEFAULT_SILENT_AFTER
    max_age: float = health.DEFAULT_MAX_AGE
    overlap: float = health.DEFAULT_OVERLAP
    quiet_cutover: float = health.DEFAULT_QUIET_CUTOVER
    handover_timeout: float = health.DEFAULT_HANDOVER_TIMEOUT
    rotation_retry: float = health.DEFAULT_ROTATION_RETRY
    backoff_base: float = retry.DEFAULT_BACKOFF_BASE
    backoff_cap: float = retry.DEFAULT_BACKOFF_CAP
    reconnect_jitter: float = retry.DEFAULT_RECONNECT_JITTER
    connect_burst: int = pacing.DEFAULT_CONNECT_BURST
    connect_rate: float = pacing.DEFAULT_CONNECT_RATE
    open_timeout: float = DEFAULT_OPEN_TIMEOUT
    close_timeout: float = DEFAULT_CLOSE_TIMEOUT
    reply_timeout: float = control.DEFAULT_REPLY_TIMEOUT
    max_frame: int = DEFAULT_MAX_FRAME
    params_per_message: int = DEFAULT_PARAMS_PER_MESSAGE
    sync_interval: float = 0.0
    prefault_at: float = DEFAULT_PREFAULT_AT
    maintenance_interval: float = DEFAULT_MAINTENANCE_INTERVAL
    ca_file: Path | None = None
    time_unit: TimeUnit = TimeUnit.MS

    def connection_settings(self) -> ConnectionSettings:
        """What each connection's state machine is told."""
        return ConnectionSettings(stall_timeout=self.stall_timeout,
                                  reply_timeout=self.reply_timeout,
                                  close_timeout=self.close_timeout,
                                  params_per_message=self.params_per_message)
