"""Rejections and quarantine on a real nats-server: the console page (httpx), the CLI, and
the hub recording every viewing of quarantined bytes before they are shown."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import nats
import pytest
from click.testing import CliRunner, Result
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from nats.aio.client import Client as NatsClient
from nats.aio.subscription import Subscription

from hub.audit import AuditReader, AuditWriter, CheckpointSigner, kinds, parse_entry
from hub.audit.entries import AuditEntry, EntryKind
from hub.cli import cli
from hub.cli.exit_codes import ExitCode
from hub.config import HubSettings
from hub.errors import ViewingRefused
from hub.jetstream.streams import ensure_streams
from hub.pipeline.quarantine import quarantine_record
from hub.quarantine import copy_at, record_viewing, serve_viewings
from hub.server.process import NatsServer
from schemas.countersign import sha256_digest
from schemas.subjects import quarantine_viewed_subject
from tests.integration.auditkit import open_audit_writer
from tests.integration.consolekit import log_in, serve_console

pytestmark = pytest.mark.integration

TIMEOUT = 60.0  # an upper bound on a loaded machine, not a timing assertion
MESSAGE_ID = "01JDZ8Y5J3M8X7Q2C4V6B9N0PA"
JSON_BODY = json.dumps({"id": MESSAGE_ID, "payload": {"alias": "El Flaco"}}).encode()
BINARY_BODY = bytes(range(256)) + b"\xff\xfe not json"


@dataclass
class Hub:
    """A hub's part of it: the audit writer, and (when serving) its viewings subscription."""

    nc: NatsClient
    writer: AuditWriter
    viewings: Subscription | None

    async def entries(self) -> list[AuditEntry]:
        return [parse_entry(raw) for raw in await AuditReader(self.nc.jetstream()).read_all()]

    async def viewings_recorded(self) -> list[AuditEntry]:
        return [e for e in await self.entries() if e.kind is EntryKind.QUARANTINE_VIEWED]


async def _quarantine(nc: NatsClient, cc: str, seq: int, body: bytes, reason: str) -> None:
    """A quarantine copy as the hub makes it (:func:`quarantine_record`)."""
    ingress = (f"enlace.in.{cc}.gangs.gang_movement", f"INGRESS_{cc}", seq)
    headers = {"Nats-Msg-Id": MESSAGE_ID if body is JSON_BODY else f"bin-{seq}"}
    subject, data, hdrs = quarantine_record(
        cc, ingress, headers, body, (reason, "refused"), 1 << 20
    )
    await nc.jetstream().publish(subject, data, headers=hdrs)


async def _start_hub(url: str, serve: bool) -> Hub:
    nc = await nats.connect(url)
    js = nc.jetstream()
    await ensure_streams(js, HubSettings(nats_url=url))
    signer = CheckpointSigner(Ed25519PrivateKey.generate(), "hub-k1")
    writer = await open_audit_writer(js, signer, "enlace.test/audit")
    await _quarantine(nc, "GT", 1, JSON_BODY, "bad_signature")  # QUARANTINE seq 1
    await _quarantine(nc, "HN", 2, BINARY_BODY, "malformed_json")  # seq 2
    viewings = await serve_viewings(nc, writer) if serve else None
    return Hub(nc, writer, viewings)


@pytest.fixture
async def hub(server: NatsServer) -> AsyncIterator[Hub]:
    started = await _start_hub(server.url, serve=True)
    yield started
    await started.writer.close()
    await started.nc.drain()


@pytest.fixture
async def console(tmp_path: Path, server: NatsServer, hub: Hub) -> AsyncIterator[str]:
    async with serve_console(tmp_path / "dep", server.url) as url:
        yield url


