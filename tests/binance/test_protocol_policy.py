"""Retryable vs fatal, backoff, stalls, rotation handover: no network."""

from __future__ import annotations

import itertools
import random

import pytest

from binfeed.binance.health import (
    ABSENCE_GRACE_MAX,
    ABSENCE_SLACK,
    Handover,
    HandoverStep,
    StallStep,
    StallWatch,
    rotation_due,
    silent_streams,
    stalled,
)
from binfeed.binance.retry import (
    DEFAULT_BACKOFF_CAP,
    Backoff,
    Failure,
    FailureKind,
    backoff_delays,
    classify,
)


@pytest.mark.parametrize("code", [1000, 1001, 1006, 1011, 1012, 1013, 1002, 1009, 4000])
def test_every_close_code_is_retried(code: int) -> None:
    kind = FailureKind.DROPPED if code == 1006 else FailureKind.CLOSED
    verdict = classify(Failure(kind, code))
    assert verdict.retry
    assert verdict.min_delay == 0.0


def test_1008_too_many_requests_waits() -> None:
    verdict = classify(Failure(FailureKind.CLOSED, 1008, "Too many requests"))
    assert verdict.retry
    assert verdict.min_delay >= 5.0


@pytest.mark.parametrize(
    "kind",
    [FailureKind.TIMEOUT, FailureKind.REFUSED, FailureKind.DNS, FailureKind.NETWORK,
     FailureKind.TLS, FailureKind.PROTOCOL, FailureKind.STALLED, FailureKind.CONTROL],
)
def test_network_failures_are_retried(kind: FailureKind) -> None:
    assert classify(Failure(kind)).retry


def test_server_shutdown_reconnects_at_once() -> None:
    verdict = classify(Failure(FailureKind.SERVER_SHUTDOWN))
    assert verdict.retry
    assert verdict.immediate


def test_tls_verification_failure_is_fatal_with_advice() -> None:
    verdict = classify(Failure(FailureKind.TLS_VERIFY, detail="self-signed"))
    assert not verdict.retry
    assert "certificate" in verdict.advice


@pytest.mark.parametrize(
    ("status", "retry", "min_delay"),
    [(500, True, 0.0), (502, True, 0.0), (503, True, 0.0), (429, True, 60.0),
     (418, True, 300.0), (403, True, 60.0), (404, False, 0.0), (451, False, 0.0),
     (401, False, 0.0), (301, False, 0.0), (400, False, 0.0), (426, False, 0.0)],
)
def test_http_status_on_handshake(status: int, retry: bool, min_delay: float) -> None:
    verdict = classify(Failure(FailureKind.HTTP, status))
    assert verdict.retry is retry
    assert verdict.min_delay == min_delay
    if not retry:
        assert str(status) in verdict.advice


def test_retry_after_is_honoured() -> None:
    assert classify(Failure(FailureKind.HTTP, 429, retry_after=7.0)).min_delay == 7.0
    assert classify(Failure(FailureKind.HTTP, 403, retry_after=600.0)).min_delay == 600.0


def test_http_400_with_streams_in_url_retries_with_subscribe() -> None:
    verdict = classify(Failure(FailureKind.HTTP, 400, streams_in_url=True))
    assert verdict.retry
    assert verdict.subscribe_only
    assert verdict.immediate


def test_backoff_full_jitter_exponential_capped() -> None:
    upper = list(itertools.islice(backoff_delays(0.5, 60.0, 2.0, rng=lambda: 1.0), 10))
    assert upper == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0, 60.0]
    assert list(itertools.islice(backoff_delays(rng=lambda: 0.0), 5)) == [0.0] * 5
    rng = random.Random(1)
    delays = list(itertools.islice(backoff_delays(rng=rng.random), 200))
    assert all(0 <= d <= DEFAULT_BACKOFF_CAP for d in delays)
    assert len(set(delays)) == 200  # jittered


