"""The audit log names itself (``enlace.<deployment id>``, the key named alike, C2SP), and a
log written before logs named themselves (origin ``hub``, key ``hub-k1``) still verifies
and goes on under its own name."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import nats
import pytest
from click.testing import CliRunner
from nats.js import JetStreamContext

from hub.audit import CheckpointSigner, kinds
from hub.audit.checkpoint import Checkpoint
from hub.audit.export import write_export
from hub.audit.reader import AuditReader
from hub.audit.writer import log_name
from hub.cli import cli
from hub.config import load_settings
from hub.deployment import Deployment
from hub.governance import load_governance, load_signer
from hub.server.process import NatsServer
from tests.integration.auditkit import open_audit_writer


@pytest.fixture
async def js(server: NatsServer) -> AsyncIterator[JetStreamContext]:
    nc = await nats.connect(server.url)
    yield nc.jetstream()
    await nc.close()


async def _write(js: JetStreamContext, signer: CheckpointSigner, origin: str, n: int) -> None:
    writer = await open_audit_writer(js, signer, origin, checkpoint_every=2)
    await writer.append([kinds.hub_event("start", "hub") for _ in range(n)])
    await writer.close()  # a final checkpoint


def _verify(demo: Deployment, export: Path) -> dict[str, object]:
    """``enlace audit verify`` of an export, with the hub keys of the demo's directory."""
    out = CliRunner().invoke(
        cli,
        ["--home", str(demo.home), "audit", "verify", "--from-export", str(export), "--json"],
    )
    report: dict[str, object] = json.loads(out.output)
    assert (out.exit_code == 0) == report["ok"]
    return report


async def _export(js: JetStreamContext, path: Path, extra: tuple[str, ...] = ()) -> Path:
    reader = AuditReader(js)
    notes = [*await reader.checkpoints(), *extra]
    write_export(path, None, await reader.read_all(), notes)
    return path


async def test_a_new_log_is_named_after_the_deployment_and_its_key_alike(
    demo: Deployment, js: JetStreamContext, tmp_path: Path
) -> None:
    settings = load_settings(demo.home)
    assert settings.deployment_id  # enlace init wrote one
    origin = await log_name(js, settings.deployment_id, "hub")
    assert origin == f"enlace.{settings.deployment_id}"
    key = load_signer(demo, load_governance(demo)).key
    await _write(js, CheckpointSigner(key, origin), origin, 5)
    notes = await AuditReader(js).checkpoints()
    assert notes and all(n.startswith(f"{origin}\n") for n in notes)
    assert all(f"\n— {origin} " in n for n in notes)  # the key signs under the log's name
    report = _verify(demo, await _export(js, tmp_path / "new.jsonl"))
    assert report["ok"] and report["origin"] == origin and report["covered"] == 5


async def test_a_log_written_the_old_way_verifies_and_keeps_its_name(
    demo: Deployment, js: JetStreamContext, tmp_path: Path
) -> None:
    key = load_signer(demo, load_governance(demo)).key
    await _write(js, CheckpointSigner(key, "hub-k1"), "hub", 3)  # as before: origin hub
    assert _verify(demo, await _export(js, tmp_path / "old.jsonl"))["ok"]
    origin = await log_name(js, "abc123", "hub")
    assert origin == "hub"  # a log never renames itself
    await _write(js, CheckpointSigner(key, origin), origin, 3)
    notes = await AuditReader(js).checkpoints()
    assert any("\n— hub-k1 " in n for n in notes) and any("\n— hub " in n for n in notes)
    report = _verify(demo, await _export(js, tmp_path / "both.jsonl"))
    assert report["ok"] and report["size"] == report["covered"] == 6

    # The hub's key under any other name, or naming another log, is not this log's.
    last = await AuditReader(js).latest_checkpoint()
    assert last is not None
    cp = Checkpoint.parse_body(last.split("\n\n", 1)[0] + "\n")
    for signer, name in (
        (CheckpointSigner(key, "someone"), "hub"),
        (CheckpointSigner(key, "x"), "x"),
    ):
        forged = signer.sign(Checkpoint(name, cp.size, cp.root, datetime.now(UTC)))
        bad = await _export(js, tmp_path / f"bad-{name}.jsonl", (forged,))
        assert not _verify(demo, bad)["ok"]
