"""hub.pipeline.amendments: the routing record and the checks, over an in-memory bucket."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError

from hub.errors import AmendsClosed, AmendsForeign, AmendsMismatch, AmendsUnknown
from hub.pipeline.amendments import ROUTES_BUCKET, Amendment, AmendmentIndex, RoutedRecord
from hub.pipeline.replay import kv_key
from hub.policy import Decision, Route
from hub.policy.model import FULL_VIEW, ViewSpec
from schemas.amendments import HDR_AMENDS, HDR_ORIGINAL_ID, HDR_VERSION
from schemas.envelope import Envelope, Sender
from schemas.message import new_message

PARTIES = ("GT", "HN", "SV", "US")
REDACTED = ViewSpec(name="no-persons", drop=("payload.persons",))
ROUTES = (
    Route("SV", FULL_VIEW, "gangs-ca", 0, "#0"),
    Route("US", REDACTED, "gangs-ca", 1, "to-us"),
)


@dataclass
class _Entry:
    value: bytes
    revision: int


class MemoryKv:
    """The bucket's get and compare-and-set update, and the writes applied as the KV
    stream would store them; each write is the stream's next sequence (a key's revision)."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}
        self.revisions: dict[str, int] = {}
        self.sequence = 0

    async def get(self, key: str) -> _Entry:
        if key not in self.data:
            raise KeyNotFoundError
        return _Entry(self.data[key], self.revisions.get(key, 0))

    async def update(self, key: str, value: bytes, last: int) -> int:
        if self.revisions.get(key, 0) != last:
            raise KeyWrongLastSequenceError
        return self.put(key, value)

    def put(self, key: str, value: bytes) -> int:
        self.sequence += 1
        self.data[key], self.revisions[key] = value, self.sequence
        return self.sequence

    def apply(self, writes: list[Any]) -> None:
        for w in writes:
            prefix = f"$KV.{ROUTES_BUCKET}."
            assert w.subject.startswith(prefix)
            self.put(w.subject[len(prefix) :], w.body)


def envelope(cc: str = "GT", type_: str = "gang_movement", **fields: Any) -> Envelope:
    sender = Sender(country=cc, agency=f"Agency of {cc}", poc=f"{cc.lower()}-gangs")
    return Envelope.model_validate(new_message(type_, sender, "gangs", **fields))


def retraction(original_id: str, cc: str = "GT") -> Envelope:
    payload = {"original_id": original_id, "reason": "error"}
    return envelope(cc, "retraction", payload=payload)


async def record(
    kv: MemoryKv, index: AmendmentIndex, message: Envelope, decision: Decision, plan: Any = None
) -> None:
    """Store what the pipeline writes for ``message`` routed by ``decision``: the mark of
    what it amends (before its claim), then its own record (its claim, or beside its
    deliveries)."""
    own = index.own_record(message, decision, plan, f"INGRESS_GT-{len(kv.data) + 1}")
    if plan is not None:
        await index.mark(message, plan)
    kv.apply(await index.own_writes(own, again=False))


async def fix_planned(index: AmendmentIndex, original: Envelope) -> tuple[Envelope, Amendment]:
    """A correction of ``original`` and its plan."""
    fix = envelope(corrects=original.id)
    plan = await index.plan(fix, PARTIES)
    assert plan is not None
    return fix, plan


async def routed(kv: MemoryKv, index: AmendmentIndex) -> Envelope:
    original = envelope()
    await record(kv, index, original, Decision(original.id, recipients=list(ROUTES)))
    return original


def test_a_record_reads_back_as_written() -> None:
    kept = RoutedRecord("01JD5Z8Q4M7X2V9K3N6P0R1S2T", "GT", "gangs", "seizure", "x", 2, ROUTES)
    assert RoutedRecord.from_json(kept.message_id, kept.to_json()) == kept


@given(st.text(max_size=40), st.integers(min_value=1, max_value=10**6), st.booleans())
def test_records_of_any_flow_name_and_version_read_back(
    name: str, version: int, released: bool
) -> None:
    routes = (Route("HN", REDACTED, "a", 3, name),)
    kept = RoutedRecord("m", "GT", "gangs", "seizure", "o", version, routes, "n", None, name)
    kept = replace(kept, released=released)
    assert RoutedRecord.from_json("m", kept.to_json()) == kept


async def test_a_released_original_is_amended_and_its_correction_is_not_released() -> None:
    """The hub gave up on the original after its claim (its record kept, marked released):
    its routes still take a correction, whose own record holds its id as any other."""
    kv = MemoryKv()
    index = AmendmentIndex(kv)  # type: ignore[arg-type]
    original = await routed(kv, index)
    key = kv_key(original.id)
    kept = RoutedRecord.from_json(original.id, kv.data[key])
    kv.data[key] = replace(kept, released=True).to_json()
    fix = envelope(corrects=original.id)
    plan = await index.plan(fix, PARTIES)
    assert plan is not None and plan.decision.recipients == list(ROUTES)
    own = index.own_record(fix, plan.decision, plan, "INGRESS_GT-9")
    assert (own.released, own.routes, own.ingress) == (False, ROUTES, "INGRESS_GT-9")


