"""Every party a witness, on real nats-servers: checkpoints get cosigned by the parties'
system keys, `enlace audit verify` counts them, and a forked or rolled back log is refused."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import nats
import nats.errors
import pytest
from click.testing import CliRunner, Result
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg

from adapters.witness import Witness, open_witness, witness_once
from hub.audit import AuditEntry, AuditReader, AuditWriter, CheckpointSigner, kinds
from hub.audit.witness import serve_witnesses, witness_report
from hub.cli import cli
from hub.console.i18n import LANG_COOKIE
from hub.deployment import Deployment
from hub.governance.keystore import load_key_file
from hub.server.process import NatsServer
from schemas.countersign import sha256_digest
from schemas.subjects import witness_request_subject
from schemas.tlog import ANSWER_ERROR
from schemas.trust import load_directory, load_trust_root
from tests.integration.auditkit import open_audit_writer
from tests.integration.conftest import start_nats_server
from tests.integration.consolekit import log_in, serve_console

pytestmark = pytest.mark.integration

PARTIES = ("GT", "HN", "SV")


def _entry(n: int, fork: bool = False) -> AuditEntry:
    reason = "bad_signature" if fork else "malformed_json"
    return kinds.rejected(None, "GT", reason, sha256_digest(str(n).encode()), n)


def _signer(demo: Deployment, origin: str) -> CheckpointSigner:
    return CheckpointSigner(load_key_file(demo.home / "keys" / "hub" / "hub-k1.pem"), origin)


async def _append(writer: AuditWriter, start: int, stop: int, fork: bool = False) -> str:
    for n in range(start, stop):
        await writer.append([_entry(n, fork)])
    return await writer.checkpoint()


async def _enlace(args: list[str]) -> Result:
    """The CLI in a thread: its commands run their own event loop."""
    return await asyncio.to_thread(CliRunner().invoke, cli, args)


@pytest.fixture
async def hub_nc(server: NatsServer) -> AsyncIterator[NatsClient]:
    client = await nats.connect(server.url)
    yield client
    await client.drain()


def _party_keys(demo: Deployment) -> dict[str, list[Ed25519PublicKey]]:
    directory = load_directory(demo.directory, load_trust_root(demo.trust_root))
    return {p.code: [k.public_key for k in p.keys] for p in directory.parties}


async def test_parties_cosign_each_checkpoint_and_verify_counts_them(
    demo: Deployment, server: NatsServer, hub_nc: NatsClient, tmp_path: Path
) -> None:
    origin = "enlace.witness-test"
    writer = await open_audit_writer(hub_nc.jetstream(), _signer(demo, origin), origin)
    await serve_witnesses(hub_nc)
    witnesses = {cc: open_witness(demo.home, cc) for cc in PARTIES}
    for w in witnesses.values():  # each test starts from nothing cosigned
        w.state_file = tmp_path / f"{w.country}.checkpoint"
    said: set[str] = set()

    # Nothing signed yet: nothing to witness.
    assert (await witness_once(hub_nc, witnesses["GT"], said)).status == "nothing"
    await _append(writer, 0, 7)
    for w in witnesses.values():
        outcome = await witness_once(hub_nc, w, said)
        assert (outcome.status, outcome.size) == ("cosigned", 7)
    assert (await witness_once(hub_nc, witnesses["GT"], said)).status == "unchanged"

    latest = await _append(writer, 7, 19)  # the witnesses check the proof from 7 to 19
    for cc in ("GT", "HN"):
        outcome = await witness_once(hub_nc, witnesses[cc], said)
        assert (outcome.status, outcome.size) == ("cosigned", 19)
    reader = AuditReader(hub_nc.jetstream())
    report = witness_report(latest, await reader.witness_records(), _party_keys(demo))
    assert report.size == 19 and report.witnesses == ["GT", "HN"]
    assert report.latest_cosigned == {"GT": 19, "HN": 19, "SV": 7}
    await writer.close()

    # `enlace audit verify` reports them (from an export of the live log, checked offline
    # with the demo directory's hub and party keys).
    export = tmp_path / "audit.jsonl"
    out = await _enlace(["audit", "export", str(export), "--nats-url", server.url])
    assert out.exit_code == 0, out.output
    home = ["--home", str(demo.home)]
    out = await _enlace([*home, "audit", "verify", "--from-export", str(export)])
    assert out.exit_code == 0, out.output
    assert (
        "witnesses: 2 of 9 parties cosigned the latest checkpoint (size 19): GT, HN" in out.output
    )
    out = await _enlace([*home, "audit", "verify", "--from-export", str(export), "--json"])
    data = json.loads(out.output)
    assert data["witnesses"]["count"] == 2 and data["witnesses"]["parties"] == ["GT", "HN"]

    # The console's integrity page says it, in English and Spanish.
    async with (
        serve_console(demo.home, server.url) as url,
        httpx.AsyncClient(base_url=url, timeout=60) as client,
    ):
        await log_in(client)
        page = (await client.get("/integrity")).text
        assert '<span class="count">2</span> of <span class="of">9</span> parties' in page
        assert '<span class="who">GT, HN</span>' in page
        client.cookies.set(LANG_COOKIE, "es")
        page = (await client.get("/integrity")).text
        assert "Testigos" in page and "partes cofirmaron el último punto de control" in page

    # A cosignature stored by a party with another key does not count (nor does SV's old one).
    hub_key = load_key_file(demo.home / "keys" / "hub" / "hub-k1.pem")
    forged = Witness("SV", hub_key, lambda: {"hub-k1": hub_key.public_key()}, tmp_path / "f")
    await witness_once(hub_nc, forged, set())
    report = witness_report(latest, await reader.witness_records(), _party_keys(demo))
    assert report.witnesses == ["GT", "HN"] and report.forged == ["SV"]


async def test_a_rolled_back_or_forked_log_is_refused_by_the_witness(
    demo: Deployment, server: NatsServer, hub_nc: NatsClient, tmp_path: Path
) -> None:
    origin = "enlace.witness-fork"
    signer = _signer(demo, origin)
    honest = await open_audit_writer(hub_nc.jetstream(), signer, origin)
    await serve_witnesses(hub_nc)
    witness = open_witness(demo.home, "GT")
    witness.state_file = tmp_path / "GT.checkpoint"
    await _append(honest, 0, 30)
    assert (await witness_once(hub_nc, witness, set())).status == "cosigned"
    assert witness.kept_size() == 30
    await honest.close()

    # The same hub key, the same log name, on another server: a log rolled back to 12
    # entries, then grown again with other entries: a fork of what GT cosigned.
    other = start_nats_server(tmp_path / "nats-forked")
    try:
        nc = await nats.connect(other.url)
        forked = await open_audit_writer(nc.jetstream(), signer, origin)
        await serve_witnesses(nc)
        await _append(forked, 0, 12)
        outcome = await witness_once(nc, witness, set())
        assert (outcome.status, outcome.reason) == ("refused", "witness_rollback")
        await _append(forked, 12, 40, fork=True)
        outcome = await witness_once(nc, witness, set())
        assert (outcome.status, outcome.reason, outcome.size) == ("refused", "witness_fork", 40)
        assert witness.kept_size() == 30  # what it cosigned stays

        # It said so where everyone can see it: both refusals, with the evidence.
        records = await AuditReader(nc.jetstream()).witness_records()
        refusals = [json.loads(r.data) for r in records if r.kind == "refused"]
        assert [r["reason"] for r in refusals] == ["witness_rollback", "witness_fork"]
        assert all(r["country"] == "GT" and r["kept"] and r["offered"] for r in refusals)
        latest = await AuditReader(nc.jetstream()).latest_checkpoint()
        report = witness_report(latest, records, _party_keys(demo))
        assert report.witnesses == [] and len(report.refusals) == 2
        await forked.close()

        # And `enlace audit verify` of that log fails, naming the witness.
        export = tmp_path / "forked.jsonl"
        out = await _enlace(["audit", "export", str(export), "--nats-url", other.url])
        assert out.exit_code == 0, out.output
        home = ["--home", str(demo.home)]
        out = await _enlace([*home, "audit", "verify", "--from-export", str(export)])
        assert out.exit_code == 1
        assert "witness GT refused the checkpoint of size 40 (witness_fork)" in out.output

        # `enlace witness --once` says so too, with exit 1 and the reason code.
        kept = demo.home / "state" / "witness" / "GT.checkpoint"
        kept.parent.mkdir(parents=True, exist_ok=True)
        kept.write_text(witness.kept() or "")
        try:
            args = ["--home", str(demo.home), "witness", "--country", "GT", "--once"]
            out = await _enlace([*args, "--nats-url", other.url])
            assert out.exit_code == 1, out.output
            assert "GT: refused checkpoint of size 40: witness_fork" in out.output
        finally:
            kept.unlink()
        await nc.drain()
    finally:
        other.stop()


async def _asked(nc: NatsClient, subject: str, body: bytes, within: float = 5.0) -> Msg:
    """``nc``'s request answered, asked again while the server says no one listens yet (once
    in a full run, the answering connection's interest was not seen right after its flush)."""
    deadline = time.monotonic() + within
    while True:
        try:
            return await nc.request(subject, body, 10)
        except nats.errors.NoRespondersError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)


