"""TLS: verification always on, a private CA trusted with --ca-file (flag, config key, env,
library), against the loopback server serving wss:// with a certificate from a CA made in
the test (trustme)."""

from __future__ import annotations

import ssl
import sys
from pathlib import Path

import anyio
import pytest
import trustme
from click.testing import CliRunner, Result

from binfeed.binance.server import open_server
from binfeed.binance.sources import list_source
from binfeed.binance.streams import StreamId, StreamKind
from binfeed.binance.tls import client_context
from binfeed.commands.record_cmd import record
from binfeed.errors import ConfigError

from .recorder_support import (
    capture_frames,
    config_for,
    expected_by_stream,
    idle,
    read_queue,
    record_until,
)

pytestmark = [pytest.mark.anyio, pytest.mark.slow]  # binfeed record runs


async def invoke(args: list[str], env: dict[str, str] | None = None) -> Result:
    return await anyio.to_thread.run_sync(
        lambda: CliRunner().invoke(record, args, env=env, catch_exceptions=False))


def btc(n: int) -> list:
    return [f for f in capture_frames() if f.name == "btcusdt@bookTicker"][:n]


def server_context(ca: trustme.CA, *names: str) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*names).configure_cert(ctx)
    return ctx


@pytest.fixture
def ca(tmp_path: Path) -> tuple[trustme.CA, Path]:
    authority = trustme.CA()
    pem = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(pem))
    return authority, pem


async def test_private_ca_refused_without_ca_file_and_trusted_with_it(
        tmp_path: Path, ca: tuple[trustme.CA, Path]) -> None:
    authority, pem = ca
    frames = btc(1500)
    async with open_server(list_source(frames), speed=None, ping_interval=0.4,
                           clock="per_connection",  # each recording from the start
                           ssl_context=server_context(authority, "127.0.0.1")) as server:
        assert server.url.startswith("wss://127.0.0.1:")
        base = ["-s", "btcusdt", "--url", server.url, "--duration", "1.5"]
        # the system's CAs do not know this one: refused for good, with the way out
        refused = await invoke(["-q", str(tmp_path / "q0"), *base[:-2], "--duration", "10"])
        assert refused.exit_code == 5
        assert "tls_verify: unable to get local issuer certificate" in refused.stderr
        assert "--ca-file PATH" in refused.stderr
        # trusted by flag, by config key, by environment variable
        flag = await invoke(["-q", str(tmp_path / "q1"), *base, "--ca-file", str(pem)])
        config = tmp_path / "binfeed.toml"
        config.write_text(f'ca-file = "{pem}"\n')
        keyed = await invoke(["-q", str(tmp_path / "q2"), *base, "--config", str(config)])
        env = await invoke(["-q", str(tmp_path / "q3"), *base],
                           env={"BINFEED_CA_FILE": str(pem)})
    want = expected_by_stream(frames, [StreamId("btcusdt", StreamKind.BOOK_TICKER)])
    for n, result in enumerate((flag, keyed, env), 1):
        assert result.exit_code == 0, result.stderr
        stored = read_queue(tmp_path / f"q{n}")
        assert stored.by_stream == want


async def test_library_ca_file_and_verification_that_stays_on(
        tmp_path: Path, ca: tuple[trustme.CA, Path]) -> None:
    authority, pem = ca
    other = tmp_path / "other.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    frames = btc(800)
    async with open_server(list_source(frames), speed=None, ping_interval=0.4,
                           ssl_context=server_context(authority, "127.0.0.1")) as server:
        config = config_for(server, ["btcusdt"], [StreamKind.BOOK_TICKER], ca_file=pem)
        await record_until(config, tmp_path / "q", idle(server), limit=20)
        # another CA's certificate does not make this server trusted
        wrong = await invoke(["-q", str(tmp_path / "q2"), "-s", "btcusdt", "--url",
                              server.url, "--ca-file", str(other), "--duration", "10"])
    assert read_queue(tmp_path / "q").by_stream["btcusdt@bookTicker"] == expected_by_stream(
        frames, config.streams)["btcusdt@bookTicker"]
    assert wrong.exit_code == 5
    # the right CA, a certificate for another name: the host name is checked too
    async with open_server(list_source(frames), speed=None, ping_interval=0.4,
                           ssl_context=server_context(authority, "localhost")) as server:
        mismatch = await invoke(["-q", str(tmp_path / "q3"), "-s", "btcusdt", "--url",
                                 server.url, "--ca-file", str(pem), "--duration", "10"])
    assert mismatch.exit_code == 5
    assert "127.0.0.1" in mismatch.stderr


async def test_an_unusable_ca_file_is_a_usage_error(tmp_path: Path) -> None:
    not_pem = tmp_path / "not.pem"
    not_pem.write_text("hello\n")
    for path, message in ((not_pem, "holds no usable CA certificate"),
                          (tmp_path / "missing.pem", "does not exist")):
        result = await invoke(["-q", str(tmp_path / "q"), "-s", "btcusdt",
                               "--url", "wss://127.0.0.1:9", "--ca-file", str(path)])
        assert result.exit_code == 2
        assert message in result.stderr
        with pytest.raises(ConfigError, match=message):
            client_context(path)
    assert not (tmp_path / "q").exists()  # refused before anything was opened


def test_one_factory_makes_every_client_context() -> None:
    ctx = client_context()
    assert ctx.verify_mode is ssl.CERT_REQUIRED and ctx.check_hostname
    assert ctx.minimum_version >= ssl.TLSVersion.TLSv1_2
    # nothing else in binfeed makes a client context (the transport asks the factory)
    root = Path(__file__).resolve().parents[2] / "binfeed"
    makers = [p.relative_to(root).as_posix() for p in root.rglob("*.py")
              if "create_default_context(" in p.read_text() or "SSLContext(" in p.read_text()]
    assert makers == ["binance/tls.py"], makers
    assert sys.modules["binfeed.binance.transport"].client_context is client_context
