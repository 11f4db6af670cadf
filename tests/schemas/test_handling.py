"""Handling conditions and consents: what the envelope takes, what a consent proves."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.envelope import parse_envelope
from schemas.errors import BadSignature, InvalidEnvelope, SenderMismatch, UnknownKey
from schemas.handling import (
    NOTE_MAX,
    Conditions,
    Consent,
    SignedConsent,
    condition_fields,
    sign_consent,
    verify_consent,
)
from tests.factories import make_directory
from tests.schemas.test_envelope import VALID

TD = make_directory(parties=("GT", "SV", "HN"), themes=("gangs",))
ORIGINAL = "01JD0000000000000000000000"
AT = datetime(2026, 11, 25, 10, tzinfo=UTC)


def raw(**changes: Any) -> bytes:
    return json.dumps({**VALID, **changes}).encode()


def consent(**fields: Any) -> Consent:
    data: dict[str, Any] = {"message_id": ORIGINAL, "sender": "GT", "by": "SV", "issued_at": AT}
    return Consent.model_validate(data | fields)


# -- the envelope ---------------------------------------------------------------------------------


def test_an_envelope_without_conditions_has_none() -> None:
    env = parse_envelope(raw())
    assert env.conditions is None and env.derived_from is None and env.consents is None
    assert condition_fields(env.conditions) == {"no_onward": False, "not_for_court": False}


def test_conditions_derived_from_and_consents_are_read() -> None:
    signed = sign_consent(consent(), TD.keys["gt-system-k1"], "gt-system-k1")
    env = parse_envelope(
        raw(
            conditions={"no_onward": True, "not_for_court": True, "note": "solo inteligencia"},
            derived_from=[ORIGINAL],
            consents=[signed.model_dump(mode="json")],
        )
    )
    assert env.conditions == Conditions(
        no_onward=True, not_for_court=True, note="solo inteligencia"
    )
    assert env.derived_from == [ORIGINAL]
    assert env.consents == [signed]
    assert condition_fields(env.conditions)["note"] == "solo inteligencia"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"conditions": {"no_onward": "yes"}}, "conditions.no_onward"),
        ({"conditions": {"no_onward": 1}}, "conditions.no_onward"),
        ({"conditions": {"not_for_court": None}}, "conditions.not_for_court"),
        ({"conditions": {"note": ""}}, "conditions.note"),
        ({"conditions": {"note": "x" * (NOTE_MAX + 1)}}, "conditions.note"),
        ({"conditions": {"no_passing": True}}, "conditions.no_passing"),
        ({"conditions": []}, "conditions"),
        ({"derived_from": []}, "derived_from"),
        ({"derived_from": ["not-an-id"]}, "derived_from.0"),
        ({"derived_from": [ORIGINAL] * 51}, "derived_from"),
        ({"consents": []}, "consents"),
        ({"consents": [{"consent": {}, "jws": "x"}]}, "consents.0.consent.message_id"),
        ({"consents": [{"jws": "x"}]}, "consents.0.consent"),
    ],
)
def test_wrong_conditions_are_refused_naming_the_field(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidEnvelope) as caught:
        parse_envelope(raw(**changes))
    assert caught.value.field == field


@settings(max_examples=200, deadline=None)
@given(
    conditions=st.one_of(
        st.none(),
        st.integers(),
        st.text(max_size=20),
        st.lists(st.booleans(), max_size=3),
        st.dictionaries(
            st.sampled_from(["no_onward", "not_for_court", "note", "other"]),
            st.one_of(st.booleans(), st.none(), st.integers(), st.text(max_size=NOTE_MAX + 10)),
            max_size=4,
        ),
    ),
    derived=st.one_of(st.none(), st.lists(st.text(max_size=30), max_size=3)),
)
def test_hostile_conditions_are_read_or_refused_never_crash(conditions: Any, derived: Any) -> None:
    """Whatever comes, the parse gives a valid envelope or an InvalidEnvelope; and what is
    accepted is exactly what the fields allow."""
    try:
        env = parse_envelope(raw(conditions=conditions, derived_from=derived))
    except InvalidEnvelope:
        return
    if env.conditions is not None:
        assert isinstance(conditions, dict) and set(conditions) <= {
            "no_onward",
            "not_for_court",
            "note",
        }
        assert all(
            isinstance(conditions.get(k, False), bool) for k in ("no_onward", "not_for_court")
        )
        assert env.conditions.note is None or 1 <= len(env.conditions.note) <= NOTE_MAX


# -- consents -------------------------------------------------------------------------------------


@pytest.mark.parametrize("kid", ["gt-system-k1", "gt-gangs-k1"])
def test_the_original_senders_keys_sign_a_consent(kid: str) -> None:
    signed = sign_consent(consent(), TD.keys[kid], kid)
    # As it travels: through the message's JSON and back.
    again = SignedConsent.model_validate_json(signed.model_dump_json())
    assert verify_consent(TD.directory, again, AT) == consent()


@pytest.mark.parametrize("kid", ["sv-system-k1", "sv-gangs-k1", "hn-system-k1", "hub-k1"])
def test_a_consent_signed_by_another_country_is_refused(kid: str) -> None:
    signed = sign_consent(consent(), TD.keys[kid], kid)
    with pytest.raises(SenderMismatch):
        verify_consent(TD.directory, signed, AT)


@pytest.mark.parametrize(
    "changed", [{"by": "HN"}, {"message_id": "01JD0000000000000000000001"}, {"sender": "SV"}]
)
def test_a_consent_changed_after_signing_is_refused(changed: dict[str, Any]) -> None:
    signed = sign_consent(consent(), TD.keys["gt-system-k1"], "gt-system-k1")
    forged = SignedConsent(consent=consent(**changed), jws=signed.jws)
    with pytest.raises((BadSignature, SenderMismatch)):
        verify_consent(TD.directory, forged, AT)


def test_a_consent_by_a_key_outside_the_directory_is_refused() -> None:
    signed = sign_consent(consent(), TD.keys["gt-system-k1"], "gt-system-k9")
    with pytest.raises(UnknownKey):
        verify_consent(TD.directory, signed, AT)
