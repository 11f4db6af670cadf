"""The PostgreSQL sink ends with the same rows whatever order the versions arrive in.

The hub writes a message's deliveries after its claim, and an amendment handled at the
same moment by another worker or hub process can reach DELIVERY first; a dead letter
replayed late arrives after what amended it. On a real PostgreSQL: an original stored
after its correction, a correction after the one that corrects it, a message after its
retraction — in separate transactions and within one — each ends ``corrected`` or
``retracted``, as if they had come in order.
"""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest

from adapters.delivery import Delivery
from adapters.sinks.postgres import PostgresSink
from schemas.amendments import HDR_AMENDMENT, HDR_AMENDS, HDR_ORIGINAL_ID, HDR_VERSION
from schemas.countersign import sha256_digest
from schemas.testing import TestDirectory, make_directory, signed_message

pytestmark = pytest.mark.integration

TD: TestDirectory = make_directory(parties=("GT", "SV"), themes=("gangs",))


def delivery(sent: tuple[dict[str, Any], bytes, str], headers: dict[str, str]) -> Delivery:
    """SV's full-view delivery of ``sent`` as the hub would publish it."""
    message, raw, jws = sent
    return Delivery(
        message_id=message["id"],
        recipient="SV",
        subject=f"enlace.out.SV.gangs.{message['type']}",
        view="full",
        body=raw,
        signature=jws,
        countersignature=None,
        original_digest=sha256_digest(raw),
        agreement="gangs-ca",
        message=json.loads(raw),
        headers=headers,
    )


def chain() -> dict[str, Delivery]:
    """A, its correction A2 and A2's correction A3; B and its retraction R."""
    a = signed_message(TD)
    a2 = signed_message(TD, corrects=a[0]["id"], payload=a[0]["payload"])
    a3 = signed_message(TD, corrects=a2[0]["id"], payload=a[0]["payload"])
    b = signed_message(TD)
    withdraw = {"original_id": b[0]["id"], "reason": "error", "detail": "sent twice"}
    r = signed_message(TD, "GT", "retraction", "gangs", payload=withdraw)

    def amending(kind: str, amends: str, original: str, version: int) -> dict[str, str]:
        return {
            HDR_AMENDMENT: kind,
            HDR_AMENDS: amends,
            HDR_ORIGINAL_ID: original,
            HDR_VERSION: str(version),
        }

    first = a[0]["id"]
    return {
        "A": delivery(a, {}),
        "A2": delivery(a2, amending("correction", first, first, 2)),
        "A3": delivery(a3, amending("correction", a2[0]["id"], first, 3)),
        "B": delivery(b, {}),
        "R": delivery(r, amending("retraction", b[0]["id"], b[0]["id"], 1)),
    }


@pytest.fixture
async def sink(pg_uri: str) -> AsyncIterator[PostgresSink]:
    opened = PostgresSink(pg_uri, f"order_{random.randrange(10**9)}")
    await opened.open()
    yield opened
    await opened.close()


def statuses(pg_uri: str, table: str, sent: dict[str, Delivery]) -> dict[str, str]:
    with psycopg.connect(pg_uri) as conn:
        rows: dict[str, str] = dict(conn.execute(f"SELECT id, status FROM {table}").fetchall())
    return {name: rows[d.message_id] for name, d in sent.items()}


IN_ORDER = {
    "A": "corrected",
    "A2": "corrected",
    "A3": "current",
    "B": "retracted",
    "R": "retraction",
}


@pytest.mark.parametrize(
    "batches",
    [
        [["A"], ["A2"], ["A3"], ["B"], ["R"]],  # in order, as the hub usually writes them
        [["A3"], ["A2"], ["A"], ["R"], ["B"]],  # each after what amends it
        [["A2"], ["A3", "A"], ["R", "B"]],  # within one transaction too
    ],
    ids=["in-order", "reversed", "reversed-in-batches"],
)
async def test_every_order_ends_with_the_same_statuses(
    sink: PostgresSink, pg_uri: str, batches: list[list[str]]
) -> None:
    sent = chain()
    for batch in batches:
        results = await sink.deliver_batch([sent[name] for name in batch])
        assert not any(r.duplicate for r in results)
    assert statuses(pg_uri, sink.table, sent) == IN_ORDER

    again = await sink.deliver_batch(list(sent.values()))  # a redelivery changes nothing
    assert all(r.duplicate for r in again)
    assert statuses(pg_uri, sink.table, sent) == IN_ORDER
