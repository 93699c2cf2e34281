"""Binance's REST market-data API, the one call binfeed makes: exchangeInfo.

``record --symbols all`` asks ``GET {rest_url}/api/v3/exchangeInfo?symbolStatus=TRADING``
(default host ``https://data-api.binance.vision``, Binance's public market-data host, which
needs no key) at start and at every refresh. The request runs in a worker thread (the
standard library's HTTP client; one request an hour needs no connection pool), so the
recorder's event loop never waits on it.

Retries, bounded (:func:`retry_delay`):

==========================================  =========================================
answer                                      then
==========================================  =========================================
200 with an exchangeInfo body               done
network error, timeout, HTTP 5xx, a body    retry after 0.5, 1, 2, 4 s (then give up)
that is not exchangeInfo
HTTP 429 / 418 (rate limit / IP ban)        retry after Retry-After (default 60 / 300
                                            s), if that fits in ``max_wait``; else give
                                            up at once
other HTTP 4xx, TLS certificate failure     give up at once (a person must fix it)
==========================================  =========================================

Giving up raises :class:`~binfeed.errors.EndpointError` with the last reason: at start the
recorder exits 5; at a refresh it keeps the list it has and tries again next time.
"""

from __future__ import annotations

import logging
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass

import anyio

from binfeed import __version__
from binfeed.binance.symbol_list import ExchangeInfoError, Listing, parse_exchange_info
from binfeed.errors import EndpointError

log = logging.getLogger("binfeed.rest")

#: Binance's public market-data REST host (no API key).
DEFAULT_REST_URL = "https://data-api.binance.vision"
EXCHANGE_INFO_PATH = "/api/v3/exchangeInfo?symbolStatus=TRADING"
#: Seconds for one request (connect, TLS, the whole body).
DEFAULT_REQUEST_TIMEOUT = 15.0
#: Attempts before giving up on a retryable failure.
DEFAULT_ATTEMPTS = 5
#: Longest wait binfeed accepts from a Retry-After before giving up, seconds.
DEFAULT_MAX_WAIT = 120.0
#: First retry delay, doubled for each further retry.
RETRY_BASE = 0.5
DEFAULT_RETRY_AFTER = {429: 60.0, 418: 300.0}
#: Largest exchangeInfo body accepted (the whole Spot market is about 20 MB with filters).
MAX_BODY = 256 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Failure:
    """Why one request failed: ``status`` is the HTTP status or None (network, body)."""

    reason: str
    status: int | None = None
    retry_after: float | None = None
    fatal: bool = False


def retry_delay(failure: Failure, attempt: int, *, attempts: int = DEFAULT_ATTEMPTS,
                max_wait: float = DEFAULT_MAX_WAIT) -> float | None:
    """Seconds to wait before attempt ``attempt + 1`` (attempts count from 1), or None to
    give up (the table in the module docstring)."""
    if failure.fatal or attempt >= attempts:
        return None
    if failure.status in DEFAULT_RETRY_AFTER:
        wait = failure.retry_after
        if wait is None:
            wait = DEFAULT_RETRY_AFTER[failure.status]
        return wait if wait <= max_wait else None
    return RETRY_BASE * 2 ** (attempt - 1)


def exchange_info_url(rest_url: str) -> str:
    return rest_url.rstrip("/") + EXCHANGE_INFO_PATH


async def fetch_listing(rest_url: str, *, quote: str | None = None,
                        ssl_context: ssl.SSLContext | None = None,
                        request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
                        attempts: int = DEFAULT_ATTEMPTS,
                        max_wait: float = DEFAULT_MAX_WAIT) -> Listing:
    """The recordable symbols at ``rest_url``, retried as the module docstring says.

    Raises:
        EndpointError: no exchangeInfo could be had; the message says why and what to do.
    """
    url = exchange_info_url(rest_url)
    attempt = 0
    while True:
        attempt += 1
        result = await anyio.to_thread.run_sync(_get, url, ssl_context, request_timeout,
                                                abandon_on_cancel=True)
        if isinstance(result, bytes):
            try:
                return parse_exchange_info(result, quote)
            except ExchangeInfoError as exc:
                result = Failure(str(exc))
        delay = retry_delay(result, attempt, attempts=attempts, max_wait=max_wait)
        if delay is None:
            raise EndpointError(
                f"cannot get the symbol list from {url}: {result.reason} (after {attempt} "
                f"attempt{'s' if attempt > 1 else ''}); check --rest-url and the network, "
                "or name the symbols with --symbols / --symbols-file")
        log.warning("exchangeInfo from %s failed (%s); retrying in %.1f s", url,
                    result.reason, delay)
        await anyio.sleep(delay)


def _get(url: str, ssl_context: ssl.SSLContext | None, timeout: float) -> bytes | Failure:
    request = urllib.request.Request(url, headers={
        "Accept": "application/json", "User-Agent": f"binfeed/{__version__}"})
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=ssl_context) as resp:
            body = resp.read(MAX_BODY + 1)
    except urllib.error.HTTPError as exc:
        return Failure(f"HTTP {exc.code} {exc.reason}", exc.code,
                       _retry_after(exc.headers.get("Retry-After")),
                       fatal=400 <= exc.code < 500 and exc.code not in DEFAULT_RETRY_AFTER)
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, ssl.SSLCertVerificationError):
            return Failure(f"TLS certificate not verified: {reason.verify_message}",
                           fatal=True)
        return Failure(f"network error: {reason}")
    except (OSError, ValueError) as exc:  # timeouts, resets, a malformed response
        return Failure(f"network error: {exc}")
    if len(body) > MAX_BODY:
        return Failure(f"answer larger than {MAX_BODY} bytes", fatal=True)
    return body


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None
