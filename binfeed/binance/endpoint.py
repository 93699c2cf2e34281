"""Where to connect: the endpoint base URL, combined-stream URLs, and sharding.

``--url`` is an endpoint's base, ``scheme://host[:port]`` (a trailing ``/`` is ignored);
binfeed adds the path itself: ``/stream?streams=a/b/...`` (combined streams, every frame
wrapped as ``{"stream":..,"data":..}``), then ``&timeUnit=MICROSECOND`` when microsecond
times are asked for (Binance's parameter; milliseconds are its default and are not named).
Stream names are percent-encoded as UTF-8 (``币安人生usdt@trade`` is
``%E5%B8%81%E5%AE%89%E4%BA%BA%E7%94%9Fusdt@trade``; Binance accepts URL-encoded names
since 2025-12); ``@`` and the ``/`` between names stay as they are.

Limits (Binance's spot WebSocket docs, and binfeed's own margins):

- at most 1024 streams per connection (Binance); binfeed puts at most
  ``DEFAULT_STREAMS_PER_CONNECTION`` (200) on one connection by default, so one lost
  connection costs fewer streams, a resubscription fits in a second or two of paced
  SUBSCRIBE messages, and one socket's reader is never the bottleneck;
- streams are named in the connect URL while the whole URL (encoded) stays within
  ``DEFAULT_MAX_URL_LENGTH`` (2048) characters, well under the 4-8 KiB request-line limits
  of common HTTP servers and proxies; the rest is sent as SUBSCRIBE messages after the
  handshake;
- one SUBSCRIBE message carries at most ``DEFAULT_PARAMS_PER_MESSAGE`` (100) streams.

Sans-I/O: no sockets, no event loop.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from binfeed.binance.streams import StreamId
from binfeed.binance.timeunit import TimeUnit
from binfeed.errors import ConfigError

#: Binance's public market-data-only endpoint (no user data streams).
DEFAULT_BASE_URL = "wss://data-stream.binance.vision"
#: Binance's hard limit of streams per connection.
MAX_STREAMS_PER_CONNECTION = 1024
#: binfeed's default: fewer streams per connection than Binance allows (see module doc).
DEFAULT_STREAMS_PER_CONNECTION = 200
#: Longest connect URL binfeed builds (characters, scheme to query).
DEFAULT_MAX_URL_LENGTH = 2048
#: Streams per SUBSCRIBE message.
DEFAULT_PARAMS_PER_MESSAGE = 100


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A WebSocket endpoint's base: ``scheme://host[:port]``.

    Build it with :meth:`parse`.
    """

    scheme: str  # "ws" or "wss"
    host: str  # as written, IPv6 without brackets
    port: int | None  # None: the scheme's default

    @classmethod
    def parse(cls, url: str) -> Endpoint:
        """'wss://data-stream.binance.vision/' -> Endpoint('wss', 'data-stream...', None).

        Raises:
            ConfigError: not ``ws://`` or ``wss://``, no host, a bad port, or anything after
                the host and port (a path, a query, a fragment, credentials).
        """
        text = url.strip()
        try:
            parts = urlsplit(text)
            port = parts.port
        except ValueError as exc:
            raise ConfigError(f"invalid --url {url!r}: {exc}") from None
        if parts.scheme not in ("ws", "wss"):
            raise ConfigError(
                f"invalid --url {url!r}: use ws:// or wss:// followed by host[:port], "
                f"for example {DEFAULT_BASE_URL}"
            )
        if not parts.hostname:
            raise ConfigError(f"invalid --url {url!r}: no host name")
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise ConfigError(
                f"invalid --url {url!r}: give only the endpoint's base, scheme://host[:port]; "
                "binfeed adds /stream?streams=... itself"
            )
        if parts.username is not None or parts.password is not None:
            raise ConfigError(f"invalid --url {url!r}: credentials in the URL are not supported")
        return cls(parts.scheme, parts.hostname, port)

    @property
    def secure(self) -> bool:
        """True for wss:// (TLS, certificates verified)."""
        return self.scheme == "wss"

    @property
    def effective_port(self) -> int:
        """The TCP port to connect to."""
        if self.port is not None:
            return self.port
        return 443 if self.secure else 80

    @property
    def base(self) -> str:
        """'wss://host[:port]' as it goes into URLs."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        port = "" if self.port is None else f":{self.port}"
        return f"{self.scheme}://{host}{port}"

    def combined_url(self, streams: Sequence[StreamId | str] = (),
                     time_unit: TimeUnit = TimeUnit.MS) -> str:
        """The combined-stream URL naming ``streams`` (``/stream`` alone when empty), with
        ``timeUnit=MICROSECOND`` for microsecond times."""
        query = [f"streams={'/'.join(url_name(s) for s in streams)}"] if streams else []
        if time_unit.url_value:
            query.append(f"timeUnit={time_unit.url_value}")
        return f"{self.base}/stream" + ("?" + "&".join(query) if query else "")

    def raw_url(self, stream: StreamId | str, time_unit: TimeUnit = TimeUnit.MS) -> str:
        """The raw-stream URL of one stream (payloads without the envelope)."""
        unit = f"?timeUnit={time_unit.url_value}" if time_unit.url_value else ""
        return f"{self.base}/ws/{url_name(stream)}{unit}"


def url_name(stream: StreamId | str) -> str:
    """A stream name as it goes into a URL: percent-encoded UTF-8, '@' kept
    ('币安人生usdt@trade' -> '%E5%B8%81...usdt@trade'; ASCII names are unchanged)."""
    return quote(str(stream), safe="@")


def split_for_url(
    endpoint: Endpoint,
    streams: Sequence[StreamId],
    max_url_length: int = DEFAULT_MAX_URL_LENGTH,
    time_unit: TimeUnit = TimeUnit.MS,
) -> tuple[list[StreamId], list[StreamId]]:
    """Splits one connection's streams into (named in the URL, to SUBSCRIBE after connecting).

    The first streams go into the URL while it (percent-encoded, with its ``timeUnit``)
    stays within ``max_url_length`` characters; ``max_url_length=0`` puts every stream in
    SUBSCRIBE messages.
    """
    in_url: list[StreamId] = []
    length = len(endpoint.combined_url((), time_unit)) + len("?streams=")  # or "&streams="
    for i, stream in enumerate(streams):
        extra = len(url_name(stream)) + (1 if in_url else 0)
        if length + extra > max_url_length:
            return in_url, list(streams[i:])
        in_url.append(stream)
        length += extra
    return in_url, []


def shard(
    streams: Sequence[StreamId], per_connection: int = DEFAULT_STREAMS_PER_CONNECTION
) -> list[list[StreamId]]:
    """Splits streams into connection-sized groups, in the order given (duplicates dropped).

    :func:`~binfeed.binance.streams.stream_ids` lists a symbol's streams side by side, so
    they share a connection unless a group boundary falls between them.

    Raises:
        ConfigError: per_connection outside 1..1024.
    """
    if not 1 <= per_connection <= MAX_STREAMS_PER_CONNECTION:
        raise ConfigError(
            f"streams per connection must be between 1 and {MAX_STREAMS_PER_CONNECTION} "
            f"(Binance's limit), not {per_connection}"
        )
    unique = list(dict.fromkeys(streams))
    return [unique[i : i + per_connection] for i in range(0, len(unique), per_connection)]


def chunk_params(
    streams: Sequence[StreamId], per_message: int = DEFAULT_PARAMS_PER_MESSAGE
) -> list[list[StreamId]]:
    """Splits streams into SUBSCRIBE-message-sized groups."""
    if per_message < 1:
        raise ConfigError(f"streams per SUBSCRIBE message must be at least 1, not {per_message}")
    return [list(streams[i : i + per_message]) for i in range(0, len(streams), per_message)]
