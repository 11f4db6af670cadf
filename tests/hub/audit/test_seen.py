"""The seen-id index of the audit writer (hub.audit.seen): claims, releases, the horizon."""

from __future__ import annotations

from datetime import timedelta

from hub.audit import AuditEntry, kinds
from hub.audit.seen import AMENDED_BY, CLOCK_MARGIN, Arbiter, Claim, SeenIndex

WINDOW = timedelta(hours=24) + timedelta(minutes=5)
DIGEST = "sha256:" + "0" * 64


def entry(message_id: str, ingress: str | None) -> AuditEntry:
    return kinds.received(
        message_id=message_id,
        sender_country="GT",
        poc="poc-gt",
        type_="seizure",
        theme="gangs",
        digest=DIGEST,
        size=10,
        ingress=ingress,
    )


def received(message_id: str, ingress: str | None) -> bytes:
    return entry(message_id, ingress).canonical_at(0)


def test_an_id_is_held_for_the_window_skew_and_margin_then_forgotten() -> None:
    index = SeenIndex(WINDOW + CLOCK_MARGIN)
    index.hold("m-1", "INGRESS_GT-1", at=1000.0)
    horizon = (WINDOW + CLOCK_MARGIN).total_seconds()
    index.expire(1000.0 + horizon - 1)
    assert index.holder("m-1") == "INGRESS_GT-1"
    index.expire(1000.0 + horizon + 1)
    assert index.holder("m-1") is None


def test_claims_of_one_batch_are_decided_in_order() -> None:
    index = SeenIndex(WINDOW)
    index.hold("old", "INGRESS_GT-1", at=0.0)
    claims = [
        Claim("old", "INGRESS_GT-1"),  # its own redelivery
        Claim("old", "INGRESS_HN-1"),  # a replay of an id held before the batch
        Claim("new", "INGRESS_GT-2"),
        Claim("new", "INGRESS_HN-2"),  # a replay of an id claimed earlier in the batch
        Claim("new", "INGRESS_GT-2"),  # the first one's message again
    ]
    index.settle(claims)
    assert [(c.again, c.refused) for c in claims] == [
        (True, False),
        (False, True),
        (False, False),
        (False, True),
        (True, False),
    ]


def test_stored_entries_hold_and_a_give_up_of_the_same_message_releases() -> None:
    index = SeenIndex(WINDOW)
    index.learn_stored([received("m-1", "INGRESS_GT-1"), received("m-2", None)], at=5.0)
    assert index.holder("m-1") == "INGRESS_GT-1"
    assert index.holder("m-2") is None  # an earlier version's entry names no ingress message
    duplicate = kinds.rejected("m-1", "HN", "duplicate", DIGEST, 10, "INGRESS_HN-1")
    gave_up_other = kinds.rejected("m-1", "HN", "hub_error", DIGEST, 10, "INGRESS_HN-1")
    index.learn([duplicate, gave_up_other])
    assert index.holder("m-1") == "INGRESS_GT-1"  # another message's refusal releases nothing
    gave_up = kinds.rejected("m-1", "GT", "hub_error", DIGEST, 10, "INGRESS_GT-1")
    index.learn_stored([gave_up.canonical_at(3)], at=6.0)
    assert index.holder("m-1") is None


def test_a_refused_claim_leaves_its_part_empty_and_a_redelivery_is_marked() -> None:
    class Part:
        def __init__(self, message_id: str, ingress: str) -> None:
            self.entries = [entry(message_id, ingress)]
            self.claim: Claim | None = Claim(message_id, ingress)

    arbiter = Arbiter(WINDOW, clock=lambda: 0.0)
    arbiter.index.hold("m-1", "INGRESS_GT-1", at=0.0)
    parts = [Part("m-1", "INGRESS_GT-1"), Part("m-1", "INGRESS_HN-1"), Part("m-2", "INGRESS_GT-2")]
    entries = arbiter.settle(parts)
    assert [e.message_id for e in entries] == ["m-1", "m-2"]
    assert entries[0].detail is not None and entries[0].detail.startswith("redelivered")
    assert parts[1].entries == [] and parts[1].claim is not None and parts[1].claim.refused


