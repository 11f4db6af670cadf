"""Sources against a real nats-server: what reaches INGRESS_GT is signed by the POC's key."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext

from adapters.client import EnlaceClient
from adapters.sources.folder_watch import FolderWatcher
from adapters.sources.gateway import TokenStore, create_gateway_app
from adapters.sources.prepare import ClientPublisher
from hub.governance import Governance, HubSigner
from hub.server.process import NatsServer
from schemas.envelope import parse_envelope
from schemas.govdoc import rfc3339
from schemas.subjects import HDR_MSG_ID, HDR_SIGNATURE, ingress_stream
from tests.adapters.gatewaykit import SourceSetup, gang_message, source_setup
from tests.hub.policy.helpers import agreement, status, statuses
from tests.integration.hubkit import ensure, hub_running

pytestmark = pytest.mark.integration
INGRESS_GT = ingress_stream("GT")  # no hub runs: what GT's sources publish stays there


@pytest.fixture
async def js(nc: NatsClient) -> AsyncIterator[JetStreamContext]:
    js = await ensure(nc)  # the hub's streams
    await js.purge_stream(INGRESS_GT)  # GT's own, empty (deleting and re-creating can fail)
    yield js


async def ingress(js: JetStreamContext, setup: SourceSetup) -> list[tuple[str, dict[str, object]]]:
    """(subject, message) of everything on GT's ingress stream, each signature checked."""
    info = await js.stream_info(INGRESS_GT)
    out = []
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        if not info.state.messages:
            break
        msg = await js.get_msg(INGRESS_GT, seq)
        assert msg.data is not None and msg.headers is not None and msg.subject is not None
        envelope = parse_envelope(msg.data)
        setup.td.directory.verify_message(msg.data, msg.headers[HDR_SIGNATURE], envelope)
        assert msg.headers[HDR_MSG_ID] == envelope.id
        out.append((msg.subject, json.loads(msg.data)))
    return out


async def test_gateway_publishes_signed_message(
    tmp_path: Path, nc: NatsClient, js: JetStreamContext
) -> None:
    setup = source_setup(tmp_path)
    tokens = TokenStore(tmp_path / "tokens.json")
    token = tokens.issue(setup.poc)
    app = create_gateway_app(
        lambda: setup.td.directory,
        tokens,
        setup.keys_dir,
        lambda: ClientPublisher(EnlaceClient(nc)),
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        response = await client.post(
            "/v1/messages",
            content=json.dumps(gang_message()).encode(),
            headers={"Authorization": f"Bearer {token}"},
        )
        again = await client.post(
            "/v1/messages",
            content=json.dumps(gang_message(id=response.json()["id"])).encode(),
            headers={"Authorization": f"Bearer {token}"},
        )
    assert response.status_code == 202
    [(subject, message)] = await ingress(js, setup)
    assert subject == "enlace.in.GT.gangs.gang_movement"
    assert message["id"] == response.json()["id"]
    # The same id again is JetStream-deduplicated, and said so.
    assert (again.status_code, again.json()["status"]) == (202, "duplicate")


async def test_watched_folder_sends_and_refuses(
    tmp_path: Path, nc: NatsClient, js: JetStreamContext
) -> None:
    setup = source_setup(tmp_path)
    folder = tmp_path / "outbox"
    folder.mkdir()
    (folder / "a.json").write_text(json.dumps(gang_message()))
    (folder / "b.json").write_text("{not json")
    bad_schema = gang_message()
    bad_schema["payload"]["movement"] = "teleporting"
    (folder / "c.json").write_text(json.dumps(bad_schema))
    (folder / ".d.json.tmp").write_text("half written")
    watcher = FolderWatcher(
        folder,
        setup.poc,
        lambda: setup.td.directory,
        setup.keys_dir,
        ClientPublisher(EnlaceClient(nc)),
    )
    result = await watcher.scan()

    assert result.sent == ["a.json"]
    assert result.failed == [("b.json", "malformed_json"), ("c.json", "schema_invalid")]
    assert sorted(p.name for p in folder.iterdir() if p.is_file()) == [".d.json.tmp"]
    assert (folder / "failed" / "b.json.reason").read_text().startswith("malformed_json: ")
    [(_, message)] = await ingress(js, setup)
    sent = (folder / "sent" / "a.json").read_bytes()
    assert json.loads(sent) == message
    setup.td.directory.verify_message(
        sent, (folder / "sent" / "a.json.jws").read_text(), parse_envelope(sent)
    )


async def test_watched_folder_waits_for_the_hubs_verdict(
    tmp_path: Path, nc: NatsClient, nats_server: NatsServer
) -> None:
    await ensure(nc)
    setup = source_setup(tmp_path)
    gt_to_sv = agreement(
        "gt-sv", ["gangs"], ["gang_movement"], [{"from": ["GT"], "to": ["SV"]}], ("GT", "SV", "US")
    )
    gov = Governance(directory=setup.td.directory, agreements=statuses(status(gt_to_sv)))
    hub_signer = HubSigner(setup.td.keys[setup.td.hub_kid], setup.td.hub_kid)
    folder = tmp_path / "outbox"
    folder.mkdir()
    (folder / "fresh.json").write_text(json.dumps(gang_message()))
    stale = gang_message(issued_at=rfc3339(datetime.now(UTC) - timedelta(days=3)))
    (folder / "stale.json").write_text(json.dumps(stale))
    (folder / "red.json").write_text(json.dumps(gang_message(handling="red")))
    (folder / "to-us.json").write_text(json.dumps(gang_message(to=["US"])))
    watcher = FolderWatcher(
        folder,
        setup.poc,
        lambda: setup.td.directory,
        setup.keys_dir,
        ClientPublisher(EnlaceClient(nc), wait=True, wait_seconds=20),
    )
    async with hub_running(nats_server.url, gov, hub_signer):
        result = await watcher.scan()

    assert result.sent == ["fresh.json"]  # delivered to SV
    [(name, reason)] = result.failed
    assert name == "stale.json"
    assert (folder / "failed" / "stale.json.reason").read_text().startswith(f"{reason}: ")
    assert reason == "too_old"  # the hub's own reason code, not a generic one
    # Accepted but delivered to nobody: not sent/, but undelivered/ with each party's reason.
    assert result.undelivered == [
        ("red.json", [("SV", "tlp_red_not_in_to"), ("US", "tlp_red_not_in_to")]),
        ("to-us.json", [("US", "no_agreement"), ("SV", "not_in_to")]),
    ]
    assert sorted(p.name for p in (folder / "undelivered").iterdir()) == [
        "red.json", "red.json.jws", "red.json.reason",
        "to-us.json", "to-us.json.jws", "to-us.json.reason",
    ]  # fmt: skip
    why, *parties = (folder / "undelivered" / "red.json.reason").read_text().splitlines()
    assert why.startswith("undeliverable: message ") and "TLP:RED goes only" in why
    assert [line.split(": ")[:2] for line in parties] == [
        ["SV", "tlp_red_not_in_to"],
        ["US", "tlp_red_not_in_to"],
    ]
    assert sorted(p.name for p in (folder / "sent").iterdir()) == ["fresh.json", "fresh.json.jws"]
