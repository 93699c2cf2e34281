"""TLS for every connection binfeed makes: one client-context factory, verification always on.

:func:`client_context` is the only place a client TLS context is made: the WebSocket
transport (:mod:`binfeed.binance.transport`) uses it, and so does any REST call (exchange
information for ``--symbols all``). It trusts the system's certificate authorities and,
with ``ca_file``, a private one besides (a company's TLS-inspecting proxy, a test
exchange); it always checks the certificate chain and the host name. There is no way to
turn verification off, on purpose: a recorder that stores what an impostor sends is worse
than one that stops.
"""

from __future__ import annotations

import os
import ssl

from binfeed.errors import ConfigError

__all__ = ["client_context"]


def client_context(ca_file: str | os.PathLike[str] | None = None) -> ssl.SSLContext:
    """A TLS client context: the system's CAs (plus ``ca_file``'s), certificate and host
    name verified, TLS 1.2 at least.

    Args:
        ca_file: a PEM file of one or more CA certificates to trust as well (``--ca-file``).

    Raises:
        ConfigError: ``ca_file`` cannot be read or holds no certificate.
    """
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if ca_file is not None:
        try:
            context.load_verify_locations(cafile=os.fspath(ca_file))
        except FileNotFoundError:
            raise ConfigError(f"CA file {ca_file} does not exist: give a PEM file of the CA "
                              "certificates to trust") from None
        except (IsADirectoryError, PermissionError) as exc:
            raise ConfigError(f"cannot read CA file {ca_file}: {exc.strerror}") from None
        except ssl.SSLError as exc:
            raise ConfigError(f"CA file {ca_file} holds no usable CA certificate "
                              f"({exc.reason or exc}): give a PEM file with one or more "
                              "-----BEGIN CERTIFICATE----- blocks") from None
    return context
