"""``enlace publish`` and ``adapters.client`` against a running hub on the demo deployment."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.aio.msg import Msg

from adapters.client import EnlaceClient
from hub.app import HubApp
from hub.cli.exit_codes import ExitCode
from hub.deployment import Deployment
from hub.governance.keystore import KeyStore
from hub.server.process import NatsServer
from schemas.common import PARTIES, new_message_id
from schemas.jws import sign_detached
from schemas.subjects import HDR_MSG_ID, HDR_SIGNATURE
from schemas.trust import load_directory, load_trust_root
from tests.integration.conftest import start_nats_server
from tests.integration.demokit import demo_hub, run_enlace
from tests.integration.hubkit import stream_msgs

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    srv = start_nats_server(tmp_path_factory.mktemp("nats"))
    yield srv
    srv.stop()


@pytest.fixture
async def hub(demo: Deployment, server: NatsServer) -> AsyncIterator[HubApp]:
    async with demo_hub(demo, server.url) as app:
        yield app


async def run_cli(
    demo: Deployment, server: NatsServer, *args: str
) -> subprocess.CompletedProcess[str]:
    return await run_enlace(demo, server.url, "publish", *args)


async def test_publish_gang_movement_from_gt_reaches_every_other_party_in_full(
    demo: Deployment, server: NatsServer, hub: HubApp
) -> None:
    sample = demo.samples_dir / "gang_movement.json"
    done = await run_cli(demo, server, str(sample), "--poc", "gt-gangs", "--json")

    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == "accepted"
    got = {r["country"]: r["view"] for r in result["outcome"]["recipients"]}
    assert got == {cc: "full" for cc in PARTIES if cc != "GT"}
    nc = await nats.connect(server.url)
    try:
        deliveries = [
            m
            for m in await stream_msgs(nc.jetstream(), "DELIVERY", "enlace.out.>")
            if (m.headers or {})["Nats-Msg-Id"].startswith(result["message_id"] + ":")
        ]
    finally:
        await nc.close()
    assert sorted(m.subject.split(".")[2] for m in deliveries) == sorted(got)
    assert all(m.data == sample.read_bytes() for m in deliveries)


async def test_publish_unsigned_stdin_signs_with_the_pocs_key(
    demo: Deployment, server: NatsServer, hub: HubApp, tmp_path: Path
) -> None:
    message: dict[str, Any] = json.loads((demo.samples_dir / "gang_movement.json").read_bytes())
    message["id"] = "01" + message["id"][2:-4] + "ZZZZ"
    unsigned = tmp_path / "m.json"
    unsigned.write_text(json.dumps(message))
    done = await run_cli(demo, server, str(unsigned), "--poc", "gt-gangs")

    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"accepted {message['id']} → ")


async def test_the_poc_defaults_to_the_senders_and_must_match_when_given(
    demo: Deployment, server: NatsServer, hub: HubApp
) -> None:
    sample = demo.samples_dir / "border_alert.json"
    sender = json.loads(sample.read_bytes())["sender"]["poc"]
    wrong = await run_cli(demo, server, str(sample), "--poc", "gt-gangs")
    assert wrong.returncode == 1
    assert f"sender.poc is {sender!r}, not 'gt-gangs'" in wrong.stderr

    done = await run_cli(demo, server, str(sample))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("accepted ")


async def test_a_rejected_message_exits_3_with_its_reason(
    demo: Deployment, server: NatsServer, hub: HubApp, tmp_path: Path
) -> None:
    sample = demo.samples_dir / "gang_movement.json"
    tampered = tmp_path / "t.json"
    original = json.loads(sample.read_bytes())["id"].encode()
    tampered.write_bytes(
        sample.read_bytes().replace(original, original[:-4] + b"TTTT")  # another id
    )
    (tmp_path / "t.json.jws").write_text((demo.samples_dir / "gang_movement.json.jws").read_text())
    done = await run_cli(demo, server, str(tampered), "--poc", "gt-gangs")

    assert done.returncode == 3
    assert "bad_signature" in done.stdout


async def test_client_no_wait_returns_after_the_jetstream_ack(
    demo: Deployment, server: NatsServer, hub: HubApp
) -> None:
    raw = (demo.samples_dir / "disaster_alert.json").read_bytes()
    jws = (demo.samples_dir / "disaster_alert.json.jws").read_text().strip()
    nc = await nats.connect(server.url)
    try:
        client = EnlaceClient(nc)
        first = await client.publish(raw, jws, wait=False)
        again = await client.publish(raw, jws)
    finally:
        await nc.close()

    assert (first.status, first.stream_seq > 0) == ("published", True)
    assert again.duplicate  # JetStream de-duplicates the same id within its window


def _variant(demo: Deployment, tmp_path: Path, type_: str, **fields: Any) -> Path:
    """An unsigned copy of the demo's sample of ``type_`` with a fresh id and ``fields``."""
    message: dict[str, Any] = json.loads((demo.samples_dir / f"{type_}.json").read_bytes())
    message.update(id=new_message_id(), **fields)
    path = tmp_path / f"{type_}.json"
    path.write_text(json.dumps(message))
    return path


