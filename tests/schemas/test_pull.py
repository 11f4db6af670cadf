"""The shared fetch (schemas.pull) against an in-memory subscription: what it keeps and raises."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import pytest

from schemas.pull import FULL_FETCH, QUICK_FETCH, fetch_first_then_rest

T = TypeVar("T")


class Sub:
    """Answers each fetch with the next scripted result: a list of messages, or an error."""

    def __init__(self, *answers: list[int] | Exception) -> None:
        self.answers = deque(answers)
        self.asked: list[tuple[int, float | None]] = []

    async def fetch(self, batch: int = 1, timeout: float | None = 5) -> list[int]:  # noqa: ASYNC109
        self.asked.append((batch, timeout))
        answer = self.answers.popleft()
        if isinstance(answer, Exception):
            raise answer
        return answer[:batch]


def rest_of(n: int, calls: list[int] | None = None) -> Callable[[], Awaitable[int]]:
    async def rest() -> int:
        if calls is not None:
            calls.append(n)
        return n

    return rest


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def test_first_with_the_long_poll_then_the_rest_at_once() -> None:
    sub = Sub([1], [2, 3, 4])
    fetched = run(fetch_first_then_rest(sub, 7.0, rest_of(3)))
    assert fetched.msgs == [1, 2, 3, 4] and fetched.failure is None
    assert sub.asked == [(1, 7.0), (3, QUICK_FETCH)]


def test_nothing_within_the_poll_raises_timeout_and_asks_for_no_room() -> None:
    calls: list[int] = []
    with pytest.raises(TimeoutError):
        run(fetch_first_then_rest(Sub(TimeoutError()), 1.0, rest_of(5, calls)))
    assert calls == []


def test_a_failed_first_fetch_propagates() -> None:
    with pytest.raises(ConnectionError):
        run(fetch_first_then_rest(Sub(ConnectionError("gone")), 1.0, rest_of(5)))


def test_no_room_left_sends_the_first_alone() -> None:
    sub = Sub([1])
    assert run(fetch_first_then_rest(sub, 1.0, rest_of(0))).msgs == [1]
    assert sub.asked == [(1, 1.0)]


def test_the_first_is_kept_when_the_rest_times_out_or_fails() -> None:
    assert run(fetch_first_then_rest(Sub([1], TimeoutError()), 1.0, rest_of(4))).msgs == [1]
    failed = run(fetch_first_then_rest(Sub([1], ConnectionError("gone")), 1.0, rest_of(4)))
    assert failed.msgs == [1]
    assert isinstance(failed.failure, ConnectionError)


def test_the_rest_may_be_given_longer() -> None:
    sub = Sub([1], [2, 3])
    assert run(fetch_first_then_rest(sub, 1.0, rest_of(2), FULL_FETCH)).msgs == [1, 2, 3]
    assert sub.asked == [(1, 1.0), (2, FULL_FETCH)]


def test_a_first_message_with_nothing_behind_it_goes_alone_without_a_second_fetch() -> None:
    calls: list[int] = []
    sub = Sub([1], [2])
    fetched = run(fetch_first_then_rest(sub, 1.0, rest_of(4, calls), more=lambda m: m > 1))
    assert fetched.msgs == [1] and sub.asked == [(1, 1.0)] and calls == []
    sub = Sub([2], [3, 4])  # something behind it: the rest is fetched as before
    fetched = run(fetch_first_then_rest(sub, 1.0, rest_of(4, calls), more=lambda m: m > 1))
    assert fetched.msgs == [2, 3, 4] and sub.asked == [(1, 1.0), (4, QUICK_FETCH)]
