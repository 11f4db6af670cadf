"""Standard Webhooks signatures (standardwebhooks.com): what lets a receiver refuse replays.

Each request carries::

    webhook-id: <message id>                 the same on every retry of one delivery
    webhook-timestamp: <Unix seconds>        when this attempt was sent
    webhook-signature: v1,<base64 HMAC-SHA256(secret, "<id>.<timestamp>.<body>")>

A receiver recomputes the signature with the shared secret and refuses a timestamp too far
from its clock (the libraries use five minutes) and an id it has seen. The secret is the
scheme's own form, ``whsec_<base64 of 24 to 64 random bytes>``; only the receiver and the
sink's options (an environment variable or a file, never ``enlace.yaml`` itself) hold it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from datetime import datetime

__all__ = ["SECRET_PREFIX", "decode_secret", "new_secret", "signature_headers"]

SECRET_PREFIX = "whsec_"  # noqa: S105 - the scheme's prefix, not a secret


def decode_secret(value: str) -> bytes:
    """The key bytes of a ``whsec_…`` secret; raises ValueError saying what is wrong."""
    text = value.strip().removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("is not whsec_ followed by base64") from None
    if not 24 <= len(key) <= 64:
        raise ValueError(f"holds {len(key)} bytes; Standard Webhooks uses 24 to 64")
    return key


def new_secret() -> str:
    """A fresh ``whsec_`` secret of 32 random bytes, to share with the receiver."""
    import secrets

    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def signature_headers(key: bytes, message_id: str, body: bytes, now: datetime) -> dict[str, str]:
    """The three ``webhook-*`` headers of one attempt at ``now``."""
    timestamp = str(int(now.timestamp()))
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return {
        "webhook-id": message_id,
        "webhook-timestamp": timestamp,
        "webhook-signature": "v1," + base64.b64encode(digest).decode("ascii"),
    }
