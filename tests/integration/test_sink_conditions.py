"""Every sink carries the sender's handling conditions into the national system.

Run once per installed sink (the contract suite's ``backend``), behind the production runner
on a real nats-server (and a real PostgreSQL, HTTP server): a delivery with conditions and one
without; what each national system holds afterwards says which is which.
"""

from __future__ import annotations

import json
import random
from typing import Any
from urllib.parse import unquote

import psycopg
import pytest
from nats.js import JetStreamContext
from psycopg import sql

from adapters.config import RetrySettings
from adapters.runner import RunnerSettings, SinkRunner
from adapters.sinks import postgres
from adapters.sinks.stix_conditions import NO_ONWARD_STATEMENT, NOT_FOR_COURT_STATEMENT
from schemas.testing import TestDirectory, make_directory
from tests.integration.sink_backends import Backend
from tests.integration.sinkkit import publish_delivery, receipt_signer

pytestmark = pytest.mark.integration

NOTE = 'Sólo para inteligencia;\r\nno "judicial" 100%'  # a note no header could hold as is
CONDITIONS = {"no_onward": True, "not_for_court": True, "note": NOTE}
NONE = {"no_onward": False, "not_for_court": False}


@pytest.fixture(scope="module")
def td() -> TestDirectory:
    return make_directory(parties=("GT", "SV", "US"), themes=("gangs",))


def _header(headers: dict[str, str], name: str) -> str | None:
    found = {k.lower(): v for k, v in headers.items()}
    return found.get(name.lower())


def _from_headers(headers: dict[str, str]) -> dict[str, Any]:
    got: dict[str, Any] = {
        "no_onward": _header(headers, "Enlace-No-Onward") == "true",
        "not_for_court": _header(headers, "Enlace-Not-For-Court") == "true",
    }
    for name in ("Enlace-No-Onward", "Enlace-Not-For-Court"):
        assert _header(headers, name) in ("true", "false")
    ce = (_header(headers, "ce-enlacenoonward"), _header(headers, "ce-enlacenotforcourt"))
    assert ce == (_header(headers, "Enlace-No-Onward"), _header(headers, "Enlace-Not-For-Court"))
    note = _header(headers, "Enlace-Condition-Note")
    assert note == _header(headers, "ce-enlaceconditionnote")
    if note is not None:
        assert note.isascii() and "\n" not in note and '"' not in note
        got["note"] = unquote(note)
    return got


def _from_row(row: dict[str, Any]) -> dict[str, Any]:
    got: dict[str, Any] = {"no_onward": row["no_onward"], "not_for_court": row["not_for_court"]}
    if row["condition_note"] is not None:
        got["note"] = row["condition_note"]
    return got


def _from_bundle(backend: Backend, message_id: str) -> dict[str, Any]:
    path = backend.context.base_dir / "stix" / f"{message_id}.stix.json"
    objects = json.loads(path.read_bytes())["objects"]
    statements = {
        o["id"]: o["definition"]["statement"]
        for o in objects
        if o["type"] == "marking-definition" and o.get("definition_type") == "statement"
    }
    report = next(o for o in objects if o["type"] == "report")
    assert set(statements) <= set(report["object_marking_refs"])
    texts = set(statements.values())
    got: dict[str, Any] = {
        "no_onward": NO_ONWARD_STATEMENT in texts,
        "not_for_court": NOT_FOR_COURT_STATEMENT in texts,
    }
    notes = texts - {NO_ONWARD_STATEMENT, NOT_FOR_COURT_STATEMENT}
    if notes:
        got["note"] = notes.pop().split(": ", 1)[1]
    assert report["x_enlace_conditions"] == got
    return got


def conditions_held(backend: Backend, message_id: str) -> dict[str, Any]:
    """The conditions of ``message_id`` as the national system behind ``backend`` holds them."""
    if backend.name == "stix":
        return _from_bundle(backend, message_id)
    for body, kept in backend.kept():
        if json.loads(body)["id"] != message_id:
            continue
        if backend.name in ("folder", "jsonl"):
            return dict(kept["conditions"])
        if backend.name == "postgres":
            return _from_row(kept)
        if backend.name == "webhook":
            return _from_headers(kept)
        if backend.name == "python":  # the handler gets the delivery: the message itself
            message = json.loads(body)
            return {**NONE, **message.get("conditions", {})}
        pytest.fail(f"no reader of conditions for sink {backend.name!r}: add one here")
    raise AssertionError(f"{message_id} was not written by {backend.name}")


async def test_each_sink_carries_the_conditions(
    js: JetStreamContext, td: TestDirectory, backend: Backend
) -> None:
    marked = await publish_delivery(js, td, fields={"conditions": CONDITIONS})
    view = await publish_delivery(
        js, td, view="no-payload", fields={"conditions": {"no_onward": True}}
    )
    plain = await publish_delivery(js, td)
    settings = RunnerSettings(
        country="GT",
        sink_name=backend.name,
        retry=RetrySettings(max_attempts=2, backoff_base=0.01, backoff_max=0.02),
        fetch_timeout=0.3,
        ack_wait=30,
    )
    runner = SinkRunner(
        js,
        backend.make(),
        lambda: td.directory,
        receipt_signer(td, "GT"),
        settings,
        rng=random.Random(7),
    )
    await runner.start()
    assert await runner.drain() == 3
    await runner.stop()

    assert conditions_held(backend, marked.message_id) == CONDITIONS
    assert conditions_held(backend, view.message_id) == {**NONE, "no_onward": True}
    assert conditions_held(backend, plain.message_id) == NONE


async def test_a_table_of_an_earlier_version_gets_the_condition_columns(pg_uri: str) -> None:
    """A recipient's table made before conditions travelled gets the columns when the sink
    opens; its rows stay, read as having no conditions."""
    table = f"old_{random.randrange(10**9)}"
    async with await psycopg.AsyncConnection.connect(pg_uri, autocommit=True) as conn:
        # The table as earlier versions made it (the same statement, no condition columns).
        await conn.execute(sql.SQL(postgres._DDL).format(table=sql.Identifier(table)))
        await conn.execute(
            sql.SQL(
                "INSERT INTO {} (id, recipient, subject, theme, type, view, original_digest, "
                "digest, signature, raw) VALUES ('old-1', 'GT', 's', 'gangs', 'x', 'full', "
                "'d', 'd', 'j', '{{}}')"
            ).format(sql.Identifier(table))
        )
    sink = postgres.PostgresSink(pg_uri, table)
    await sink.open()
    await sink.close()
    async with await psycopg.AsyncConnection.connect(pg_uri, autocommit=True) as conn:
        cur = await conn.execute(
            sql.SQL("SELECT no_onward, not_for_court, condition_note FROM {}").format(
                sql.Identifier(table)
            )
        )
        assert await cur.fetchall() == [(False, False, None)]
