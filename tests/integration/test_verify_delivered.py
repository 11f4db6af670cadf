"""``enlace verify`` on what a sink wrote, from a real hub's deliveries of the demo.

GT's seizure sample reaches SV in the ``statistics`` view (the hub's countersignature
vouches for it); its gang movement sample in full (the sender's signature does). SV's
folder and jsonl sinks write them with the production runner; the recipient checks them
offline with the deployment's directory, as `enlace verify` does.
"""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import nats
import pytest
from click.testing import CliRunner

from adapters.base import SinkContext
from adapters.client import EnlaceClient
from adapters.config import RetrySettings
from adapters.deployment import AdapterHome, DirectoryFile
from adapters.keys import party_signer
from adapters.registry import build_sink
from adapters.runner import RunnerSettings, SinkRunner
from hub.app import HubApp
from hub.cli import cli
from hub.cli.exit_codes import ExitCode
from hub.deployment import Deployment
from hub.governance.keystore import KeyStore
from hub.jetstream.consumers import ensure_sink_consumers
from hub.server.process import NatsServer
from schemas.common import new_message_id
from schemas.govdoc import rfc3339
from schemas.jws import sign_detached
from schemas.trust import load_directory, load_trust_root
from tests.hub.governance_fixtures import run
from tests.integration.demokit import demo_hub

pytestmark = pytest.mark.integration


@pytest.fixture
async def hub(demo: Deployment, nats_server: NatsServer) -> AsyncIterator[HubApp]:
    async with demo_hub(demo, nats_server.url) as app:
        yield app


def _fresh_sample(demo: Deployment, type_: str) -> tuple[bytes, str]:
    """The demo's sample of ``type_`` with a new id and time, signed by its sender."""
    message = json.loads((demo.samples_dir / f"{type_}.json").read_bytes())
    message.update(id=new_message_id(), issued_at=rfc3339(datetime.now(UTC)))
    raw = json.dumps(message).encode()
    directory = load_directory(demo.directory, load_trust_root(demo.trust_root))
    kid, key = KeyStore(demo.keys_dir).current_poc_key(directory, message["sender"]["poc"])
    return raw, sign_detached(raw, key, kid)


async def _written_by_sv(
    demo: Deployment, nats_server: NatsServer, out: Path
) -> tuple[dict[str, str], Path]:
    """Publish GT's seizure and gang movement samples, run SV's folder and jsonl sinks;
    returns {type: message id} and the folder sink's inbox (the jsonl file is beside it)."""
    nc = await nats.connect(nats_server.url)
    try:
        js = nc.jetstream()
        await ensure_sink_consumers(js, {"SV": ["folder", "jsonl"]})
        ids = {}
        for type_ in ("seizure", "gang_movement"):
            raw, jws = _fresh_sample(demo, type_)
            result = await EnlaceClient(nc).publish(raw, jws)
            assert result.status == "accepted", result.outcome
            ids[type_] = result.message_id
        directory = DirectoryFile(AdapterHome(demo.home))
        context = SinkContext(country="SV", state_dir=out / "state", base_dir=out)
        signer = party_signer(directory(), demo.keys_dir, "SV")
        for sink, options in (("folder", {"path": "inbox"}), ("jsonl", {"path": "sv.jsonl"})):
            runner = SinkRunner(
                js,
                build_sink(sink, options, context),
                directory,
                signer,
                RunnerSettings("SV", sink, RetrySettings(), fetch_timeout=1.0),
                rng=random.Random(3),
            )
            await runner.start()
            assert await runner.drain() == 2
            await runner.stop()
    finally:
        await nc.close()
    return ids, out / "inbox"


async def test_verify_says_which_signature_vouches_for_each_view(
    demo: Deployment, nats_server: NatsServer, hub: HubApp, tmp_path: Path
) -> None:
    ids, inbox = await _written_by_sv(demo, nats_server, tmp_path)
    view = inbox / f"{ids['seizure']}.json"
    full = inbox / f"{ids['gang_movement']}.json"

    redacted = run(demo.home, "verify", str(view))
    assert redacted.exit_code == ExitCode.OK, redacted.output
    assert redacted.output.startswith(
        f"valid: delivery {ids['seizure']} for SV, view statistics: the hub's "
        "countersignature, with hub-k"
    )
    assert "over the view's digest sha256:" in redacted.output
    whole = run(demo.home, "verify", str(full), "--json")
    assert whole.exit_code == ExitCode.OK, whole.output
    checked = json.loads(whole.stdout)
    assert (checked["valid"], checked["checked"], checked["signer"]) == (
        True,
        "signature",
        "gt-gangs",
    )
    assert checked["view"] == "full"


async def test_verify_checks_every_record_of_a_jsonl_sink_and_records_on_stdin(
    demo: Deployment, nats_server: NatsServer, hub: HubApp, tmp_path: Path
) -> None:
    ids, _ = await _written_by_sv(demo, nats_server, tmp_path)
    jsonl = tmp_path / "sv.jsonl"

    result = run(demo.home, "verify", str(jsonl), "--json")
    assert result.exit_code == ExitCode.OK, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert {(c["id"], c["checked"]) for c in lines} == {
        (ids["seizure"], "countersignature"),
        (ids["gang_movement"], "signature"),
    }
    # Records on standard input: what `psql -Atc 'SELECT row_to_json(t) …'` prints.
    stdin = CliRunner().invoke(
        cli, ["--home", str(demo.home), "verify", "-"], input=jsonl.read_text()
    )
    assert stdin.exit_code == ExitCode.OK, stdin.output
    assert len(stdin.output.splitlines()) == 2


async def test_a_changed_delivery_does_not_verify(
    demo: Deployment, nats_server: NatsServer, hub: HubApp, tmp_path: Path
) -> None:
    ids, inbox = await _written_by_sv(demo, nats_server, tmp_path)
    view = inbox / f"{ids['seizure']}.json"
    original = view.read_bytes()

    view.write_bytes(original.replace(b'"seized_at"', b' "seized_at"', 1))
    changed = run(demo.home, "verify", str(view))
    assert changed.exit_code == ExitCode.FAILED
    assert "digest_mismatch" in changed.output

    # A careful forger fixes the digest in .meta too: the hub's countersignature refuses.
    meta_path = view.with_name(view.name + ".meta")
    meta = json.loads(meta_path.read_text())
    meta["digest"] = None
    meta_path.write_text(json.dumps(meta))
    forged = run(demo.home, "verify", str(view), "--json")
    assert forged.exit_code == ExitCode.FAILED
    assert json.loads(forged.stdout)["code"] == "bad_signature"

    # The hub's countersignature is not a signature over the file: read as a plain
    # message (no .meta), the view is refused, never taken for the sender's bytes.
    meta_path.unlink()
    view.write_bytes(original)
    plain = run(demo.home, "verify", str(view), "--json")
    assert plain.exit_code == ExitCode.FAILED
    assert json.loads(plain.stdout)["code"] == "bad_signature"
