"""The stix sink behind the production runner on a real nats-server: verified deliveries of a
seizure (full, and a view without persons) become valid STIX 2.1 bundles, each receipted.

The contract every sink keeps (retries, dead letters, exactly once, what a recipient
verifies) runs for it in test_sinks_contract; this is what only the stix sink does.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import stix2
from nats.js import JetStreamContext

from adapters.delivery import Delivery
from hub.policy.model import ViewSpec
from schemas.receipts import ReceiptStatus
from schemas.registry import REGISTRY
from schemas.subjects import (
    HDR_AGREEMENT,
    HDR_COUNTERSIGNATURE,
    HDR_MSG_ID,
    HDR_ORIGINAL_DIGEST,
    HDR_RECIPIENT,
    HDR_SIGNATURE,
    HDR_VIEW,
)
from schemas.testing import TestDirectory, make_directory
from tests.adapters.stixkit import delivery_of, errors_of, validate
from tests.integration.sinkkit import read_receipts, system_runner

pytestmark = pytest.mark.integration


async def publish(js: JetStreamContext, delivery: Delivery) -> None:
    """Publish ``delivery`` on DELIVERY with the headers the hub sets."""
    headers = {
        HDR_MSG_ID: f"{delivery.message_id}:{delivery.recipient}",
        HDR_VIEW: delivery.view,
        HDR_AGREEMENT: delivery.agreement or "",
        HDR_RECIPIENT: delivery.recipient,
        HDR_ORIGINAL_DIGEST: delivery.original_digest,
        HDR_SIGNATURE: delivery.signature,
    }
    if delivery.countersignature is not None:
        headers[HDR_COUNTERSIGNATURE] = delivery.countersignature
    await js.publish(delivery.subject, delivery.body, headers=headers)


async def test_seizures_become_receipted_stix_bundles(js: JetStreamContext, tmp_path: Path) -> None:
    td: TestDirectory = make_directory(parties=("GT", "SV"), themes=("narcotics",))
    seizure = REGISTRY.spec("seizure", 1)
    evaluation = {"reliability": "A", "credibility": 1}
    full = delivery_of(td, seizure, evaluation=evaluation, handling="amber")
    view = delivery_of(td, seizure, ViewSpec(name="no-persons", drop=("payload.persons",)))
    for delivery in (full, view):
        await publish(js, delivery)

    runner = system_runner(js, td, tmp_path, "GT", "stix", {"path": "stix"})
    await runner.start()
    assert await runner.drain() == 2
    await runner.stop()

    receipts = await read_receipts(js, td)
    assert [(r.message_id, r.status, r.sink) for r in receipts] == [
        (full.message_id, ReceiptStatus.DELIVERED, "stix"),
        (view.message_id, ReceiptStatus.DELIVERED, "stix"),
    ]
    assert [r.view for r in receipts] == ["full", "no-persons"]
    for delivery, receipt in zip((full, view), receipts, strict=True):
        data = (tmp_path / "stix" / f"{delivery.message_id}.stix.json").read_bytes()
        stix2.parse(data.decode(), allow_custom=True)
        assert errors_of(validate(data)) == []
        objects = json.loads(data)["objects"]
        [report] = [o for o in objects if o["type"] == "report"]
        refs = {r["source_name"]: r["hashes"]["SHA-256"] for r in report["external_references"]}
        assert f"sha256:{refs['enlace-delivery']}" == receipt.digest  # what was receipted
        individuals = [o for o in objects if o.get("identity_class") == "individual"]
        assert len(individuals) == (1 if delivery is full else 0)
