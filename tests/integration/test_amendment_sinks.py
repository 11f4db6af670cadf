"""Corrections and retractions applied by the real sinks, from the real hub.

GT's gang reports reach SV (full) and US (``no-persons``), HN none
(:func:`hub.testing.governance`). GT sends report A, corrects it twice (A2, A3), sends
report B and withdraws it (R). Every recipient's national system ends with the current
version and the history; HN's gets nothing.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import psycopg
import pytest
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext

from adapters.runner import SinkRunner
from hub.server.process import NatsServer
from tests.integration.hubkit import (
    ensure,
    governance,
    hub_running,
    outcome_of_sent,
    signed_message,
)
from tests.integration.sinkkit import http_receiver, system_runner

pytestmark = pytest.mark.integration

TD, GOV, SIGNER = governance()
Sent = tuple[dict[str, Any], bytes, str]


def corrected(previous: dict[str, Any], clique: str) -> Sent:
    payload = json.loads(json.dumps(previous["payload"]))
    payload["gang"]["clique"] = clique
    return signed_message(TD, corrects=previous["id"], payload=payload)


async def send_history(nc: NatsClient, js: JetStreamContext) -> dict[str, Sent]:
    """A, its corrections A2 and A3, B and its retraction R; each accepted in turn."""
    sent: dict[str, Sent] = {"A": signed_message(TD)}
    sent["A2"] = corrected(sent["A"][0], "Sureños")
    sent["A3"] = corrected(sent["A2"][0], "Sureños 18")
    sent["B"] = signed_message(TD)
    withdraw = {"original_id": sent["B"][0]["id"], "reason": "legal", "detail": "court order"}
    sent["R"] = signed_message(TD, "GT", "retraction", "gangs", payload=withdraw)
    for name in ("A", "A2", "A3", "B", "R"):
        outcome = await outcome_of_sent(nc, js, sent[name])
        assert outcome["status"] == "accepted", (name, outcome)
    return sent


async def drain(runners: list[SinkRunner], expected: int) -> None:
    for runner in runners:
        taken = 0
        while taken < expected:
            taken += await runner.run_once()  # pytest-timeout bounds a missing delivery
        while await runner.run_once():  # an earlier test's deliveries may come too
            pass
        await runner.stop()


async def test_postgres_and_folder_end_with_the_current_version_and_the_history(
    nc: NatsClient, nats_server: NatsServer, tmp_path: Path, pg_uri: str
) -> None:
    js = await ensure(nc)
    table = f"t_{random.randrange(10**9)}"
    sinks = {"SV": ["postgres"], "US": ["folder"], "HN": ["jsonl"]}
    async with hub_running(nats_server.url, GOV, SIGNER, sinks):
        sent = await send_history(nc, js)
        runners = [
            system_runner(js, TD, tmp_path, cc, sink, options)
            for cc, sink, options in [
                ("SV", "postgres", {"dsn": pg_uri, "table": table}),
                ("US", "folder", {"path": "us"}),
            ]
        ]
        hn = system_runner(js, TD, tmp_path, "HN", "jsonl", {"path": "hn.jsonl"})
        for runner in [*runners, hn]:
            await runner.start()
        await drain(runners, 5)
        await drain([hn], 0)
    ids = {name: s[0]["id"] for name, s in sent.items()}

    with psycopg.connect(pg_uri) as conn:
        rows = conn.execute(
            f"SELECT id, status, revision, original_id, amends, payload FROM {table}"
        ).fetchall()
    got = {r[0]: r[1:] for r in rows}
    a, b = ids["A"], ids["B"]
    assert {k: v[:4] for k, v in got.items()} == {
        a: ("corrected", 1, a, None),
        ids["A2"]: ("corrected", 2, a, a),
        ids["A3"]: ("current", 3, a, ids["A2"]),
        b: ("retracted", 1, b, None),
        ids["R"]: ("retraction", 1, b, b),
    }
    assert got[ids["A3"]][4]["gang"]["clique"] == "Sureños 18"  # the corrected row
    assert got[a][4]["gang"]["clique"] == "Revolucionarios"  # the history kept

    us = tmp_path / "us"
    assert json.loads((us / f"{a}.json.corrected").read_bytes())["by"] == ids["A2"]
    assert json.loads((us / f"{ids['A2']}.json.corrected").read_bytes())["by"] == ids["A3"]
    assert not (us / f"{ids['A3']}.json.corrected").exists()
    withdrawn = json.loads((us / f"{b}.json.retracted").read_bytes())
    assert (withdrawn["by"], withdrawn["reason"], withdrawn["detail"]) == (
        ids["R"],
        "legal",
        "court order",
    )
    latest = json.loads((us / f"{ids['A3']}.json").read_bytes())
    assert "persons" not in latest["payload"]  # US's view, as for the original
    meta = json.loads((us / f"{ids['A3']}.json.meta").read_bytes())
    assert (meta["view"], meta["revision"], meta["amends"], meta["original_id"]) == (
        "no-persons",
        3,
        ids["A2"],
        a,
    )
    assert not (tmp_path / "hn.jsonl").exists() or not (tmp_path / "hn.jsonl").read_bytes()


async def test_jsonl_appends_and_the_webhook_posts_their_own_event_types(
    nc: NatsClient, nats_server: NatsServer, tmp_path: Path
) -> None:
    js = await ensure(nc)
    with http_receiver() as receiver:
        async with hub_running(nats_server.url, GOV, SIGNER, {"SV": ["jsonl"], "US": ["webhook"]}):
            sent = await send_history(nc, js)
            runners = [
                system_runner(js, TD, tmp_path, "SV", "jsonl", {"path": "sv.jsonl"}),
                system_runner(js, TD, tmp_path, "US", "webhook", {"url": receiver.url}),
            ]
            for runner in runners:
                await runner.start()
            await drain(runners, 5)
        posted = [
            (body, {k.lower(): v for k, v in headers.items()})
            for body, headers in zip(receiver.bodies, receiver.headers, strict=True)
        ]
    ids = {name: s[0]["id"] for name, s in sent.items()}

    mine = set(ids.values())  # a new consumer reads the earlier tests' deliveries too
    lines = [json.loads(x) for x in (tmp_path / "sv.jsonl").read_bytes().splitlines()]
    lines = [line for line in lines if line["id"] in mine]
    assert [line["id"] for line in lines] == [ids[n] for n in ("A", "A2", "A3", "B", "R")]
    assert [line.get("amendment") for line in lines] == [
        None,
        "correction",
        "correction",
        None,
        "retraction",
    ]
    assert lines[2]["revision"] == 3 and lines[2]["original_id"] == ids["A"]
    types = {
        json.loads(body)["id"]: headers["ce-type"]
        for body, headers in posted
        if json.loads(body)["id"] in mine
    }
    assert types == {
        ids["A"]: "enlace.gang_movement.v1",
        ids["A2"]: "enlace.correction.gang_movement.v1",
        ids["A3"]: "enlace.correction.gang_movement.v1",
        ids["B"]: "enlace.gang_movement.v1",
        ids["R"]: "enlace.retraction.v1",
    }
    retraction_headers = next(h for b, h in posted if json.loads(b)["id"] == ids["R"])
    assert retraction_headers["enlace-amends"] == ids["B"]