async def test_a_hub_that_cannot_answer_is_not_refused_and_nothing_is_stored(
    demo: Deployment, server: NatsServer, hub_nc: NatsClient, tmp_path: Path
) -> None:
    origin = "enlace.witness-err"
    writer = await open_audit_writer(hub_nc.jetstream(), _signer(demo, origin), origin)
    await _append(writer, 0, 3)
    await writer.close()
    hub = await nats.connect(server.url)
    await serve_witnesses(hub)
    await hub.flush()  # its subscription is known to the server before we ask
    # A request that is not 'old <size>' gets the hub's error, not a checkpoint.
    reply = await _asked(hub_nc, witness_request_subject("GT"), b"give me everything")
    assert reply.data.decode().startswith(ANSWER_ERROR)
    await hub.drain()  # the hub stops answering; a stand-in answers with an error

    async def stand_in(msg: Msg) -> None:
        await msg.respond(f"{ANSWER_ERROR}the log is being read, try again".encode())

    await hub_nc.subscribe(witness_request_subject("GT"), cb=stand_in)
    await hub_nc.flush()
    witness = open_witness(demo.home, "GT")
    witness.state_file = tmp_path / "GT.checkpoint"
    outcome = await witness_once(hub_nc, witness, set())
    # The witness says so and waits: no refusal stored, nothing kept.
    assert outcome.status == "unanswered" and "being read" in (outcome.detail or "")
    assert await AuditReader(hub_nc.jetstream()).witness_records() == []
    assert witness.kept() is None