async def test_tlp_red_without_to_exits_9_saying_so_for_each_party(
    demo: Deployment, server: NatsServer, hub: HubApp, tmp_path: Path
) -> None:
    red = _variant(demo, tmp_path, "gang_movement", handling="red")
    done = await run_cli(demo, server, str(red))

    assert done.returncode == ExitCode.UNDELIVERABLE, done.stderr
    first, *parties = done.stdout.splitlines()
    assert first.endswith("accepted, but delivered to nobody")
    assert sorted(line.split(":")[0].strip() for line in parties) == [
        f"not to {cc}" for cc in sorted(PARTIES) if cc != "GT"
    ]
    assert all(": tlp_red_not_in_to: TLP:RED goes only" in line for line in parties)
    assert "no sharing agreement" not in done.stdout
    as_json = json.loads((await run_cli(demo, server, str(red), "--json")).stdout)
    assert as_json["status"] == "duplicate"  # JetStream's window: the same id again


async def test_a_reply_to_an_unknown_request_exits_9_with_unknown_request(
    demo: Deployment, server: NatsServer, hub: HubApp, tmp_path: Path
) -> None:
    reply = _variant(demo, tmp_path, "information_response", in_reply_to=new_message_id())
    done = await run_cli(demo, server, str(reply), "--json")

    assert done.returncode == ExitCode.UNDELIVERABLE, done.stderr
    outcome = json.loads(done.stdout)["outcome"]
    assert {r["reason"] for r in outcome["refused"]} == {"unknown_request"}
    assert len(outcome["refused"]) == len(PARTIES) - 1  # every party but the sender
    assert "a request the hub does not know" in outcome["description"]
    assert "no sharing agreement" not in outcome["description"]


async def test_a_duplicate_exits_10_whichever_record_caught_it(
    demo: Deployment, server: NatsServer, hub: HubApp, tmp_path: Path
) -> None:
    # Caught by JetStream: the same id within its de-duplication window.
    path = _variant(demo, tmp_path, "gang_movement")
    assert (await run_cli(demo, server, str(path))).returncode == ExitCode.OK
    again = await run_cli(demo, server, str(path))
    assert again.returncode == ExitCode.DUPLICATE, again.stdout + again.stderr
    assert again.stdout.startswith(f"duplicate {json.loads(path.read_bytes())['id']}: ")
    assert "JetStream already holds this id" in again.stdout

    # Caught by the hub's record of seen ids: JetStream saw another Nats-Msg-Id first (as
    # after its window), so only the hub knows the message id.
    later = _variant(demo, tmp_path, "border_alert")
    raw = later.read_bytes()
    message = json.loads(raw)
    directory = load_directory(demo.directory, load_trust_root(demo.trust_root))
    kid, key = KeyStore(demo.keys_dir).current_poc_key(directory, message["sender"]["poc"])
    jws = sign_detached(raw, key, kid)
    later.with_name(later.name + ".jws").write_text(jws)
    nc = await nats.connect(server.url)
    try:
        outcome: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

        async def on_outcome(msg: Msg) -> None:
            if json.loads(msg.data)["message_id"] == message["id"] and not outcome.done():
                outcome.set_result(msg.data)

        await nc.subscribe("enlace.outcome.GT.>", cb=on_outcome)
        subject = f"enlace.in.GT.{message['theme']}.{message['type']}"
        await nc.jetstream().publish(
            subject, raw, headers={HDR_SIGNATURE: jws, HDR_MSG_ID: "before-the-window"}
        )
        assert json.loads(await asyncio.wait_for(outcome, 30))["status"] == "accepted"
    finally:
        await nc.close()
    hub_caught = await run_cli(demo, server, str(later))
    assert hub_caught.returncode == ExitCode.DUPLICATE, hub_caught.stdout + hub_caught.stderr
    assert "published before, nothing was delivered again (the hub: " in hub_caught.stdout
