"""The hub's pipeline tests again, on uvloop: the loop ``enlace up`` runs by default."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
import uvloop

# The module's fixtures come along: pytest finds fixtures by the module they are in.
from tests.integration.test_hub_pipeline import (
    hub,
    js,
    test_a_message_the_hub_keeps_failing_on_is_quarantined_not_lost,
    test_a_second_message_with_an_accepted_id_is_refused_as_duplicate,
    test_each_refusal_notifies_the_sender_quarantines_and_delivers_nothing,
    test_every_decision_is_in_the_audit_log_before_the_ack,
    test_gt_report_reaches_exactly_the_agreed_recipients_in_their_views,
)

pytestmark = pytest.mark.integration

__all__ = [
    "hub",
    "js",
    "test_a_message_the_hub_keeps_failing_on_is_quarantined_not_lost",
    "test_a_second_message_with_an_accepted_id_is_refused_as_duplicate",
    "test_each_refusal_notifies_the_sender_quarantines_and_delivers_nothing",
    "test_every_decision_is_in_the_audit_log_before_the_ack",
    "test_gt_report_reaches_exactly_the_agreed_recipients_in_their_views",
]


# Deprecated in pytest-asyncio 1.x in favour of a conftest hook for every test; kept here so
# that only this module runs on uvloop.
@pytest.fixture(scope="module")
def event_loop_policy() -> Iterator[asyncio.AbstractEventLoopPolicy]:
    yield uvloop.EventLoopPolicy()


async def test_these_tests_run_on_uvloop() -> None:
    assert isinstance(asyncio.get_running_loop(), uvloop.Loop)