async def test_an_original_nobody_received_cannot_be_amended() -> None:
    kv = MemoryKv()
    index = AmendmentIndex(kv)  # type: ignore[arg-type]
    original = envelope()
    own = index.own_record(original, Decision(original.id), None, "INGRESS_GT-1")
    assert await index.own_writes(own, again=False) == []  # nothing beside the claim
    kv.data[kv_key(original.id)] = own.to_json()  # what the claim of its id keeps
    with pytest.raises(AmendsUnknown):
        await index.plan(retraction(original.id), PARTIES)


async def test_a_correction_goes_to_the_recorded_routes_and_chains() -> None:
    kv = MemoryKv()
    index = AmendmentIndex(kv)  # type: ignore[arg-type]
    original = await routed(kv, index)
    fix, plan = await fix_planned(index, original)
    assert plan.decision.recipients == list(ROUTES)  # same views, same agreement
    # Every other party is on the record as not reached, and why.
    assert {r.recipient: r.reason for r in plan.decision.excluded} == {
        "GT": "sender_self",
        "HN": "not_amended_recipient",
    }
    assert plan.headers[HDR_VERSION] == "2" and plan.headers[HDR_AMENDS] == original.id
    await record(kv, index, fix, plan.decision, plan)
    again = await index.plan(fix, PARTIES)  # a redelivery of the same correction passes
    assert again is not None and again.version == 2
    await record(kv, index, fix, again.decision, again)  # and writes its records again
    fix2 = envelope(corrects=fix.id)
    plan2 = await index.plan(fix2, PARTIES)
    assert plan2 is not None
    assert (plan2.version, plan2.headers[HDR_ORIGINAL_ID]) == (3, original.id)
    with pytest.raises(AmendsClosed) as closed:
        await index.plan(envelope(corrects=original.id), PARTIES)  # v1 is superseded
    assert closed.value.latest == fix.id


async def test_a_retraction_goes_in_full_and_closes_the_message() -> None:
    kv = MemoryKv()
    index = AmendmentIndex(kv)  # type: ignore[arg-type]
    original = await routed(kv, index)
    withdraw = retraction(original.id)
    plan = await index.plan(withdraw, PARTIES)
    assert plan is not None
    assert [(r.recipient, r.view.name, r.agreement) for r in plan.decision.recipients] == [
        ("SV", "full", "gangs-ca"),
        ("US", "full", "gangs-ca"),
    ]
    await record(kv, index, withdraw, plan.decision, plan)
    assert kv.data[kv_key(original.id)]
    with pytest.raises(AmendsClosed):
        await index.plan(envelope(corrects=original.id), PARTIES)
    with pytest.raises(AmendsClosed):
        await index.plan(retraction(original.id), PARTIES)  # another retraction
    assert await index.plan(withdraw, PARTIES) is not None  # its own redelivery
    with pytest.raises(AmendsUnknown):  # a retraction is amended by nothing
        await index.plan(retraction(withdraw.id), PARTIES)


async def test_refusals() -> None:
    kv = MemoryKv()
    index = AmendmentIndex(kv)  # type: ignore[arg-type]
    original = await routed(kv, index)
    with pytest.raises(AmendsUnknown):
        await index.plan(retraction("01JD5Z8Q4M7X2V9K3N6P0R1S2T"), PARTIES)
    with pytest.raises(AmendsForeign):
        await index.plan(retraction(original.id, cc="SV"), PARTIES)
    with pytest.raises(AmendsMismatch):
        await index.plan(envelope(type_="information_request", corrects=original.id), PARTIES)
    itself = envelope()
    with pytest.raises(AmendsUnknown):
        await index.plan(itself.model_copy(update={"corrects": itself.id}), PARTIES)
    assert await index.plan(envelope(), PARTIES) is None  # amends nothing


async def test_a_mark_expects_the_revision_read_and_refuses_a_second_amendment() -> None:
    """Two corrections planned from the same reading: the first marks, the second finds
    the version closed; a record changed otherwise meanwhile is marked all the same."""
    kv = MemoryKv()
    index = AmendmentIndex(kv)  # type: ignore[arg-type]
    original = await routed(kv, index)
    (first, plan1), (second, plan2) = [await fix_planned(index, original) for _ in "12"]
    key = kv_key(original.id)
    kv.put(key, kv.data[key])  # rewritten meanwhile (a redelivery's refresh), still open
    await index.mark(first, plan1)
    assert RoutedRecord.from_json(original.id, kv.data[key]).superseded_by == first.id
    written = kv.sequence
    await index.mark(first, plan1)  # its redelivery: its own mark is there already
    assert kv.sequence == written
    with pytest.raises(AmendsClosed) as closed:
        await index.mark(second, plan2)
    assert closed.value.latest == first.id
    assert RoutedRecord.from_json(original.id, kv.data[key]).superseded_by == first.id


async def test_a_redelivered_records_refresh_keeps_the_mark_made_meanwhile() -> None:
    """``seen_ids: audit``: the original is redelivered after a correction marked it."""
    kv = MemoryKv()
    index = AmendmentIndex(kv)  # type: ignore[arg-type]
    original = await routed(kv, index)
    fix, plan = await fix_planned(index, original)
    await index.mark(fix, plan)
    own = index.own_record(original, Decision(original.id, recipients=list(ROUTES)), None, "x")
    assert await index.own_writes(own, again=True) == []  # refreshed in place, not blind
    kept = RoutedRecord.from_json(original.id, kv.data[kv_key(original.id)])
    assert (kept.superseded_by, kept.ingress) == (fix.id, "x")
