"""The console on a real nats-server and a real uvicorn, driven with httpx (no browser)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import nats
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.audit import AuditEntry, AuditWriter, CheckpointSigner, kinds
from hub.console.security import CONTENT_SECURITY_POLICY
from hub.server.process import NatsServer
from schemas.countersign import sha256_digest
from tests.integration.auditkit import open_audit_writer
from tests.integration.consolekit import PASSWORD, log_in, read_events, serve_console

pytestmark = pytest.mark.integration

TIMEOUT = 60.0  # an upper bound on a loaded machine, not a timing assertion


def _rejected(message_id: str, country: str = "GT") -> AuditEntry:
    return kinds.rejected(
        message_id, country, "bad_signature", sha256_digest(message_id.encode()), 10
    )


@pytest.fixture
async def writer(server: NatsServer) -> AsyncIterator[AuditWriter]:
    nc = await nats.connect(server.url)
    signer = CheckpointSigner(Ed25519PrivateKey.generate(), "hub-k1")
    audit = await open_audit_writer(nc.jetstream(), signer, "enlace.test/audit")
    await audit.append([_rejected("BEFORE")])
    yield audit
    await audit.close()
    await nc.drain()


@pytest.fixture
async def console(tmp_path: Path, server: NatsServer, writer: AuditWriter) -> AsyncIterator[str]:
    async with serve_console(tmp_path / "dep", server.url) as url:
        yield url


async def test_unauthenticated_requests_are_redirected_or_refused(console: str) -> None:
    async with httpx.AsyncClient(base_url=console, timeout=TIMEOUT) as client:
        page = await client.get("/tail", headers={"Accept": "text/html"})
        assert page.status_code == 303 and page.headers["location"] == "/login?next=%2Ftail"
        for path in ("/tail/stream", "/trail/BEFORE", "/"):
            assert (await client.get(path)).status_code == 401, path
        login = await client.get("/login")
        assert login.status_code == 200
        assert login.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert (await client.get("/static/vendor/htmx.min.js")).status_code == 200


async def test_wrong_password_refused_right_one_allowed_then_logout(console: str) -> None:
    async with httpx.AsyncClient(base_url=console, timeout=TIMEOUT) as client:
        wrong = await client.post("/login", data={"name": "ana", "password": "nope"})
        assert wrong.status_code == 401 and "Wrong name or password" in wrong.text
        right = await client.post("/login", data={"name": "ana", "password": PASSWORD})
        assert right.status_code == 303
        cookie = right.headers["set-cookie"].lower()
        assert cookie.startswith("enlace_console=") and "httponly" in cookie
        assert "samesite=strict" in cookie
        page = await client.get("/tail")
        assert page.status_code == 200 and "BEFORE" in page.text
        assert "script-src 'self'" in page.headers["content-security-policy"]
        await client.post("/logout")
        assert (await client.get("/tail")).status_code == 401


async def test_failed_logins_are_rate_limited_per_client(console: str) -> None:
    async with httpx.AsyncClient(base_url=console, timeout=TIMEOUT) as client:
        codes = [
            (await client.post("/login", data={"name": "ana", "password": "x"})).status_code
            for _ in range(6)
        ]
        assert codes == [401] * 5 + [429]
        limited = await client.post("/login", data={"name": "ana", "password": PASSWORD})
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) > 0


async def test_a_killed_stream_resumes_from_last_event_id_without_gap_or_repeat(
    console: str, writer: AuditWriter
) -> None:
    async with httpx.AsyncClient(base_url=console, timeout=TIMEOUT) as client:
        await log_in(client)
        reading = asyncio.create_task(read_events(client, "/tail/stream", 4))
        await asyncio.sleep(0.5)  # the stream follows from now: BEFORE is not sent again
        await writer.append([_rejected("M1")])
        await writer.append([_rejected("M2"), _rejected("M3"), _rejected("M4"), _rejected("M5")])
        first = await reading
        assert [e.data.count("M") for e in first]  # entries rendered as rows
        seen = [_message_of(e.data) for e in first]
        assert seen == ["M1", "M2", "M3", "M4"]
        # Killed mid-batch (after M4 of the M2–M5 message); more appended meanwhile.
        await writer.append([_rejected("M6")])
        rest = await read_events(client, "/tail/stream", 2, last_event_id=first[-1].id)
        assert [_message_of(e.data) for e in rest] == ["M5", "M6"]
        ids = [e.id for e in (*first, *rest)]
        assert len(set(ids)) == len(ids)


async def test_a_filter_narrows_the_stream_and_the_page(console: str, writer: AuditWriter) -> None:
    async with httpx.AsyncClient(base_url=console, timeout=TIMEOUT) as client:
        await log_in(client)
        reading = asyncio.create_task(read_events(client, "/tail/stream?country=HN", 1))
        await asyncio.sleep(0.5)
        await writer.append([_rejected("FROM-GT"), _rejected("FROM-HN", "HN")])
        assert _message_of((await reading)[0].data) == "FROM-HN"
        page = await client.get("/tail", params={"country": "HN"})
        assert "FROM-HN" in page.text and "FROM-GT" not in page.text


def _message_of(row: str) -> str:
    start = row.index('href="/trail/') + len('href="/trail/')
    return row[start : row.index('"', start)]


async def test_spanish_switch_changes_labels_and_reason_texts_and_is_remembered(
    console: str,
) -> None:
    async with httpx.AsyncClient(base_url=console, timeout=TIMEOUT) as client:
        await log_in(client)
        english = await client.get("/tail")
        assert "Live audit tail" in english.text and "the signature does not match" in english.text
        switched = await client.get("/lang/es", params={"next": "/tail?kind=rejected"})
        assert switched.status_code == 303 and switched.headers["location"] == "/tail?kind=rejected"
        spanish = await client.get("/tail")
        assert "Auditoría en vivo" in spanish.text
        assert "la firma no corresponde al mensaje" in spanish.text
        assert (await client.get("/lang/es", params={"next": "//evil.example"})).headers[
            "location"
        ] == "/"


async def test_the_trail_of_any_version_links_every_version_of_the_message(
    console: str, writer: AuditWriter
) -> None:
    digest = sha256_digest(b"v")

    def received(message_id: str, amends: str | None, type_: str) -> AuditEntry:
        return kinds.received(
            message_id=message_id,
            sender_country="GT",
            poc="gt-gangs",
            type_=type_,
            theme="gangs",
            digest=digest,
            size=1,
            amends=amends,
        )

    await writer.append(
        [
            received("V1", None, "gang_movement"),
            received("V2", "V1", "gang_movement"),
            received("W", "V2", "retraction"),
        ]
    )
    async with httpx.AsyncClient(base_url=console, timeout=TIMEOUT) as client:
        await log_in(client)
        page = await client.get("/trail/V2")
        plain = await client.get("/trail/BEFORE")
        await client.get("/lang/es", params={"next": "/"})
        spanish = await client.get("/trail/W")

    assert page.status_code == 200
    for link in ('href="/trail/V1" data-kind="original"', 'href="/trail/V2"', 'href="/trail/W"'):
        assert link in page.text
    assert "Versions" in page.text and "correction v2" in page.text and "retraction v2" in page.text
    assert "trail-versions" not in plain.text  # a message never amended shows no chain
    assert "Versiones" in spanish.text and "corrección v2" in spanish.text
