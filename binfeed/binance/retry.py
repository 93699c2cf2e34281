"""Reconnection policy: which failures are worth retrying, and how long to wait.

Everything the network can do to a long-running recorder is retried; only what a person
must fix is fatal (a URL that names no WebSocket endpoint, a certificate that does not
verify, an endpoint that refuses this location or these credentials).

| failure                                   | verdict                                     |
|-------------------------------------------|---------------------------------------------|
| close frame 1000, 1001, 1011, 1012, 1013, | retry                                       |
| any other close code                      |                                             |
| close 1008 (Binance: too many requests)   | retry, after at least 5 s                   |
| TCP closed without a close frame (1006),  | retry                                       |
| reset, timeout, refused, DNS failure      |                                             |
| no frame for the stall timeout            | retry (replace the connection)              |
| serverShutdown event                      | retry at once (rotation)                    |
| TLS handshake failure                     | retry                                       |
| TLS certificate verification failure      | fatal                                       |
| HTTP 5xx on the handshake                 | retry                                       |
| HTTP 429 / 418 (rate limit / IP ban)      | retry after Retry-After (default 60 / 300 s)|
| HTTP 403 (Binance's WAF limit)            | retry, after at least 60 s                  |
| HTTP 400 with streams in the URL          | retry with every stream in SUBSCRIBE        |
| other HTTP 3xx / 4xx, a protocol error in | fatal                                       |
| the handshake                             |                                             |

When the next attempt goes, per shard (:class:`Backoff`; the plan then also waits for the
process's attempt budget, :class:`binfeed.binance.pacing.TokenBucket`):

| before this attempt                          | the attempt goes                            |
|----------------------------------------------|---------------------------------------------|
| none (the shard's first attempt)             | at once                                     |
| a connection that was subscribed and stored  | after a jitter, uniform in [0, 20 ms]       |
| market data ("proven"), then ended           | (``DEFAULT_RECONNECT_JITTER``)              |
| n >= 1 attempts in a row that never got that | after uniform [0, min(cap, base * 2^(n-1))] |
| far (failed to connect, or ended before      | (full jitter; base 0.5 s, cap 60 s)         |
| they were subscribed and stored data)        |                                             |
| a failure with a minimum of its own (1008,   | not before that minimum, whichever row      |
| 403, 429 / 418: table above)                 | applies                                     |
| serverShutdown, HTTP 400 with streams in the | at once                                     |
| URL                                          |                                             |

A proven connection ends the failure streak however short it lived: a link that drops
every half second but delivers in between is reconnected at once every time, and only
the attempt budget slows it down. Exponential backoff is for endpoints that do not work.

Sans-I/O: the I/O layer describes a failure with plain values (:class:`Failure`); nothing
here imports a network library.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass

#: First delay bound, cap and factor of the exponential backoff, seconds.
DEFAULT_BACKOFF_BASE = 0.5
DEFAULT_BACKOFF_CAP = 60.0
DEFAULT_BACKOFF_FACTOR = 2.0
#: Upper bound of the delay after a proven connection ended, seconds (uniform jitter).
DEFAULT_RECONNECT_JITTER = 0.02

MIN_DELAY_AFTER_1008 = 5.0
MIN_DELAY_AFTER_403 = 60.0
DEFAULT_RETRY_AFTER_429 = 60.0
DEFAULT_RETRY_AFTER_418 = 300.0


class FailureKind(enum.Enum):
    """How a connection (or a connection attempt) ended."""

    CLOSED = "closed"  # a close frame arrived (code = its close code)
    DROPPED = "dropped"  # the TCP connection ended without a close frame (1006)
    TIMEOUT = "timeout"  # connecting or the handshake took too long
    REFUSED = "refused"  # TCP connection refused
    DNS = "dns"  # the host name did not resolve
    NETWORK = "network"  # any other socket error
    TLS = "tls"  # the TLS handshake failed
    TLS_VERIFY = "tls_verify"  # the server's certificate did not verify
    HTTP = "http"  # the handshake got an HTTP response other than 101 (code = status)
    HANDSHAKE = "handshake"  # the handshake response was not valid
    PROTOCOL = "protocol"  # the peer broke the WebSocket protocol
    STALLED = "stalled"  # no frame for the stall timeout
    SERVER_SHUTDOWN = "server_shutdown"  # the server announced it is going away
    CONTROL = "control"  # a control message got no reply in time


@dataclass(frozen=True, slots=True)
class Failure:
    """What went wrong, in plain values.

    Args:
        kind: the class of failure.
        code: the close code (CLOSED, DROPPED: 1006) or HTTP status (HTTP), else None.
        detail: a human-readable description for logs and CONNECTION records.
        retry_after: the server's Retry-After, seconds, when it sent one.
        streams_in_url: whether the failed attempt named streams in its URL.
    """

    kind: FailureKind
    code: int | None = None
    detail: str = ""
    retry_after: float | None = None
    streams_in_url: bool = False

    def __str__(self) -> str:
        code = f" {self.code}" if self.code is not None else ""
        detail = f": {self.detail}" if self.detail else ""
        return f"{self.kind.value}{code}{detail}"


@dataclass(frozen=True, slots=True)
class Verdict:
    """What to do about a failure.

    Attributes:
        retry: reconnect (True) or give up (False: a person must act; ``advice`` says how).
        min_delay: wait at least this long before the next attempt, seconds.
        immediate: skip the backoff delay (still subject to min_delay and the attempt budget).
        subscribe_only: retry with every stream in SUBSCRIBE messages, none in the URL.
        advice: for fatal verdicts, what to do next.
    """

    retry: bool
    min_delay: float = 0.0
    immediate: bool = False
    subscribe_only: bool = False
    advice: str = ""


def classify(failure: Failure) -> Verdict:
    """Retryable or fatal, and how long to wait at least (see the module's table)."""
    kind, code = failure.kind, failure.code
    if kind is FailureKind.CLOSED:
        if code == 1008:
            return Verdict(True, min_delay=MIN_DELAY_AFTER_1008)
        return Verdict(True)
    if kind is FailureKind.SERVER_SHUTDOWN:
        return Verdict(True, immediate=True)
    if kind is FailureKind.TLS_VERIFY:
        return Verdict(
            False,
            advice="the server's TLS certificate did not verify: check the host in --url; "
            "to trust a private CA (a TLS-inspecting proxy, a test exchange), give its "
            "certificate with --ca-file PATH (binfeed never disables verification)",
        )
    if kind is FailureKind.HTTP:
        return _classify_http(failure)
    if kind is FailureKind.HANDSHAKE:
        return Verdict(
            False,
            advice="the server's answer to the WebSocket handshake was not valid: check that "
            "--url names a Binance-compatible WebSocket endpoint",
        )
    return Verdict(True)


def _classify_http(failure: Failure) -> Verdict:
    status = failure.code or 0
    if status >= 500:
        return Verdict(True)
    if status == 429:
        return Verdict(True, min_delay=failure.retry_after or DEFAULT_RETRY_AFTER_429)
    if status == 418:
        return Verdict(True, min_delay=failure.retry_after or DEFAULT_RETRY_AFTER_418)
    if status == 403:
        return Verdict(True, min_delay=max(MIN_DELAY_AFTER_403, failure.retry_after or 0.0))
    if status == 400 and failure.streams_in_url:
        return Verdict(True, immediate=True, subscribe_only=True)
    if status == 451:
        advice = "the endpoint refuses connections from this location (HTTP 451)"
    elif status in (401, 407):
        advice = f"the endpoint (or a proxy) asks for credentials (HTTP {status})"
    elif 300 <= status < 400:
        advice = f"the endpoint redirects (HTTP {status}): put the target's base in --url"
    else:
        advice = (
            f"the endpoint answered the WebSocket handshake with HTTP {status}: check --url "
            "(scheme://host[:port] of a Binance-compatible endpoint)"
        )
    return Verdict(False, advice=advice)


def backoff_delays(
    base: float = DEFAULT_BACKOFF_BASE,
    cap: float = DEFAULT_BACKOFF_CAP,
    factor: float = DEFAULT_BACKOFF_FACTOR,
    rng: Callable[[], float] = random.random,
) -> Iterator[float]:
    """Delays before attempts 1, 2, 3...: full jitter over an exponential bound, capped.

    Yields ``rng() * min(cap, base * factor**n)`` for n = 0, 1, 2, ... forever.
    """
    bound = base
    while True:
        yield rng() * min(cap, bound)
        if bound < cap:
            bound *= factor


class Backoff:
    """When one shard's next connection attempt may go (the module's second table).

    Call :meth:`ended` when an attempt is over, failed or lost, saying whether it was
    proven (subscribed, then stored market data); it returns the delay before the next
    attempt.
    """

    def __init__(
        self,
        base: float = DEFAULT_BACKOFF_BASE,
        cap: float = DEFAULT_BACKOFF_CAP,
        jitter: float = DEFAULT_RECONNECT_JITTER,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self._make = lambda: backoff_delays(base, cap, DEFAULT_BACKOFF_FACTOR, rng)
        self._delays = self._make()
        self.jitter = jitter
        self._rng = rng
        #: Attempts in a row that were not proven (0: the last one was).
        self.failures = 0

    def ended(self, proven: bool, verdict: Verdict | None = None) -> float:
        """An attempt is over: the wait before the next one, seconds.

        Args:
            proven: the connection was subscribed and stored market data before it ended.
            verdict: :func:`classify`'s verdict on how it ended (its minimum, ``immediate``).
        """
        if proven:
            self.failures = 0
            self._delays = self._make()
            delay = self._rng() * self.jitter
        else:
            self.failures += 1
            delay = next(self._delays)
        if verdict is not None:
            if verdict.immediate:
                delay = 0.0
            delay = max(delay, verdict.min_delay)
        return delay
