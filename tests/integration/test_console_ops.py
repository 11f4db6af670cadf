"""The Adapters and Volumes pages on a real nats-server and a real uvicorn, with httpx."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import nats
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from adapters.service import adapter_status
from hub.audit import AuditReader, AuditWriter, CheckpointSigner, kinds
from hub.console.sinks import SinkProbe
from hub.server.process import NatsServer
from schemas.countersign import sha256_digest
from tests.integration.auditkit import open_audit_writer, received_entry
from tests.integration.consolekit import log_in, serve_console

pytestmark = pytest.mark.integration

TIMEOUT = 60.0  # an upper bound on a loaded machine, not a timing assertion
DIGEST = sha256_digest(b"x")


@pytest.fixture
async def writer(server: NatsServer) -> AsyncIterator[AuditWriter]:
    nc = await nats.connect(server.url)
    signer = CheckpointSigner(Ed25519PrivateKey.generate(), "hub-k1")
    audit = await open_audit_writer(nc.jetstream(), signer, "enlace.test/audit")
    yield audit
    await audit.close()
    await nc.drain()


@pytest.fixture
async def console(tmp_path: Path, server: NatsServer, writer: AuditWriter) -> AsyncIterator[str]:
    probe = SinkProbe(register=lambda: {"HN": ["folder"], "GT": ["web"]}, status=adapter_status)
    async with serve_console(tmp_path / "dep", server.url, probe) as url:
        yield url


async def test_volumes_data_counts_what_the_log_holds_and_follows_new_entries(
    console: str, writer: AuditWriter
) -> None:
    await writer.append([received_entry("A", "gangs", "GT"), received_entry("B", "gangs", "HN")])
    await writer.append([kinds.rejected("C", "GT", "bad_signature", DIGEST, 3)])
    async with httpx.AsyncClient(base_url=console, timeout=TIMEOUT) as client:
        assert (await client.get("/volumes/data")).status_code == 401
        await log_in(client)
        data = (await client.get("/volumes/data", params={"window": "1h"})).json()
        assert data["window"] == "1h" and data["bucket_seconds"] == 60
        assert data["accepted"] == 2 and data["rejected"] == {"bad_signature": 1}
        assert {cc: sum(n) for cc, n in data["by_country"].items()} == {"GT": 1, "HN": 1}
        await writer.append([received_entry("D", "firearms", "SV")])  # read incrementally
        later = (await client.get("/volumes/data", params={"country": "SV"})).json()
        assert later["accepted"] == 1 and list(later["by_theme"]) == ["firearms"]
        page = await client.get("/volumes", params={"window": "7d"})
        assert page.status_code == 200 and 'data-source="/volumes/data?window=7d"' in page.text
        assert 'data-reason="bad_signature"' in page.text and "<script>" not in page.text


async def test_adapters_page_lists_the_register_with_the_last_receipt(
    console: str, writer: AuditWriter
) -> None:
    await writer.append([kinds.delivered("A", "HN", DIGEST, "folder")])
    async with httpx.AsyncClient(base_url=console, timeout=TIMEOUT) as client:
        await log_in(client, "vic")
        page = await client.get("/adapters")
        assert page.status_code == 200
        assert 'data-country="HN" data-sink="folder"' in page.text
        assert 'data-country="GT" data-sink="web"' in page.text
        assert "never started" in page.text and " s ago" in page.text
        narrowed = await client.get("/adapters", params={"country": "GT"})
        assert 'data-sink="folder"' not in narrowed.text and 'data-sink="web"' in narrowed.text
        none_stalled = await client.get("/adapters", params={"stalled": "1"})
        assert 'class="sink' not in none_stalled.text


async def test_the_window_is_found_by_time_without_reading_the_log_before_it(
    server: NatsServer, writer: AuditWriter
) -> None:
    await writer.append([received_entry("OLD", "gangs", "GT")])
    between = datetime.now(UTC)
    await writer.append([received_entry("NEW", "gangs", "GT")])
    nc = await nats.connect(server.url)
    try:
        reader = AuditReader(nc.jetstream())
        last = await reader.last_seq()
        assert await reader.seq_since(between) == last
        assert await reader.seq_since(between - timedelta(days=1)) == 1
        assert await reader.seq_since(datetime.now(UTC) + timedelta(seconds=5)) == last + 1
    finally:
        await nc.drain()