def test_a_proven_connection_ends_the_failure_streak_however_short_it_lived() -> None:
    b = Backoff(base=1.0, cap=100.0, jitter=0.02, rng=lambda: 1.0)
    lost = classify(Failure(FailureKind.DROPPED, 1006))
    assert [b.ended(False, lost) for _ in range(4)] == [1.0, 2.0, 4.0, 8.0]
    assert b.failures == 4
    assert b.ended(True, lost) == 0.02  # subscribed and stored data, then dropped: at once
    assert b.failures == 0
    assert b.ended(False, lost) == 1.0  # the streak starts again from the base
    assert b.ended(True, lost) == 0.02
    assert b.ended(True, lost) == 0.02  # a link that drops every 0.5 s: at once each time


def test_reconnect_jitter_is_small_and_random() -> None:
    rng = random.Random(3)
    b = Backoff(jitter=0.02, rng=rng.random)
    delays = [b.ended(True) for _ in range(100)]
    assert all(0.0 <= d <= 0.02 for d in delays)
    assert len(set(delays)) == 100


def test_a_failures_own_minimum_holds_even_after_a_proven_connection() -> None:
    b = Backoff(base=1.0, rng=lambda: 0.0)
    assert b.ended(True, classify(Failure(FailureKind.CLOSED, 1008))) == 5.0
    assert b.ended(True, classify(Failure(FailureKind.HTTP, 429, retry_after=7.0))) == 7.0
    assert b.ended(False, classify(Failure(FailureKind.HTTP, 403))) == 60.0
    assert b.ended(False, classify(Failure(FailureKind.HTTP, 418))) == 300.0


def test_backoff_honours_verdicts() -> None:
    b = Backoff(base=1.0, rng=lambda: 0.0)
    assert b.ended(False, classify(Failure(FailureKind.CLOSED, 1008))) == 5.0
    b2 = Backoff(base=10.0, rng=lambda: 1.0)
    assert b2.ended(False, classify(Failure(FailureKind.SERVER_SHUTDOWN))) == 0.0


def test_stall_and_silence() -> None:
    assert not stalled(100.0, 129.9, 30.0)
    assert stalled(100.0, 130.0, 30.0)
    seen = {"a@trade": 50.0, "b@trade": None, "c@trade": 95.0}
    assert silent_streams(seen, watched_since=10.0, now=100.0, silent_after=40.0) == [
        "a@trade", "b@trade"]
    # a stream that never delivered is silent only once it was watched long enough
    assert silent_streams({"b@trade": None}, watched_since=90.0, now=100.0,
                          silent_after=40.0) == []


def test_stall_watch_measures_the_peers_silence_not_our_absence() -> None:
    # each row of StallWatch's table
    w = StallWatch(timeout=3.0, quiet_from=0.0)
    assert w.deadline(last_frame_at=1.0) == 4.0
    w.promise(4.0, now=1.0)
    assert w.check(1.0, 3.9) is StallStep.FINE
    w.promise(4.0, now=3.9)
    assert w.check(1.0, 4.0) is StallStep.PROBE  # on time: ask the socket
    assert w.probed(unread=False, now=4.0)  # empty: stalled
    # late past the slack: absent, nothing judged, silence counted from `late` after the
    # return (the peer's TCP may wait that long to probe our reopened window)
    w.promise(4.0, now=1.0)
    late = ABSENCE_SLACK + 2.0
    back = 4.0 + late
    assert w.check(1.0, back) is StallStep.ABSENT
    assert w.late == pytest.approx(late)
    assert w.deadline(1.0) == pytest.approx(back + late + 3.0)
    assert w.check(1.0, back + late + 2.9) is StallStep.FINE
    assert w.check(1.0, back + late + 3.0) is StallStep.PROBE
    # frames after the grace count as ever
    assert w.deadline(back + late + 1.0) == pytest.approx(back + late + 4.0)
    # unread bytes: no stall, silence counted from then
    assert not w.probed(unread=True, now=back + late + 3.0)
    assert w.deadline(1.0) == pytest.approx(back + late + 6.0)
    # a promise made after its deadline passed counts from when it was made
    w.promise(2.0, now=10.0)
    assert w.check(1.0, 10.0 + ABSENCE_SLACK) is StallStep.FINE
    # a very long absence: the grace stops at ABSENCE_GRACE_MAX
    w.promise(100.0, now=99.0)
    assert w.check(1.0, 100.0 + 500.0) is StallStep.ABSENT
    assert w.deadline(1.0) == pytest.approx(600.0 + ABSENCE_GRACE_MAX + 3.0)


