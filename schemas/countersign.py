"""The hub's countersignature over a redacted view.

A redacted view is not the bytes the sender signed, so the sender's signature cannot
vouch for it. The hub signs a statement binding the original to the view::

    {"id": <message id>, "original": "sha256:<hex of original bytes>",
     "recipient": <cc>, "view": <view name>, "view_digest": "sha256:<hex of view bytes>"}

as canonical JSON, with a detached JWS by its directory key. The statement is rebuilt
by the verifier from the delivery (headers + body), so only the JWS travels
(``Enlace-Countersignature``), beside ``Enlace-View`` and ``Enlace-Original-Digest``.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from schemas.canonical import canonical_json
from schemas.directory import Directory
from schemas.errors import SenderMismatch
from schemas.jws import sign_detached

__all__ = ["countersign_view", "sha256_digest", "verify_countersignature", "view_statement"]


def sha256_digest(data: bytes) -> str:
    """``sha256:<hex>``, the digest form used in headers, receipts and the audit log."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def view_statement(
    message_id: str, original_digest: str, recipient: str, view: str, view_bytes: bytes
) -> bytes:
    """The exact bytes the hub countersigns for a view: what the recipient gets, bound to it.

    Args:
        message_id: the original message's id.
        original_digest: ``sha256:<hex>`` of the bytes the sender signed.
        recipient: the country the view is for.
        view: the view's name (``full`` or a redaction).
        view_bytes: the bytes the recipient gets.

    Returns:
        Canonical JSON of the statement (ids, digests, recipient, view).
    """
    return _statement(message_id, original_digest, recipient, view, sha256_digest(view_bytes))


def _statement(
    message_id: str, original_digest: str, recipient: str, view: str, view_digest: str
) -> bytes:
    return canonical_json(
        {
            "id": message_id,
            "original": original_digest,
            "recipient": recipient,
            "view": view,
            "view_digest": view_digest,
        }
    )


def countersign_view(
    message_id: str,
    original_digest: str,
    recipient: str,
    view: str,
    view_bytes: bytes,
    hub_key: Ed25519PrivateKey,
    kid: str,
    *,
    view_digest: str | None = None,
) -> str:
    """The hub's detached JWS over the statement of a view.

    Args:
        message_id: the original message's id.
        original_digest: ``sha256:<hex>`` of the bytes the sender signed.
        recipient: the country the view is for.
        view: the view's name.
        view_bytes: the bytes the recipient gets.
        hub_key: the hub's private key.
        kid: the hub key's id in the directory.
        view_digest: ``sha256_digest(view_bytes)``, when the caller has it already (the
            hub hashes each view once per message, whatever its recipients).

    Returns:
        The detached JWS (``header..signature``).
    """
    digest = view_digest or sha256_digest(view_bytes)
    statement = _statement(message_id, original_digest, recipient, view, digest)
    return sign_detached(statement, hub_key, kid)


def verify_countersignature(
    directory: Directory,
    jws: str,
    message_id: str,
    original_digest: str,
    recipient: str,
    view: str,
    view_bytes: bytes,
    at: datetime | None = None,
) -> str:
    """Check the hub's countersignature over a view.

    The key must be the hub's (a POC's valid key does not countersign).

    Args:
        directory: the directory holding the hub's keys.
        jws: the countersignature (``Enlace-Countersignature``).
        message_id: the original message's id.
        original_digest: ``sha256:<hex>`` of the bytes the sender signed.
        recipient: the country the view is for.
        view: the view's name.
        view_bytes: the bytes the recipient got.
        at: when the key must be valid (now by default).

    Returns:
        The kid of the hub key that countersigned.

    Raises:
        SignatureError: a subclass naming what fails (SenderMismatch for a key not the hub's).
    """
    statement = view_statement(message_id, original_digest, recipient, view, view_bytes)
    header, owner = directory.verify_signature(statement, jws, at)
    if owner.kind != "hub":
        raise SenderMismatch(
            f"key {header.kid!r} is not the hub's; it cannot countersign",
            kid=header.kid,
            message_id=message_id,
        )
    return header.kid
