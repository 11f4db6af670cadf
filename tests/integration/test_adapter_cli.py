"""`enlace adapter run/status/replay-dead-letters` on a real deployment made by `enlace init`.

The runner is started as the real command in a subprocess (as `enlace up` starts it),
delivers a hub-countersigned view into a folder sink, and stops cleanly on SIGTERM.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext

from hub.admin.init import init_deployment
from hub.cli import cli
from hub.deployment import Deployment
from hub.server.process import NatsServer
from schemas.countersign import countersign_view, sha256_digest
from schemas.jws import load_private_key
from schemas.receipts import ReceiptStatus
from schemas.subjects import (
    HDR_COUNTERSIGNATURE,
    HDR_MSG_ID,
    HDR_ORIGINAL_DIGEST,
    HDR_RECIPIENT,
    HDR_SIGNATURE,
    HDR_VIEW,
)
from schemas.trust import accept_directory
from tests.integration.sinkkit import fresh_streams, read_receipts

pytestmark = pytest.mark.integration


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    init_deployment(Deployment(home), ["GT", "SV"])
    with (home / "enlace.yaml").open("a") as fh:
        fh.write("adapters:\n  GT: {sink: folder, path: inbox/GT}\n")
    return home


async def publish_view(js: JetStreamContext, home: Path, message_id: str, tamper: bool) -> None:
    """A redacted view as the hub publishes it, countersigned with the deployment's hub key."""
    hub_key = load_private_key((home / "keys" / "hub" / "hub-k1.pem").read_bytes())
    body = json.dumps({"id": message_id, "type": "gang_movement", "payload": {}}).encode()
    original = sha256_digest(b"the original, which GT does not see")
    cs = countersign_view(message_id, original, "GT", "minimal", body, hub_key, "hub-k1")
    headers = {
        HDR_MSG_ID: f"{message_id}:GT",
        HDR_VIEW: "minimal",
        HDR_RECIPIENT: "GT",
        HDR_ORIGINAL_DIGEST: original,
        HDR_SIGNATURE: "eyJhbGciOiJFZERTQSJ9..c2ln",  # the sender's, over the original
        HDR_COUNTERSIGNATURE: cs,
    }
    sent = body.replace(b"{}", b'{"x": 1}') if tamper else body
    await js.publish("enlace.out.GT.gangs.gang_movement", sent, headers=headers)


def enlace(home: Path, url: str, *args: str) -> tuple[int, str]:
    """Run a command as a user would (in a thread: it runs its own event loop)."""
    result = CliRunner().invoke(cli, ["--home", str(home), *args, "--nats-url", url])
    return result.exit_code, result.output


async def test_run_status_and_replay(home: Path, nc: NatsClient, nats_server: NatsServer) -> None:
    js = nc.jetstream()
    await fresh_streams(js)
    directory = accept_directory(Deployment(home))
    ok_id, bad_id = "01JD00000000000000000000AA", "01JD00000000000000000000BB"
    await publish_view(js, home, ok_id, tamper=False)
    await publish_view(js, home, bad_id, tamper=True)

    proc = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "enlace"), "--home", str(home), "adapter", "run",
        "--all", "--nats-url", nats_server.url,
    )  # fmt: skip
    try:
        for _ in range(300):  # until both receipts are in (or the test times out)
            if len(await read_receipts(js, directory)) >= 2:
                break
            await asyncio.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 20) == 0

    assert (home / "inbox" / "GT" / f"{ok_id}.json").is_file()
    assert not (home / "inbox" / "GT" / f"{bad_id}.json").exists()

    code, output = await asyncio.to_thread(
        enlace, home, nats_server.url, "adapter", "status", "--json"
    )
    assert code == 0, output
    [row] = json.loads(output)
    assert (row["country"], row["sink"], row["lag"], row["dead_letters"]) == ("GT", "folder", 0, 1)

    code, output = await asyncio.to_thread(
        enlace, home, nats_server.url, "adapter", "replay-dead-letters", "--country", "GT"
    )
    assert code == 1  # the tampered one fails again and stays
    assert "bad_signature" in output and "0 of 1" in output

    # GT's receipts are signed with the system key `enlace init` made for it.
    receipts = await read_receipts(js, directory)
    assert [(r.message_id, r.status) for r in receipts] == [
        (ok_id, ReceiptStatus.DELIVERED),
        (bad_id, ReceiptStatus.DEAD_LETTERED),
    ]


