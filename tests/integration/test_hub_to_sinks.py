"""The real hub's deliveries, through the real sink runners: the wire contract holds.

GT publishes a gang movement; the hub routes a full view to SV and a redacted view to US
(see :mod:`tests.integration.hubkit`). SV's JSON Lines sink and US's folder sink verify
and write them, and each country's receipt verifies against its party key.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from nats.aio.client import Client as NatsClient

from hub.server.process import NatsServer
from schemas.countersign import sha256_digest
from schemas.receipts import ReceiptStatus, verify_receipt
from schemas.subjects import HDR_SIGNATURE
from tests.integration.hubkit import (
    Collector,
    ensure,
    governance,
    hub_running,
    publish_signed,
    signed_message,
)
from tests.integration.sinkkit import system_runner

pytestmark = pytest.mark.integration


async def test_hub_deliveries_are_written_with_receipts(
    nc: NatsClient, nats_server: NatsServer, tmp_path: Path
) -> None:
    js = await ensure(nc)
    td, gov, signer = governance()
    receipts = Collector()
    await nc.subscribe("enlace.receipt.*", cb=receipts.handler)
    message, raw, jws = signed_message(td)
    async with hub_running(nats_server.url, gov, signer, {"SV": ["jsonl"], "US": ["folder"]}):
        await publish_signed(js, message, raw, jws)
        runners = []
        for cc, sink, options in [
            ("SV", "jsonl", {"path": "sv.jsonl"}),
            ("US", "folder", {"path": "us"}),
        ]:
            runner = system_runner(js, td, tmp_path, cc, sink, options)
            await runner.start()
            runners.append(runner)
        for runner in runners:
            while await runner.run_once() == 0:
                pass  # until the hub's delivery has arrived (pytest-timeout bounds it)
            await runner.stop()
        await receipts.wait(2)

    [line] = (tmp_path / "sv.jsonl").read_bytes().splitlines()
    assert json.loads(line)["raw"].encode() == raw  # SV: the very bytes GT signed
    us_view = json.loads((tmp_path / "us" / f"{message['id']}.json").read_bytes())
    assert "persons" not in us_view["payload"]  # US: the redacted view
    got = {}
    for msg in receipts.msgs:
        receipt = verify_receipt(td.directory, msg.data, (msg.headers or {})[HDR_SIGNATURE])
        got[receipt.recipient] = receipt
    assert set(got) == {"SV", "US"}
    assert all(r.status is ReceiptStatus.DELIVERED for r in got.values())
    assert got["SV"].digest == sha256_digest(raw)
    assert got["US"].view == "no-persons"