async def test_the_list_shows_reason_explained_sender_size_and_filters_by_url(
    console: str,
) -> None:
    async with httpx.AsyncClient(base_url=console, timeout=TIMEOUT) as client:
        await log_in(client, "vic")  # a viewer may list: metadata only
        page = await client.get("/rejections")
        assert page.status_code == 200
        assert 'data-seq="1"' in page.text and 'data-seq="2"' in page.text
        assert "the signature does not match the message" in page.text
        assert f'href="/trail/{MESSAGE_ID}"' in page.text
        assert f"<td>{len(BINARY_BODY)}</td>" in page.text
        assert "El Flaco" not in page.text  # no content in the list
        hn = await client.get("/rejections?country=HN")
        assert 'data-seq="2"' in hn.text and 'data-seq="1"' not in hn.text
        by_reason = await client.get("/rejections?reason=bad_signature")
        assert 'data-seq="1"' in by_reason.text and 'data-seq="2"' not in by_reason.text
        await client.get("/lang/es")
        spanish = await client.get("/rejections?country=GT")
        assert "Rechazos y cuarentena" in spanish.text
        assert "la firma no corresponde al mensaje" in spanish.text


async def test_a_viewer_is_refused_the_bytes_and_nothing_is_recorded(
    console: str, hub: Hub
) -> None:
    async with httpx.AsyncClient(base_url=console, timeout=TIMEOUT) as client:
        await log_in(client, "vic")
        for path in ("/rejections/1", "/rejections/1/raw"):
            refused = await client.get(path)
            assert refused.status_code == 403, path
            assert "Only an operator with the role auditor" in refused.text
            assert "El Flaco" not in refused.text
    assert await hub.viewings_recorded() == []


async def test_an_auditor_sees_json_pretty_and_downloads_exact_bytes_each_viewing_recorded(
    console: str, hub: Hub
) -> None:
    async with httpx.AsyncClient(base_url=console, timeout=TIMEOUT) as client:
        await log_in(client, "ana")
        page = await client.get("/rejections/1")
        assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
        assert 'class="content content-json"' in page.text
        assert "&#34;alias&#34;: &#34;El Flaco&#34;" in page.text  # indented, escaped
        assert "Enlace-Reason" in page.text and "bad_signature" in page.text
        raw = await client.get("/rejections/1/raw")
        assert raw.status_code == 200 and raw.content == JSON_BODY
        assert "attachment" in raw.headers["content-disposition"]
        binary = await client.get("/rejections/2")
        assert 'class="content content-hex"' in binary.text
        assert "00000000  00 01 02 03" in binary.text
        assert (await client.get("/rejections/2/raw")).content == BINARY_BODY
        assert (await client.get("/rejections/99")).status_code == 404
    viewed = await hub.viewings_recorded()
    assert [(e.owner, e.seq, e.outcome) for e in viewed] == [
        ("ana", 1, "shown"),
        ("ana", 1, "exported"),
        ("ana", 2, "shown"),
        ("ana", 2, "exported"),
    ]
    assert viewed[0].digest == sha256_digest(JSON_BODY) and viewed[0].country == "GT"
    stored = b"".join(await AuditReader(hub.nc.jetstream()).read_all())
    assert b"Flaco" not in stored  # the record holds the digest, never the bytes


async def test_without_a_hub_to_record_the_viewing_no_byte_is_shown(
    tmp_path: Path, server: NatsServer
) -> None:
    lone = await _start_hub(server.url, serve=False)
    try:
        async with (
            serve_console(tmp_path / "dep", server.url) as url,
            httpx.AsyncClient(base_url=url, timeout=TIMEOUT) as client,
        ):
            await log_in(client, "ana")
            for path in ("/rejections/1", "/rejections/1/raw"):
                refused = await client.get(path)
                assert refused.status_code == 503, path
                assert "El Flaco" not in refused.text
                assert "the hub did not record the viewing" in refused.text
    finally:
        await lone.writer.close()
        await lone.nc.drain()


async def test_the_hub_refuses_to_record_what_it_cannot_check(hub: Hub) -> None:
    copy = await copy_at(hub.nc.jetstream(), 1)
    assert copy is not None
    for bad in (
        {"operator": "ana", "seq": 99, "action": "shown"},  # no such copy
        {"operator": "ana", "seq": 1, "action": "edited"},
        {"operator": "ana lópez", "seq": 1, "action": "shown"},
        {"seq": 1, "action": "shown"},
    ):
        answer = await hub.nc.request(quarantine_viewed_subject(), json.dumps(bad).encode())
        assert "error" in json.loads(answer.data), bad
    assert await hub.viewings_recorded() == []
    with pytest.raises(ViewingRefused):
        await record_viewing(hub.nc, "ana", copy, "edited")
    assert await record_viewing(hub.nc, "ana", copy, "shown") >= 0