def test_list_shows_what_enlace_up_starts(home: Path) -> None:
    result = CliRunner().invoke(cli, ["--home", str(home), "adapter", "list", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == [
        {
            "country": "GT",
            "sink": "folder",
            "name": "folder",
            "argv": ["enlace", "adapter", "run", "--country", "GT", "--sink", "folder"],
        }
    ]
    result = CliRunner().invoke(cli, ["--home", str(home), "adapter", "run"])
    assert result.exit_code == 2
    assert "--country CC" in result.output


def test_asyncapi_lists_each_sink_of_the_app(home: Path) -> None:
    with (home / "enlace.yaml").open("a") as fh:
        fh.write(
            "  SV:\n    - {sink: jsonl, path: inbox/SV.jsonl}\n    - {sink: folder, path: x}\n"
        )
    result = CliRunner().invoke(cli, ["--home", str(home), "adapter", "asyncapi", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["asyncapi"].startswith("3.")
    operations = doc["operations"]
    assert sorted(operations) == ["GT/folder", "SV/folder", "SV/jsonl"]
    assert {op["action"] for op in operations.values()} == {"receive"}
    addresses = {name: doc["channels"][name]["address"] for name in doc["channels"]}
    assert addresses == {
        "GT.folder": "enlace.out.GT.>",
        "SV.folder": "enlace.out.SV.>",
        "SV.jsonl": "enlace.out.SV.>",
    }
    # One country's document has that country's sinks only; YAML unless --json.
    only = CliRunner().invoke(cli, ["--home", str(home), "adapter", "asyncapi", "--country", "sv"])
    assert only.exit_code == 0, only.output
    assert "SV/jsonl" in only.output and "GT/folder" not in only.output
    assert only.output.startswith("info:")
    none = CliRunner().invoke(cli, ["--home", str(home), "adapter", "asyncapi", "--country", "US"])
    assert none.exit_code == 1 and "US has no sinks" in none.output


async def test_one_process_runs_every_sink_of_a_country(
    tmp_path: Path, nc: NatsClient, nats_server: NatsServer
) -> None:
    home = tmp_path / "home"
    init_deployment(Deployment(home), ["GT", "SV"])
    with (home / "enlace.yaml").open("a") as fh:
        fh.write(
            "adapters:\n  GT:\n    - {sink: folder, path: inbox/GT}\n"
            "    - {sink: jsonl, path: inbox/GT.jsonl}\n"
        )
    js = nc.jetstream()
    await fresh_streams(js)
    ids = ["01JD00000000000000000000CC", "01JD00000000000000000000DD"]
    for message_id in ids:
        await publish_view(js, home, message_id, tamper=False)

    # `--country GT` alone: both of GT's sinks, one process (it used to ask for --sink).
    proc = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "enlace"), "--home", str(home), "adapter", "run",
        "--country", "GT", "--nats-url", nats_server.url,
    )  # fmt: skip
    try:
        for _ in range(300):  # until both sinks' receipts are in (or the test times out)
            if (await js.stream_info("RECEIPTS")).state.messages >= 4:
                break
            await asyncio.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 20) == 0

    assert sorted(p.stem for p in (home / "inbox" / "GT").glob("*.json")) == ids
    lines = (home / "inbox" / "GT.jsonl").read_text().splitlines()
    assert [json.loads(line)["id"] for line in lines] == ids
    for sink in ("folder", "jsonl"):
        info = await js.consumer_info("DELIVERY", f"sink-GT-{sink}")
        assert (info.num_pending, info.num_ack_pending) == (0, 0)

    # A sink the country does not have is refused by name, before anything runs.
    code, output = await asyncio.to_thread(
        enlace, home, nats_server.url, "adapter", "run", "--country", "GT", "--sink", "ftp"
    )
    assert code != 0 and "ftp" in output
