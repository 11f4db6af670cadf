"""One recipient's delivery of an accepted message: subject, body (its view) and headers.

A full view is the sender's exact bytes under its signature; a redacted view is the hub's
rendering, countersigned by the hub over the original's digest and the view's bytes.
"""

from __future__ import annotations

from hub.governance.model import HubSigner
from hub.jetstream.writer import Write
from hub.policy import Route, render_view
from schemas.countersign import countersign_view
from schemas.envelope import Envelope
from schemas.subjects import (
    HDR_AGREEMENT,
    HDR_COUNTERSIGNATURE,
    HDR_MSG_ID,
    HDR_ORIGINAL_DIGEST,
    HDR_RECIPIENT,
    HDR_SIGNATURE,
    HDR_VIEW,
    delivery_msg_id,
    delivery_subject,
)

__all__ = ["delivery_write"]


def delivery_write(
    route: Route,
    envelope: Envelope,
    signed: tuple[bytes, str, str],
    signer: HubSigner,
    marks: dict[str, str],
) -> Write:
    """The subject, body and headers of one recipient's delivery.

    Args:
        route: the recipient, its view and agreement.
        envelope: the message.
        signed: its raw bytes, the sender's JWS over them and their digest.
        signer: the hub key that countersigns a redacted view.
        marks: more headers (an amendment's, :mod:`hub.pipeline.amendments`).
    """
    raw, jws, digest = signed
    view = route.view
    headers = {
        HDR_MSG_ID: delivery_msg_id(envelope.id, route.recipient),
        HDR_VIEW: view.name,
        HDR_AGREEMENT: route.agreement,
        HDR_RECIPIENT: route.recipient,
        HDR_ORIGINAL_DIGEST: digest,
        HDR_SIGNATURE: jws,
        **marks,
    }
    body = raw
    if not view.is_full:
        body = render_view(raw, view)
        headers[HDR_COUNTERSIGNATURE] = countersign_view(
            envelope.id,
            digest,
            route.recipient,
            view.name,
            body,
            signer.key,
            signer.kid,
        )
    subject = delivery_subject(route.recipient, envelope.theme.value, envelope.type)
    return Write(subject, body, headers)
