"""The deliveries of an accepted message: for each recipient, subject, body (its view) and
headers.

A full view is the sender's exact bytes under its signature; a redacted view is the hub's
rendering, countersigned by the hub, for each recipient, over the original's digest and
the view's bytes. Each distinct view is rendered and hashed once per message, however many
recipients get it (a report to eight parties under one agreement's redaction was rendered
eight times).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from hub.governance.model import HubSigner
from hub.jetstream.writer import Write
from hub.policy import Route, render_view
from hub.policy.model import ViewSpec
from schemas.countersign import countersign_view, sha256_digest
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

__all__ = ["Delivery", "delivery_writes"]


@dataclass(frozen=True)
class Delivery:
    """One recipient's delivery, and the ``sha256:`` digest of the bytes it gets."""

    write: Write
    view_digest: str


def delivery_writes(
    routes: Sequence[Route],
    envelope: Envelope,
    signed: tuple[bytes, str, str],
    signer: HubSigner,
    marks: dict[str, str],
) -> list[Delivery]:
    """The delivery of ``envelope`` to each route's recipient, in ``routes`` order.

    Args:
        routes: the recipients, each with its view and agreement.
        envelope: the message.
        signed: its raw bytes, the sender's JWS over them and their digest.
        signer: the hub key that countersigns a redacted view.
        marks: more headers (an amendment's, :mod:`hub.pipeline.amendments`).
    """
    raw, jws, digest = signed
    rendered: dict[ViewSpec, tuple[bytes, str]] = {}  # view → its bytes and their digest
    out: list[Delivery] = []
    for route in routes:
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
        body, body_digest = raw, digest
        if not view.is_full:
            if view not in rendered:
                view_bytes = render_view(raw, view)
                rendered[view] = (view_bytes, sha256_digest(view_bytes))
            body, body_digest = rendered[view]
            headers[HDR_COUNTERSIGNATURE] = countersign_view(
                envelope.id,
                digest,
                route.recipient,
                view.name,
                body,
                signer.key,
                signer.kid,
                view_digest=body_digest,
            )
        subject = delivery_subject(route.recipient, envelope.theme.value, envelope.type)
        write = Write(subject, body, headers)
        out.append(Delivery(write, body_digest))
    return out
