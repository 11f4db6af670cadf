"""Pure pieces of the pipeline: sender token, ordering key, outcomes, window, quarantine."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from nats.aio.msg import Msg

from hub.config import HubSettings
from hub.deployment import Deployment
from hub.errors import ConfigError, MessageFromFuture, MessageTooOld
from hub.pipeline.checks import Checked, check, ingress_ref
from hub.pipeline.quarantine import (
    HDR_INGRESS_SEQ,
    HDR_INGRESS_STREAM,
    HDR_ORIGINAL_MSG_ID,
    HDR_TRUNCATED,
    quarantine_record,
)
from hub.pipeline.replay import check_window, kv_key
from hub.server.logins import HUB_USER, ensure_credentials, load_user, party_permissions
from schemas.limits import headers_size, wire_limit
from schemas.subjects import HDR_MSG_ID, HDR_REASON, HDR_SIGNATURE, sender_token
from tests.integration.hubkit import governance, signed_message

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
TD = governance()[0]


def msg(subject: str, body: Any, seq_headers: dict[str, str] | None = None) -> Msg:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return Msg(_client=None, subject=subject, data=data, headers=seq_headers)  # type: ignore[arg-type]  # no client needed to read a message


@pytest.mark.parametrize(
    ("subject", "cc"),
    [
        ("enlace.in.GT.gangs.gang_movement", "GT"),
        ("enlace.in.gt.gangs.x", "XX"),
        ("enlace.in", "XX"),
        ("enlace.in.GTM.gangs.x", "XX"),
    ],
)
def test_sender_token_is_the_subject_country_or_xx(subject: str, cc: str) -> None:
    assert sender_token(subject) == cc


def checked(subject: str, body: Any, headers: dict[str, str] | None = None) -> Checked:
    return check(msg(subject, body, headers), TD.directory, HubSettings(), datetime.now(UTC))


def test_messages_of_one_correlation_thread_share_an_ordering_key() -> None:
    subject = "enlace.in.GT.gangs.gang_movement"
    _, raw_a, jws_a = signed_message(TD, correlation_id="case-1")
    _, raw_b, jws_b = signed_message(TD, correlation_id="case-1")
    _, raw_c, jws_c = signed_message(TD)
    a = checked(subject, raw_a, {HDR_SIGNATURE: jws_a})
    b = checked(subject, raw_b, {HDR_SIGNATURE: jws_b})
    c = checked(subject, raw_c, {HDR_SIGNATURE: jws_c})
    d = checked(subject, b"not json")
    assert a.refusal is None and b.refusal is None and d.refusal is not None
    assert a.thread_key == b.thread_key == "GT:case-1"
    assert len({a.thread_key, c.thread_key, d.thread_key}) == 3


@given(st.binary(max_size=300), st.dictionaries(st.text(max_size=20), st.text(max_size=80)))
def test_checks_never_raise_on_hostile_bytes_and_headers(
    data: bytes, headers: dict[str, str]
) -> None:
    result = checked("enlace.in.GT.gangs.x", data, headers)
    assert result.refusal is not None and result.failure is None
    assert result.thread_key and result.message_id


def test_acceptance_window_and_clock_skew() -> None:
    window, skew = timedelta(hours=24), timedelta(minutes=5)
    check_window("m", NOW - timedelta(hours=23), NOW, window, skew)
    check_window("m", NOW + timedelta(minutes=4), NOW, window, skew)
    with pytest.raises(MessageTooOld, match="m was issued"):
        check_window("m", NOW - timedelta(hours=25), NOW, window, skew)
    with pytest.raises(MessageFromFuture, match="clock"):
        check_window("m", NOW + timedelta(minutes=6), NOW, window, skew)


def test_window_refusals_carry_the_message_id() -> None:
    window, skew = timedelta(hours=24), timedelta(minutes=5)
    with pytest.raises(MessageTooOld) as old:
        check_window("m-1", NOW - timedelta(hours=25), NOW, window, skew)
    with pytest.raises(MessageFromFuture) as future:
        check_window("m-2", NOW + timedelta(minutes=6), NOW, window, skew)
    assert (old.value.message_id, future.value.message_id) == ("m-1", "m-2")


@given(st.text(max_size=40))
def test_kv_key_is_the_id_with_each_other_character_neutralised(text: str) -> None:
    expected = "".join(c if c.isalnum() or c in "-_" else "_" for c in text)
    assert kv_key(text) == expected
    assert len(kv_key(text)) == len(text)


def test_kv_key_keeps_ids_and_neutralises_other_characters() -> None:
    assert kv_key("01J8ZABC") == "01J8ZABC"
    assert kv_key("0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b") == "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"
    assert kv_key("a.b*c>") == "a_b_c_"


def test_quarantine_keeps_headers_and_replaces_the_dedup_id() -> None:
    subject, body, headers = quarantine_record(
        "GT",
        ("enlace.in.GT.gangs.x", "INGRESS_GT", 42),
        {HDR_MSG_ID: "01ABC", "Enlace-Signature": "jws"},
        b"{}",
        ("bad_signature", "the signature\ndoes not hold"),
        wire_limit(1024 * 1024),
    )
    assert subject == "enlace.quarantine.GT"
    assert body == b"{}"
    assert headers[HDR_MSG_ID] == "INGRESS_GT-42:quarantine"
    assert (headers[HDR_INGRESS_STREAM], headers[HDR_INGRESS_SEQ]) == ("INGRESS_GT", "42")
    assert headers[HDR_ORIGINAL_MSG_ID] == "01ABC"
    assert headers[HDR_REASON] == "bad_signature"
    assert headers["Enlace-Signature"] == "jws"
    assert "\n" not in headers["Enlace-Reason-Description"]


def test_ingress_messages_are_named_by_stream_and_sequence() -> None:
    # Sequences restart in each country's stream: GT's 42 is not HN's 42.
    assert ingress_ref("INGRESS_GT", 42) != ingress_ref("INGRESS_HN", 42)
    # The one INGRESS of earlier versions keeps its names: redeliveries after an upgrade
    # repeat the same Nats-Msg-Ids (and its claims stored the bare sequence).
    assert ingress_ref("INGRESS", 42) == "in42"


@pytest.mark.parametrize(
    ("headers", "body_size"),
    [
        # The original used all of the wire limit with its headers: they are dropped.
        ({"Big": "h" * 63_000}, 1024 * 1024 + 64 * 1024 - 63_100),
        ({}, 1024 * 1024 + 64 * 1024 - 20),  # a body as large as the server lets through
    ],
)
def test_a_quarantine_copy_fits_in_one_nats_message(
    headers: dict[str, str], body_size: int
) -> None:
    limit = wire_limit(1024 * 1024)
    body = b"x" * body_size
    _, kept, out = quarantine_record(
        "GT",
        ("enlace.in.GT.gangs.x", "INGRESS_GT", 1),
        headers,
        body,
        ("too_large", "message is too large " * 40),
        limit,
    )
    wire = len(kept) + headers_size(out)
    assert wire <= limit
    assert "Big" not in out
    assert kept == body[: len(kept)]  # a prefix of the exact bytes, never other bytes
    if len(kept) < len(body):
        assert out[HDR_TRUNCATED] == str(len(body))


def test_a_country_may_publish_only_under_its_own_code() -> None:
    perms = party_permissions("GT", ["sink-GT-folder"])
    allowed = perms["publish"]["allow"]
    assert "enlace.in.GT.>" in allowed
    assert not any(".SV" in subject for subject in allowed)
    assert not any("INGRESS" in subject for subject in allowed)
    assert perms["subscribe"]["allow"] == [
        "_INBOX.GT.>",
        "enlace.outcome.GT.>",
        "enlace.rejected.GT",
    ]


def test_credentials_are_kept_private_and_stable(tmp_path: Path) -> None:
    dep = Deployment(tmp_path)
    first = ensure_credentials(dep, ["GT"])
    again = ensure_credentials(dep, ["GT", "SV"])
    assert again["GT"] == first["GT"] and "SV" in again and HUB_USER in again
    assert (tmp_path / "nats" / "seeds" / "SV.nk").stat().st_mode & 0o077 == 0
    user = load_user(dep, "SV")
    assert user.connect_options()["inbox_prefix"] == "_INBOX.SV"
    assert user.seed_file.read_text().strip() not in repr(user)
    with pytest.raises(ConfigError, match="no NATS login for 'MX'"):
        load_user(dep, "MX")
