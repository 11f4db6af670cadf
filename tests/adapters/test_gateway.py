"""The HTTP gateway's answers: 202 with the id, or the right 4xx and reason code."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from adapters.errors import IngressFull, OutcomeNotPermitted
from adapters.keys import Signer
from adapters.sources.gateway import TokenStore, create_gateway_app
from adapters.sources.openapi import gateway_openapi
from adapters.sources.prepare import Prepared, PublishReceipt, prepare_message
from schemas.errors import REASON_CODES, EnlaceError
from schemas.jws import sign_detached
from schemas.limits import IngressQuota
from schemas.outcomes import Outcome, OutcomeStatus, RecipientView
from tests.adapters.gatewaykit import SourceSetup, gang_message, source_setup
from tests.factories import make_directory

MAX = 64 * 1024
HOSTILE_TD = make_directory(parties=("GT",), themes=("gangs",))


class RecordingPublisher:
    """In-memory double of the INGRESS publisher and of the hub's kept outcomes (the NATS
    path has its own test)."""

    def __init__(self) -> None:
        self.published: list[tuple[bytes, str]] = []
        self.kept: dict[tuple[str, str], Outcome] = {}
        self.asked: list[tuple[str, str]] = []

    async def publish(self, prepared: Prepared, signer: Signer) -> PublishReceipt:
        self.published.append((prepared.raw, sign_detached(prepared.raw, signer.key, signer.kid)))
        return PublishReceipt(prepared.id, "enlace.in.GT.gangs.gang_movement", 1, False)

    async def outcome(self, message_id: str, country: str) -> Outcome | None:
        self.asked.append((message_id, country))
        return self.kept.get((message_id, country))


@pytest.fixture
def setup(tmp_path: Path) -> SourceSetup:
    return source_setup(tmp_path)


@pytest.fixture
def publisher() -> RecordingPublisher:
    return RecordingPublisher()


@pytest.fixture
def token(tmp_path: Path, setup: SourceSetup) -> str:
    return TokenStore(tmp_path / "tokens.json").issue(setup.poc)


@pytest.fixture
def client(
    tmp_path: Path, setup: SourceSetup, publisher: RecordingPublisher
) -> Iterator[TestClient]:
    app = create_gateway_app(
        lambda: setup.td.directory,
        TokenStore(tmp_path / "tokens.json"),
        setup.keys_dir,
        lambda: publisher,
        max_bytes=MAX,
    )
    with TestClient(app) as client:
        yield client


def post(client: TestClient, body: bytes, token: str | None) -> tuple[int, dict[str, str]]:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    response = client.post("/v1/messages", content=body, headers=headers)
    return response.status_code, response.json()


def test_accepts_signs_and_publishes(
    client: TestClient, token: str, setup: SourceSetup, publisher: RecordingPublisher
) -> None:
    status, answer = post(client, json.dumps(gang_message()).encode(), token)
    assert status == 202
    assert answer["status"] == "accepted"
    [(raw, jws)] = publisher.published
    sent = json.loads(raw)
    assert sent["id"] == answer["id"]
    assert sent["sender"] == {"country": "GT", "agency": "Agency of GT", "poc": setup.poc}
    # What was published is signed by the POC's directory key, as the hub will check.
    from schemas.envelope import parse_envelope

    setup.td.directory.verify_message(raw, jws, parse_envelope(raw))


@pytest.mark.parametrize("token_value", [None, "", "not-a-token"])
def test_bad_token_is_401(client: TestClient, token_value: str | None) -> None:
    status, answer = post(client, json.dumps(gang_message()).encode(), token_value)
    assert (status, answer["reason"]) == (401, "bad_token")


def test_bad_json_is_400(client: TestClient, token: str) -> None:
    status, answer = post(client, b'{"type": "gang_movement",', token)
    assert (status, answer["reason"]) == (400, "malformed_json")


def test_schema_error_is_422(client: TestClient, token: str) -> None:
    message = gang_message()
    message["payload"]["movement"] = "teleporting"
    status, answer = post(client, json.dumps(message).encode(), token)
    assert (status, answer["reason"]) == (422, "schema_invalid")
    assert "movement" in answer["detail"]


def test_a_key_given_twice_is_422_and_nothing_is_signed(
    client: TestClient, token: str, publisher: RecordingPublisher
) -> None:
    # A plain json.loads would keep "green", and the gateway would sign what the national
    # system may have meant as red.
    text = json.dumps(gang_message(handling="red"))
    body = text.replace('"handling": "red"', '"handling": "red", "handling": "green"').encode()
    status, answer = post(client, body, token)
    assert (status, answer["reason"]) == (422, "duplicate_key")
    assert "handling appears twice" in answer["detail"]
    assert publisher.published == []


def test_oversize_body_is_413(
    client: TestClient, token: str, publisher: RecordingPublisher
) -> None:
    message = gang_message()
    message["payload"]["summary"] = "x" * (MAX + 1)
    status, answer = post(client, json.dumps(message).encode(), token)
    assert (status, answer["reason"]) == (413, "too_large")
    assert publisher.published == []


def test_message_naming_another_poc_is_403(client: TestClient, token: str) -> None:
    message = gang_message(sender={"country": "SV", "agency": "x", "poc": "sv-gangs"})
    status, answer = post(client, json.dumps(message).encode(), token)
    assert (status, answer["reason"]) == (403, "sender_mismatch")


def test_tokens_are_stored_hashed(tmp_path: Path, token: str) -> None:
    stored = (tmp_path / "tokens.json").read_text()
    assert token not in stored
    assert TokenStore(tmp_path / "tokens.json").poc_for(token) == "gt-gangs"


def test_oversize_chunked_body_without_length_is_413(client: TestClient, token: str) -> None:
    chunks = iter([b'{"type": "gang_movement", "x": "', b"x" * MAX, b'"}'])
    response = client.post(
        "/v1/messages", content=chunks, headers={"Authorization": f"Bearer {token}"}
    )
    assert (response.status_code, response.json()["reason"]) == (413, "too_large")


@settings(max_examples=300, deadline=None)
@given(
    body=st.binary(max_size=400)
    | st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=20),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
        max_leaves=12,
    ).map(lambda v: json.dumps(v).encode())
)
def test_hostile_bodies_get_a_reason_code_never_a_crash(body: bytes) -> None:
    poc = HOSTILE_TD.directory.poc("gt-gangs")
    assert poc is not None
    try:
        prepare_message(body, poc, MAX)
    except EnlaceError as err:
        assert err.code in REASON_CODES or err.code == "sender_mismatch"


class FullPublisher(RecordingPublisher):
    """The country's ingress quota is full: JetStream refuses every publish."""

    async def publish(self, prepared: Prepared, signer: Signer) -> PublishReceipt:
        raise IngressFull(
            "GT", "INGRESS_GT", IngressQuota(1000, 3), "maximum messages exceeded", prepared.id
        )


