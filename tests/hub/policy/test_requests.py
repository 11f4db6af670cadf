"""The hub remembers requests (and only requests) to route their replies."""

from __future__ import annotations

from hub.policy.requests import InMemoryRequestMemory, RequestMemory, is_request
from schemas.envelope import Envelope
from tests.factories import make_directory

TD = make_directory(parties=("GT", "US"), themes=("small_arms",))


def test_requests_are_remembered_and_other_messages_are_not() -> None:
    memory = InMemoryRequestMemory()
    assert isinstance(memory, RequestMemory)
    request = Envelope.model_validate(
        TD.envelope("GT", "small_arms", "firearm_trace_request", {"x": 1})
    )
    other = Envelope.model_validate(TD.envelope("GT", "small_arms", "seizure", {"x": 1}))
    assert is_request(request) and not is_request(other)
    memory.remember_envelope(request)
    memory.remember_envelope(other)
    assert memory.requester_of(request.id) == "GT"
    assert memory.requester_of(other.id) is None
