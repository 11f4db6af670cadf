from __future__ import annotations

from datetime import UTC, datetime

import pytest

from schemas.envelope import parse_envelope
from schemas.errors import (
    BadSignature,
    KeyExpired,
    KeyNotYetValid,
    KeyRevoked,
    SenderMismatch,
    UnknownKey,
)
from tests.factories import later, make_directory

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def test_a_poc_signature_verifies_to_its_sender() -> None:
    td = make_directory(parties=("GT", "US"), themes=("gangs",))
    raw, jws = td.sign(td.envelope("GT", "gangs", "gang_movement", {}))
    sender = td.directory.verify_message(raw, jws, parse_envelope(raw), at=NOW)
    assert (sender.poc, sender.country, sender.kid) == ("gt-gangs", "GT", "gt-gangs-k1")


@pytest.mark.parametrize(
    ("validity", "error"),
    [
        ({"not_before": later(400)}, KeyNotYetValid),
        ({"not_after": later(10)}, KeyExpired),
        ({"revoked_at": later(100)}, KeyRevoked),
    ],
)
def test_key_validity_is_enforced(validity: dict[str, datetime], error: type[Exception]) -> None:
    td = make_directory(parties=("GT",), themes=("gangs",), key_validity={"gt-gangs-k1": validity})
    raw, jws = td.sign(td.envelope("GT", "gangs", "gang_movement", {}))
    with pytest.raises(error):
        td.directory.verify_message(raw, jws, parse_envelope(raw), at=NOW)


def test_a_key_of_another_poc_is_a_sender_mismatch() -> None:
    td = make_directory(parties=("GT", "HN"), themes=("gangs",))
    message = td.envelope("GT", "gangs", "gang_movement", {})
    raw, jws = td.sign(message, kid="hn-gangs-k1")
    with pytest.raises(SenderMismatch, match="hn-gangs"):
        td.directory.verify_message(raw, jws, parse_envelope(raw), at=NOW)


def test_a_poc_outside_its_theme_is_a_sender_mismatch() -> None:
    td = make_directory(parties=("GT",), themes=("gangs", "narcotics"))
    message = td.envelope("GT", "narcotics", "seizure", {})
    message["sender"]["poc"] = "gt-gangs"
    raw, jws = td.sign(message)
    with pytest.raises(SenderMismatch, match="serves gangs"):
        td.directory.verify_message(raw, jws, parse_envelope(raw), at=NOW)


def test_the_hub_key_cannot_sign_as_a_poc() -> None:
    td = make_directory(parties=("GT",), themes=("gangs",))
    raw, jws = td.sign(td.envelope("GT", "gangs", "gang_movement", {}), kid="hub-k1")
    with pytest.raises(SenderMismatch, match="hub"):
        td.directory.verify_message(raw, jws, parse_envelope(raw), at=NOW)


def test_unknown_key_and_tampered_bytes() -> None:
    td = make_directory(parties=("GT",), themes=("gangs",))
    raw, jws = td.sign(td.envelope("GT", "gangs", "gang_movement", {}))
    with pytest.raises(BadSignature):
        td.directory.verify_message(raw + b" ", jws, parse_envelope(raw), at=NOW)
    other = make_directory(parties=("GT",), themes=("gangs",))
    del other  # a directory without the key
    with pytest.raises(UnknownKey):
        td.directory.key("nobody-k9")


def test_signature_errors_carry_the_kid_and_the_message_id() -> None:
    td = make_directory(parties=("GT", "HN"), themes=("gangs",), key_validity={})
    message = td.envelope("GT", "gangs", "gang_movement", {})
    raw, jws = td.sign(message, kid="hn-gangs-k1")
    with pytest.raises(SenderMismatch) as mismatch:
        td.directory.verify_message(raw, jws, parse_envelope(raw), at=NOW)
    assert (mismatch.value.kid, mismatch.value.message_id) == ("hn-gangs-k1", message["id"])
    raw, jws = td.sign(message)
    with pytest.raises(BadSignature) as bad:
        td.directory.verify_message(raw + b" ", jws, parse_envelope(raw), at=NOW)
    assert (bad.value.kid, bad.value.message_id) == ("gt-gangs-k1", message["id"])


def test_key_validity_errors_name_the_key() -> None:
    td = make_directory(
        parties=("GT",), themes=("gangs",), key_validity={"gt-gangs-k1": {"not_after": later(10)}}
    )
    with pytest.raises(KeyExpired) as info:
        td.directory.key("gt-gangs-k1")[0].check_valid_at(NOW)
    assert info.value.kid == "gt-gangs-k1"