async def _enlace(tmp_path: Path, server: NatsServer, *args: str) -> Result:
    argv = ["--home", str(tmp_path / "home"), *args, "--nats-url", server.url]
    return await asyncio.to_thread(CliRunner().invoke, cli, argv)


async def test_cli_lists_shows_and_exports_recording_each_viewing(
    tmp_path: Path, server: NatsServer, hub: Hub
) -> None:
    listed = await _enlace(tmp_path, server, "quarantine", "list", "--json", "--country", "gt")
    assert listed.exit_code == 0, listed.output
    rows = [json.loads(line) for line in listed.output.splitlines()]
    assert [(r["seq"], r["reason"], r["message_id"]) for r in rows] == [
        (1, "bad_signature", MESSAGE_ID)
    ]
    spanish = await _enlace(tmp_path, server, "quarantine", "list", "--json", "--lang", "es")
    assert "la firma no corresponde al mensaje" in spanish.output
    assert "Flaco" not in listed.output + spanish.output

    shown = await _enlace(tmp_path, server, "quarantine", "show", MESSAGE_ID, "--json")
    assert shown.exit_code == 0, shown.output
    doc = json.loads(shown.output)
    assert doc["seq"] == 1 and doc["form"] == "json" and '"alias": "El Flaco"' in doc["content"]
    out = tmp_path / "copy.bin"
    exported = await _enlace(tmp_path, server, "quarantine", "export", "2", "--out", str(out))
    assert exported.exit_code == 0, exported.output
    assert out.read_bytes() == BINARY_BODY
    viewed = await hub.viewings_recorded()
    assert [(e.seq, e.outcome) for e in viewed] == [(1, "shown"), (2, "exported")]
    assert all(e.owner and e.owner.startswith("cli:") for e in viewed)

    for ident in ("99", "01JDZ8Y5J3M8X7Q2C4V6B9N0ZZ"):
        missing = await _enlace(tmp_path, server, "quarantine", "show", ident)
        assert missing.exit_code == ExitCode.NOT_FOUND, missing.output


async def test_cli_shows_no_byte_when_no_hub_records_the_viewing(
    tmp_path: Path, server: NatsServer
) -> None:
    lone = await _start_hub(server.url, serve=False)
    try:
        out = tmp_path / "copy.bin"
        refused = await _enlace(tmp_path, server, "quarantine", "export", "1", "--out", str(out))
        assert refused.exit_code == ExitCode.UNAVAILABLE, refused.output
        assert not out.exists() and "Flaco" not in refused.output
    finally:
        await lone.writer.close()
        await lone.nc.drain()


async def test_rejected_tail_explains_each_rejection_in_the_operators_language(
    tmp_path: Path, server: NatsServer, hub: Hub
) -> None:
    await hub.writer.append(
        [
            kinds.rejected(MESSAGE_ID, "GT", "bad_signature", sha256_digest(JSON_BODY), 40),
            kinds.hub_event("start", "hub"),
            kinds.refused_by_server("HN", "too_large", "max_payload 1048576"),
        ]
    )
    english = await _enlace(tmp_path, server, "rejected", "tail")
    assert english.exit_code == 0, english.output
    lines = english.output.splitlines()
    assert len(lines) == 2 and "the signature does not match the message" in lines[0]
    as_json = await _enlace(tmp_path, server, "rejected", "tail", "--json", "--lang", "es")
    rows = [json.loads(line) for line in as_json.output.splitlines()]
    assert [r["country"] for r in rows] == ["GT", "HN"]
    assert rows[0]["explanation"] == "la firma no corresponde al mensaje"
    only_hn = await _enlace(tmp_path, server, "rejected", "tail", "--country", "HN", "--json")
    assert [json.loads(x)["reason"] for x in only_hn.output.splitlines()] == ["too_large"]
