"""Test helpers of the adapter side: the hub's streams, deliveries as the hub sends them.

For tests and benchmarks of sink runners (``tests/`` and ``bench/`` both use them) on a
real nats-server: they stand in for the hub, which makes these streams and publishes these
deliveries in production. The DELIVERY consumers are the hub's to make
(``hub.jetstream.consumers.ensure_sink_consumers``): this package does not import the hub.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

from nats.js import JetStreamContext
from nats.js.api import StreamConfig
from nats.js.errors import APIError, NotFoundError

from adapters.keys import Signer
from schemas.common import PARTIES
from schemas.countersign import countersign_view, sha256_digest
from schemas.subjects import (
    HDR_AGREEMENT,
    HDR_COUNTERSIGNATURE,
    HDR_MSG_ID,
    HDR_ORIGINAL_DIGEST,
    HDR_RECIPIENT,
    HDR_SIGNATURE,
    HDR_VIEW,
    STREAMS,
    deadletter_stream,
    deadletter_subject,
    delivery_subject,
)
from schemas.testing import TestDirectory

__all__ = [
    "ADAPTER_STREAMS",
    "SentDelivery",
    "fresh_adapter_streams",
    "publish_delivery",
    "receipt_signer",
]

ADAPTER_STREAMS = ("DELIVERY", "RECEIPTS")
"""The hub's streams a sink runner uses, besides its country's DEADLETTER_<cc>."""

_STORE_NOT_CREATED = 10049  # JSStreamStoreFailedF: "error creating store for stream"


async def fresh_adapter_streams(js: JetStreamContext, parties: tuple[str, ...] = PARTIES) -> None:
    """DELIVERY, RECEIPTS and each party's DEADLETTER_<cc>, made anew and empty."""
    configs = [StreamConfig(name=name, subjects=list(STREAMS[name])) for name in ADAPTER_STREAMS]
    configs += [
        StreamConfig(name=deadletter_stream(cc), subjects=[deadletter_subject(cc)])
        for cc in parties
    ]
    for config in configs:
        assert config.name is not None  # set above; for the type checker
        with suppress(NotFoundError):
            await js.delete_stream(config.name)
        await _add_again(js, config)


async def _add_again(js: JetStreamContext, config: StreamConfig) -> None:
    """Add a stream just deleted: nats-server may still be removing the old store."""
    for attempt in range(20):
        try:
            await js.add_stream(config)
            return
        except APIError as err:
            if err.err_code != _STORE_NOT_CREATED or attempt == 19:
                raise
            await asyncio.sleep(0.05)


def receipt_signer(td: TestDirectory, country: str) -> Signer:
    """The signer of ``country``'s receipts: its system key in the test directory."""
    kid = f"{country.lower()}-system-k1"
    return Signer(kid, td.keys[kid])


@dataclass(frozen=True)
class SentDelivery:
    """A delivery as published: its message id, the exact body, the view."""

    message_id: str
    body: bytes
    view: str


async def publish_delivery(
    js: JetStreamContext,
    td: TestDirectory,
    recipient: str = "GT",
    sender: str = "SV",
    view: str = "full",
    tamper: str | None = None,
    fields: Mapping[str, Any] | None = None,
) -> SentDelivery:
    """Publish a delivery of a gang movement from ``sender`` as the hub would.

    Args:
        js: JetStream of a server with the DELIVERY stream.
        td: the directory whose POC and hub keys sign.
        recipient: the country it is for.
        sender: the country it is from.
        view: ``full``, or a view name: the payload is dropped and the hub countersigns.
        tamper: ``"body"`` or ``"countersignature"`` changes the bytes after signing.
        fields: envelope fields to set (``conditions`` …) before signing.

    Returns:
        What was published.
    """
    message = td.envelope(sender, "gangs", "gang_movement", {"note": "test"}) | dict(fields or {})
    raw, jws = td.sign(message)
    digest = sha256_digest(raw)
    headers = {
        HDR_MSG_ID: f"{message['id']}:{recipient}",
        HDR_VIEW: view,
        HDR_AGREEMENT: "test-agreement",
        HDR_RECIPIENT: recipient,
        HDR_ORIGINAL_DIGEST: digest,
        HDR_SIGNATURE: jws,
    }
    body = raw
    if view != "full":
        redacted = {k: v for k, v in message.items() if k != "payload"} | {"payload": {}}
        body = json.dumps(redacted).encode()
        headers[HDR_COUNTERSIGNATURE] = countersign_view(
            message["id"], digest, recipient, view, body, td.keys[td.hub_kid], td.hub_kid
        )
        if tamper == "countersignature":
            body = body.replace(b'"payload": {}', b'"payload": {"x": 1}')
    if tamper == "body":
        body = body.replace(b'"note": "test"', b'"note": "TEST"')
        assert body != raw
        if view == "full":  # a careful forger fixes the digest too: the signature still fails
            headers[HDR_ORIGINAL_DIGEST] = sha256_digest(body)
    subject = delivery_subject(recipient, "gangs", "gang_movement")
    await js.publish(subject, body, headers=headers)
    return SentDelivery(message["id"], body, view)
