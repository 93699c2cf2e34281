"""Connection health: stalls, silent streams, planned rotation and its handover.

Decisions only; the supervisor acts on them.

- **Stall**: a connection that delivered no frame at all (market data, replies, pings)
  for ``stall_timeout`` seconds is replaced. A socket can stay open while nothing flows;
  only data proves the connection works. The timer measures the peer's silence, not the
  recorder's own absence (:class:`StallWatch`): frames the kernel buffered while the
  process was stopped, swapped out or its VM paused are read, never dropped with the
  connection.
- **Silent stream**: one stream quiet for ``silent_after`` seconds while its connection
  delivers other frames is reported (status line, log), never reconnected for: an unknown
  symbol (Binance accepts the subscription and sends nothing) or a quiet market look the
  same, and reconnecting would not help either.
- **Rotation**: Binance cuts every connection at 24 h and may announce an earlier cut with a
  ``serverShutdown`` event. binfeed replaces a connection after ``max_age`` (23 h 30 min by
  default) or on ``serverShutdown``: it opens the new connection while the old one still
  records, keeps what the new one receives in a buffer until it has overlapped the old one
  for ``overlap`` seconds, then closes the old one and feeds the buffer to the parser,
  which drops every frame the old connection already stored (sequence numbers: bookTicker
  ``u``, trade ``t``). Nothing is lost, nothing is doubled, and the record order per stream
  stays the exchange's order, provided the two connections did overlap: an old connection
  gone silent (or dropped unnoticed) before the replacement carried the streams has its
  streams marked lost, before the buffer reaches the parser. :class:`Handover` tracks one
  such replacement.

Sans-I/O: callers pass the time (a monotonic clock, seconds).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

#: No frame at all on a connection for this long: replace it.
DEFAULT_STALL_TIMEOUT = 30.0
#: A deadline met this much later than promised means the recorder was not running.
ABSENCE_SLACK = 0.25
#: The most the silence after an absence is counted later than the return (StallWatch):
#: Binance ends a connection that has not answered its ping for a minute anyway.
ABSENCE_GRACE_MAX = 60.0
#: One stream without a frame for this long: report it.
DEFAULT_SILENT_AFTER = 60.0
#: Replace a connection before Binance's 24 h cut.
DEFAULT_MAX_AGE = 23.5 * 3600
#: Overlap of old and new connection before the old one is closed.
DEFAULT_OVERLAP = 1.0
#: A new connection subscribed but silent this long is taken over anyway (quiet streams).
DEFAULT_QUIET_CUTOVER = 5.0
#: A handover not ready after this long is abandoned (the new connection is closed).
DEFAULT_HANDOVER_TIMEOUT = 30.0
#: After an abandoned handover, try again this much later.
DEFAULT_ROTATION_RETRY = 60.0


def stalled(last_frame_at: float, now: float, stall_timeout: float) -> bool:
    """Whether a connection whose last frame arrived at ``last_frame_at`` is stalled."""
    return now - last_frame_at >= stall_timeout


class StallStep(enum.Enum):
    FINE = "fine"  # frames came within the stall timeout (or nothing is due yet)
    ABSENT = "absent"  # the recorder was not running: nothing judged, silence counted anew
    PROBE = "probe"  # the deadline passed: is anything waiting in the socket?


@dataclass
class StallWatch:
    """One connection's stall timer: the peer's silence, measured while the recorder listens.

    =============================================  =========================================
    at a tick (the connection's clock woke)        then
    =============================================  =========================================
    later than ``ABSENCE_SLACK`` past the          ``ABSENT``: the process was not running
    deadline :meth:`promise` was given             (SIGSTOP, swap, a paused VM) and could
    (``late`` seconds past it)                     not have read; nothing is judged, the
                                                   silence is counted from ``late`` seconds
                                                   after now (at most ``ABSENCE_GRACE_MAX``;
                                                   a reply's timeout starts again too)
    less than ``timeout`` since the last frame     ``FINE``
    (or since the silence was counted anew)
    ``timeout`` or more                            ``PROBE``: the glue reads the socket with
                                                   a zero timeout first (:meth:`probed`)
    the probe finds unread bytes                   not a stall: the receive task reads them;
                                                   the silence is counted from now
    the probe finds the socket empty               stall: the peer sent nothing for
                                                   ``timeout`` (everything it sent was read)
    =============================================  =========================================

    Why the silence after an absence starts ``late`` seconds after the return: while the
    recorder was away its receive buffer filled, the peer's TCP saw a zero window and went
    over to zero-window probes, whose interval doubles each time (RFC 9293 section 3.8.6.1).
    Once the recorder has read its buffer, the peer sends again only at its next probe (a
    window update from the recorder is not always enough: on loopback, for one, the window
    it offers can be smaller than the peer's 64 KiB segment), and the probe interval has
    grown to about the time the window was closed, which is no longer than the absence
    (``late`` plus at most one stall timeout). Observed: a 5 s SIGSTOP, the peer's next
    probe 3.6 s after the return, while frames waited in its send buffer.

    Args:
        timeout: the stall timeout, seconds.
        quiet_from: silence is not counted before this time (the connection's opening).
    """

    timeout: float
    quiet_from: float = 0.0
    #: How late the clock woke at the last ``ABSENT``, seconds.
    late: float = 0.0
    _promised: float | None = field(default=None, repr=False)

    def deadline(self, last_frame_at: float) -> float:
        """When a connection whose last frame came at ``last_frame_at`` is due a look."""
        return max(last_frame_at, self.quiet_from) + self.timeout

    def promise(self, deadline: float, now: float) -> None:
        """The glue's clock sleeps until ``deadline`` (asked at ``now``)."""
        self._promised = max(deadline, now)

    def check(self, last_frame_at: float, now: float) -> StallStep:
        """What a tick at ``now`` means (see the table)."""
        promised, self._promised = self._promised, None
        if promised is not None and now - promised > ABSENCE_SLACK:
            self.late = now - promised
            self.quiet_from = now + min(self.late, ABSENCE_GRACE_MAX)
            return StallStep.ABSENT
        if stalled(max(last_frame_at, self.quiet_from), now, self.timeout):
            return StallStep.PROBE
        return StallStep.FINE

    def probed(self, unread: bool, now: float) -> bool:
        """The socket was read with a zero timeout after a ``PROBE``: True means stalled."""
        if unread:
            self.quiet_from = now
        return not unread


def silent_streams(
    last_seen: Mapping[str, float | None], watched_since: float, now: float, silent_after: float
) -> list[str]:
    """Names of streams without a frame for ``silent_after`` seconds.

    Args:
        last_seen: stream name -> time of its last frame (None: never).
        watched_since: when the streams were subscribed (a stream that never delivered is
            silent once this is ``silent_after`` old).
    """
    out = []
    for name, seen in last_seen.items():
        since = watched_since if seen is None else max(seen, watched_since)
        if now - since >= silent_after:
            out.append(name)
    return sorted(out)


def rotation_due(connected_at: float, now: float, max_age: float = DEFAULT_MAX_AGE) -> bool:
    """Whether a connection opened at ``connected_at`` should be replaced now."""
    return now - connected_at >= max_age


class HandoverStep(enum.Enum):
    WAIT = "wait"  # keep both; ask again at next_check()
    CUT_OVER = "cut_over"  # close the old connection, flush the new one's buffer
    ABANDON = "abandon"  # close the new connection, keep the old one, retry later


@dataclass
class Handover:
    """One planned replacement of a live connection (see the module doc).

    Feed it what happens (:meth:`subscribed`, :meth:`delivered`, :meth:`old_delivered`,
    :meth:`old_lost`) and ask :meth:`step`; at a cut-over, :meth:`frames_may_be_missing`
    says whether the streams are to be marked lost first:

    =============================================  =========================================
    at the cut-over                                then
    =============================================  =========================================
    the old connection delivered market data at    lossless: both connections carried the
    or after the replacement's coverage began      streams at once, the parser drops the
    (its subscription, or its first frame if       overlap by sequence number
    that came later)
    the old connection's last market data came     frames may be missing (the old one went
    before that, or never (also when it ended,     silent, or was dropped while the
    whenever the recorder noticed the end)         recorder could not see it, or every
                                                   stream was quiet): every stream is marked
                                                   lost before the buffer reaches the
                                                   parser, so the GAP comes before the
                                                   replacement's first record (a trade id
                                                   one above the last still proves
                                                   continuity)
    the replacement was never fully subscribed     frames may be missing (the old one ended
                                                   first)
    =============================================  =========================================

    Times are receive times (the recorder's monotonic clock): frames read late (a stopped
    process reads its backlog at once) carry the time they were read.
    """

    started_at: float
    overlap: float = DEFAULT_OVERLAP
    quiet_cutover: float = DEFAULT_QUIET_CUTOVER
    timeout: float = DEFAULT_HANDOVER_TIMEOUT
    subscribed_at: float | None = None
    first_frame_at: float | None = None
    old_data_at: float | None = None
    old_lost_at: float | None = None
    new_lost: bool = False

    def subscribed(self, now: float) -> None:
        """The new connection is up and every one of its streams is confirmed."""
        if self.subscribed_at is None:
            self.subscribed_at = now

    def delivered(self, now: float) -> None:
        """The new connection received market data (buffered)."""
        if self.first_frame_at is None:
            self.first_frame_at = now

    def old_delivered(self, now: float) -> None:
        """The old connection received market data (its latest, stored or a duplicate)."""
        if self.old_data_at is None or now > self.old_data_at:
            self.old_data_at = now

    def old_lost(self, now: float) -> None:
        """The old connection ended by itself."""
        if self.old_lost_at is None:
            self.old_lost_at = now

    def step(self, now: float) -> HandoverStep:
        """What to do now."""
        if self.new_lost:
            return HandoverStep.ABANDON
        if self.old_lost_at is not None:
            return HandoverStep.CUT_OVER
        if self.subscribed_at is not None:
            if self.first_frame_at is not None and now - self.first_frame_at >= self.overlap:
                return HandoverStep.CUT_OVER
            if self.first_frame_at is None and now - self.subscribed_at >= self.quiet_cutover:
                return HandoverStep.CUT_OVER
        if now - self.started_at >= self.timeout:
            return HandoverStep.ABANDON
        return HandoverStep.WAIT

    def next_check(self, now: float) -> float:
        """The latest time :meth:`step` should be asked again (events may come sooner)."""
        candidates = [self.started_at + self.timeout]
        if self.subscribed_at is not None:
            if self.first_frame_at is not None:
                candidates.append(self.first_frame_at + self.overlap)
            else:
                candidates.append(self.subscribed_at + self.quiet_cutover)
        return max(now, min(candidates))

    def frames_may_be_missing(self) -> bool:
        """After a cut-over: whether frames may have been missed between the two
        connections (see the table): the old one's last market data did not come after
        the replacement began to carry every stream."""
        if self.subscribed_at is None or self.old_data_at is None:
            return True
        began = max(self.subscribed_at, self.first_frame_at or self.subscribed_at)
        return self.old_data_at < began
