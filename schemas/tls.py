"""The TLS context every Enlace NATS client verifies the server with (hub and adapters).

Shared by the hub and the adapters (which may not import each other): one rule for
whom a client trusts. The deployment CA (``nats/tls/ca.pem``,
:attr:`schemas.layout.Deployment.tls_ca_cert`) and nothing else: not the system's CAs, so
a certificate bought elsewhere for the same name is refused too.
"""

from __future__ import annotations

import logging
import ssl
from pathlib import Path

__all__ = ["client_context"]

_EOF_NOTICE = "returning true from eof_received() has no effect when using ssl"


class _QuietEof(logging.Filter):
    """asyncio says this on every TLS connection nats-py closes: noise, not a problem."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != _EOF_NOTICE


_ASYNCIO_LOG = logging.getLogger("asyncio")


def client_context(ca_file: Path) -> ssl.SSLContext:
    """Trust ``ca_file`` only, check the server's name, TLS 1.2 at least."""
    if not any(isinstance(f, _QuietEof) for f in _ASYNCIO_LOG.filters):
        _ASYNCIO_LOG.addFilter(_QuietEof())
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(ca_file))
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context