def test_rotation_due_before_24h() -> None:
    assert not rotation_due(0.0, 23 * 3600)
    assert rotation_due(0.0, 23.5 * 3600)
    assert rotation_due(0.0, 10.0, max_age=10.0)


def test_handover_waits_for_overlap_then_cuts_over() -> None:
    h = Handover(started_at=0.0, overlap=1.0, quiet_cutover=5.0, timeout=30.0)
    assert h.step(0.5) is HandoverStep.WAIT
    h.subscribed(1.0)
    h.delivered(1.2)
    h.old_delivered(1.2)
    assert h.step(2.1) is HandoverStep.WAIT
    assert h.next_check(2.1) == pytest.approx(2.2)
    h.old_delivered(2.15)
    assert h.step(2.2) is HandoverStep.CUT_OVER
    assert not h.frames_may_be_missing()


def test_handover_is_lossless_only_if_the_old_connection_delivered_after_the_new_began() -> None:
    """The table of Handover: the old one's last market data against the later of the
    replacement's subscription and its first frame."""
    def missing(subscribed: float | None, first: float | None, old_data: float | None,
                old_lost: float | None = None) -> bool:
        h = Handover(started_at=0.0, overlap=1.0)
        if subscribed is not None:
            h.subscribed(subscribed)
        if first is not None:
            h.delivered(first)
        if old_data is not None:
            h.old_delivered(old_data)
        if old_lost is not None:
            h.old_lost(old_lost)
        assert h.step(10.0) is HandoverStep.CUT_OVER
        return h.frames_may_be_missing()

    assert not missing(1.0, 1.2, 2.1)  # both carried the streams for 0.9 s
    assert not missing(1.0, 1.2, 1.2)  # read at the same moment
    assert missing(1.0, 1.2, 0.6)  # silent since before the replacement subscribed
    assert missing(1.0, 1.2, 1.1)  # after the subscription, but before the first frame
    assert missing(1.0, 0.9, 0.95)  # a first frame before every stream was subscribed
    assert missing(1.0, 1.2, None)  # never delivered anything
    assert missing(1.0, None, 0.5)  # quiet replacement: the old one quiet too
    assert not missing(1.0, None, 3.0)  # quiet replacement, the old one delivered after
    assert not missing(1.0, 1.2, 1.9, old_lost=2.0)  # ended after overlapping
    # ended long after its last data, whenever that end was noticed (a stopped recorder)
    assert missing(1.0, 1.2, 0.6, old_lost=2.0)
    assert missing(None, None, 0.6, old_lost=0.7)  # ended before the replacement was ready


def test_handover_quiet_streams_cut_over_after_quiet_period() -> None:
    h = Handover(started_at=0.0, overlap=1.0, quiet_cutover=5.0, timeout=30.0)
    h.subscribed(1.0)
    assert h.step(5.9) is HandoverStep.WAIT
    assert h.step(6.0) is HandoverStep.CUT_OVER


def test_handover_abandoned_when_new_connection_never_ready_or_lost() -> None:
    h = Handover(started_at=0.0, timeout=30.0)
    assert h.next_check(0.0) == 30.0
    assert h.step(30.0) is HandoverStep.ABANDON
    h2 = Handover(started_at=0.0)
    h2.new_lost = True
    assert h2.step(0.1) is HandoverStep.ABANDON


def test_handover_old_lost_cuts_over_and_says_whether_frames_may_be_missing() -> None:
    h = Handover(started_at=0.0)
    h.subscribed(1.0)
    h.old_delivered(1.9)
    h.old_lost(2.0)
    assert h.step(2.0) is HandoverStep.CUT_OVER
    assert not h.frames_may_be_missing()  # it delivered after the new one was subscribed
    h2 = Handover(started_at=0.0)
    h2.old_delivered(0.4)
    h2.old_lost(0.5)
    h2.subscribed(1.0)
    assert h2.step(1.0) is HandoverStep.CUT_OVER
    assert h2.frames_may_be_missing()
