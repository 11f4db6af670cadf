"""One reading of the bytes, on the running demo (``enlace up``, ``upkit``).

GT's own NATS login publishes gang movements signed with gt-gangs' real key that a lax
reader would take: a version ``"1"`` or ``true``, a Unix time for ``issued_at`` (number or
numeric string), a credibility ``"3"``, a payload time as a number, and keys given twice
(``handling`` red then green, ``to`` narrow then wide, two ``id``). Each is refused with its
reason code: GT gets the notice, QUARANTINE keeps the exact bytes, the audit log records
the refusal, and no delivery is made to anyone.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from hub.audit import AuditReader, parse_entry
from hub.governance.keystore import KeyStore
from hub.server.logins import HUB_USER
from schemas.common import new_message_id
from schemas.countersign import sha256_digest
from schemas.govdoc import rfc3339
from schemas.jws import sign_detached
from schemas.subjects import HDR_MSG_ID, HDR_REASON, HDR_SIGNATURE
from schemas.trust import load_directory, load_trust_root
from tests.integration.hubkit import Collector, stream_msgs
from tests.integration.upkit import WAIT, Running, login, run_demo_with_hn_sink

pytestmark = pytest.mark.integration

SUBJECT = "enlace.in.GT.gangs.gang_movement"


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    yield from run_demo_with_hn_sink(tmp_path_factory)


def fresh(up: Running) -> dict[str, Any]:
    """The demo's gang movement from GT, with a new id, issued now, for SV and HN."""
    message: dict[str, Any] = json.loads((up.dep.samples_dir / "gang_movement.json").read_bytes())
    message.update(
        id=new_message_id(),
        issued_at=rfc3339(datetime.now(UTC)),
        to=["SV", "HN"],
        evaluation={"reliability": "B", "credibility": 2},
    )
    return message


def text(message: dict[str, Any]) -> str:
    return json.dumps(message, ensure_ascii=False)


def twice(message: dict[str, Any], key: str, first: Any) -> str:
    """``message`` as JSON with ``key`` given twice: ``first``, then its own value."""
    whole = text(message)
    at = whole.index(f'"{key}": ')
    return f"{whole[:at]}{json.dumps(key)}: {json.dumps(first)}, {whole[at:]}"


def changed(**fields: Any) -> Callable[[dict[str, Any]], str]:
    return lambda m: text({**m, **fields})


def evaluation(m: dict[str, Any]) -> str:
    return text({**m, "evaluation": {"reliability": "B", "credibility": "3"}})


def payload_time(m: dict[str, Any]) -> str:
    return text({**m, "payload": {**m["payload"], "observed_at": 1764064800}})


NOW = int(datetime.now(UTC).timestamp())

ATTACKS: dict[str, tuple[Callable[[dict[str, Any]], str], str]] = {
    "version string": (changed(version="1"), "invalid_envelope"),
    "version true": (changed(version=True), "invalid_envelope"),
    "issued_at number": (changed(issued_at=NOW), "invalid_envelope"),
    "issued_at numeric string": (changed(issued_at=str(NOW)), "invalid_envelope"),
    "credibility string": (evaluation, "invalid_envelope"),
    "payload time number": (payload_time, "schema_invalid"),
    "handling red then green": (
        lambda m: twice({**m, "handling": "green"}, "handling", "red"),
        "duplicate_key",
    ),
    "to narrow then wide": (
        lambda m: twice({**m, "to": ["SV", "HN", "US"]}, "to", ["SV"]),
        "duplicate_key",
    ),
    "two ids": (lambda m: twice(m, "id", new_message_id()), "duplicate_key"),
}


async def publish_as_gt(up: Running, raw: bytes, msg_id: str) -> dict[str, Any]:
    """Publish ``raw`` signed by gt-gangs through GT's login; GT's notice or outcome."""
    directory = load_directory(up.dep.directory, load_trust_root(up.dep.trust_root))
    kid, key = KeyStore(up.dep.keys_dir).current_poc_key(directory, "gt-gangs")
    errors: list[str] = []
    gt = await login(up, "GT", errors)
    try:
        outcomes, notices = Collector(), Collector()
        await gt.subscribe("enlace.outcome.GT.>", cb=outcomes.handler)
        await gt.subscribe("enlace.rejected.GT", cb=notices.handler)
        await gt.jetstream().publish(
            SUBJECT, raw, headers={HDR_SIGNATURE: sign_detached(raw, key, kid), HDR_MSG_ID: msg_id}
        )
        deadline = asyncio.get_running_loop().time() + WAIT
        while not (mine := [d for d in outcomes.json() if d.get("message_id") == msg_id]):
            assert asyncio.get_running_loop().time() < deadline, f"no outcome; {errors}"
            await asyncio.sleep(0.05)
        if mine[0]["status"] != "accepted":
            while not [d for d in notices.json() if d.get("message_id") == msg_id]:
                assert asyncio.get_running_loop().time() < deadline, f"no notice; {errors}"
                await asyncio.sleep(0.05)
        return {
            "outcome": mine[0],
            "notices": [d for d in notices.json() if d.get("message_id") == msg_id],
        }
    finally:
        await gt.close()


async def hub_view(up: Running, msg_id: str) -> dict[str, Any]:
    """What the hub's streams hold about ``msg_id``: quarantine copies, deliveries, audit."""
    hub = await login(up, HUB_USER, [])
    try:
        js = hub.jetstream()
        quarantined = [
            m
            for m in await stream_msgs(js, "QUARANTINE", "enlace.quarantine.GT")
            if (m.headers or {}).get("Enlace-Original-Msg-Id") == msg_id
        ]
        delivered = [
            m
            for m in await stream_msgs(js, "DELIVERY", "enlace.out.>")
            if (m.headers or {}).get(HDR_MSG_ID, "").startswith(f"{msg_id}:")
        ]
        entries = [parse_entry(e) for e in await AuditReader(js).read_all()]
    finally:
        await hub.close()
    return {
        "quarantined": quarantined,
        "delivered": delivered,
        "audit": [e for e in entries if e.message_id == msg_id],
    }


async def test_the_untouched_message_is_delivered(running: Running) -> None:
    # The control: what the attacks start from is a message the hub accepts and routes.
    message = fresh(running)
    heard = await publish_as_gt(running, text(message).encode(), message["id"])
    assert heard["outcome"]["status"] == "accepted"
    seen = await hub_view(running, message["id"])
    assert sorted(m.subject.split(".")[2] for m in seen["delivered"]) == ["HN", "SV"]


@pytest.mark.parametrize("attack", sorted(ATTACKS))
async def test_a_second_reading_is_refused_noticed_quarantined_audited_never_delivered(
    running: Running, attack: str
) -> None:
    make, reason = ATTACKS[attack]
    message = fresh(running)
    raw = make(message).encode()
    heard = await publish_as_gt(running, raw, message["id"])

    outcome = heard["outcome"]
    assert (outcome["status"], outcome["reason"]) == ("rejected", reason), outcome
    assert [(n["status"], n["reason"]) for n in heard["notices"]] == [("rejected", reason)]
    seen = await hub_view(running, message["id"])
    assert [m.data for m in seen["quarantined"]] == [raw]  # the exact bytes, once
    assert (seen["quarantined"][0].headers or {})[HDR_REASON] == reason
    assert [(e.kind.value, e.reason) for e in seen["audit"]] == [("rejected", reason)]
    assert seen["audit"][0].digest == sha256_digest(raw)
    assert seen["delivered"] == []
    inbox = running.dep.home / "inbox" / "HN"
    assert not inbox.exists() or not any(message["id"] in p.name for p in inbox.rglob("*"))