def test_a_full_ingress_quota_is_429_with_retry_after(
    tmp_path: Path, setup: SourceSetup, token: str
) -> None:
    app = create_gateway_app(
        lambda: setup.td.directory,
        TokenStore(tmp_path / "tokens.json"),
        setup.keys_dir,
        FullPublisher,
        max_bytes=MAX,
    )
    with TestClient(app) as client:
        response = client.post(
            "/v1/messages",
            content=json.dumps(gang_message()).encode(),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        )
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0
    answer = response.json()
    assert answer["reason"] == "ingress_full"
    assert "GT's ingress quota is full (1000 bytes / 3 messages in flight" in answer["detail"]
    assert "try again later" in answer["detail"]


def test_serves_its_openapi_document_without_a_token(client: TestClient) -> None:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    document = response.json()
    assert document == gateway_openapi(max_bytes=MAX)
    assert f"At most {MAX} bytes" in document["info"]["description"]


def get_outcome(client: TestClient, message_id: str, token: str | None) -> tuple[int, Any]:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    response = client.get(f"/v1/messages/{message_id}/outcome", headers=headers)
    return response.status_code, response.json()


def test_the_outcome_of_a_message_is_read_for_the_tokens_country(
    client: TestClient, token: str, publisher: RecordingPublisher
) -> None:
    said = Outcome(
        message_id="01JDZ8Y5J3M8X7Q2C4V6B9N0PA",
        status=OutcomeStatus.ACCEPTED,
        at=datetime(2026, 12, 6, 1, 0, tzinfo=UTC),
        description="delivered to SV",
        recipients=(RecipientView(country="SV", view="full", agreement="gt-sv"),),
    )
    publisher.kept[(said.message_id, "GT")] = said

    assert get_outcome(client, said.message_id, token) == (200, said.to_dict())
    status, answer = get_outcome(client, "01JDZ8Y5J3M8X7Q2C4V6B9N0PB", token)
    assert (status, answer["reason"]) == (404, "no_such_outcome")
    assert "expired" in answer["detail"]
    assert publisher.asked == [(said.message_id, "GT"), ("01JDZ8Y5J3M8X7Q2C4V6B9N0PB", "GT")]


@pytest.mark.parametrize("token_value", [None, "not-a-token"])
def test_an_outcome_without_a_valid_token_is_401_and_nothing_is_read(
    client: TestClient, token_value: str | None, publisher: RecordingPublisher
) -> None:
    status, answer = get_outcome(client, "01JDZ8Y5J3M8X7Q2C4V6B9N0PA", token_value)
    assert (status, answer["reason"]) == (401, "bad_token")
    assert publisher.asked == []


def test_an_outcome_the_gateways_login_may_not_read_is_403(
    tmp_path: Path, setup: SourceSetup, token: str, publisher: RecordingPublisher
) -> None:
    class NotMine(RecordingPublisher):
        async def outcome(self, message_id: str, country: str) -> Outcome | None:
            raise OutcomeNotPermitted(message_id, country)

    app = create_gateway_app(
        lambda: setup.td.directory,
        TokenStore(tmp_path / "tokens.json"),
        setup.keys_dir,
        NotMine,
        max_bytes=MAX,
    )
    with TestClient(app) as client:
        status, answer = get_outcome(client, "01JDZ8Y5J3M8X7Q2C4V6B9N0PA", token)
    assert (status, answer["reason"]) == (403, "outcome_not_permitted")