def test_claims_are_decided_against_the_batches_in_flight_ahead_of_them() -> None:
    """What batches ahead hold or release counts as stored (hub.audit.inflight)."""
    index = SeenIndex(WINDOW)
    index.hold("given-up", "INGRESS_GT-1", at=0.0)
    ahead = [
        entry("m-1", "INGRESS_GT-2"),  # claimed ahead, not yet stored
        kinds.rejected("given-up", "GT", "hub_error", DIGEST, 10, "INGRESS_GT-1"),  # released
        entry("m-2", None),  # an entry naming no ingress message claims nothing
    ]
    claims = [
        Claim("m-1", "INGRESS_HN-2"),  # a replay of an id claimed ahead
        Claim("m-1", "INGRESS_GT-2"),  # that message again
        Claim("given-up", "INGRESS_GT-9"),  # free again: released ahead
        Claim("m-2", "INGRESS_GT-3"),
    ]
    index.settle(claims, ahead)
    assert [(c.again, c.refused) for c in claims] == [
        (False, True),
        (True, False),
        (False, False),
        (False, False),
    ]
    assert index.holder("m-1") is None  # nothing is learnt before it is stored


def amendment(message_id: str, amends: str, ingress: str) -> AuditEntry:
    """The ``received`` entry of ``message_id``, a retraction of ``amends``."""
    return entry(message_id, ingress).model_copy(update={"amends": amends, "type": "retraction"})


def test_an_amended_id_stays_taken_when_released_stored_or_in_flight() -> None:
    """The hub gave up on a message and its sender retracted it: a message sent again
    under its id is refused, whether the retraction is stored, read from the log, in a
    batch ahead, or earlier in the same batch; after the horizon the id is free."""
    index = SeenIndex(WINDOW)
    index.learn([entry("x-1", "INGRESS_GT-1")])
    index.learn([kinds.rejected("x-1", "GT", "hub_error", DIGEST, 10, "INGRESS_GT-1")])
    assert index.holder("x-1") is None  # given up: free
    index.learn([amendment("r-1", "x-1", "INGRESS_GT-2")])
    assert index.holder("x-1") == AMENDED_BY + "r-1"
    resent = Claim("x-1", "INGRESS_GT-3")
    index.settle([resent])
    assert (resent.refused, resent.amended_by) == (True, "r-1")

    stored = SeenIndex(WINDOW)  # read from the log, as at start
    stored.learn_stored([amendment("r-2", "x-2", "INGRESS_GT-4").canonical_at(7)], at=100.0)
    assert stored.holder("x-2") == AMENDED_BY + "r-2"
    stored.expire(100.0 + WINDOW.total_seconds() + 1)
    assert stored.holder("x-2") is None

    ahead = SeenIndex(WINDOW)
    in_flight = Claim("x-3", "INGRESS_GT-5")
    ahead.settle([in_flight], [amendment("r-3", "x-3", "INGRESS_GT-6")])
    assert (in_flight.refused, in_flight.amended_by) == (True, "r-3")

    same = SeenIndex(WINDOW)
    claims = [Claim("r-4", "INGRESS_GT-7", amends="x-4"), Claim("x-4", "INGRESS_GT-8")]
    same.settle(claims)
    assert [(c.refused, c.amended_by) for c in claims] == [(False, None), (True, "r-4")]


def test_an_amended_id_still_held_by_its_message_is_that_messages_redelivery() -> None:
    """A correction of a message the hub still holds changes nothing for that message."""
    index = SeenIndex(WINDOW)
    index.learn([entry("x-5", "INGRESS_GT-1"), amendment("r-5", "x-5", "INGRESS_GT-2")])
    again = Claim("x-5", "INGRESS_GT-1")
    index.settle([again])
    assert (again.again, again.refused) == (True, False)
