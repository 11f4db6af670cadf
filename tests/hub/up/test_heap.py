"""hub.up.heap: the start-up heap frozen, the young collected less often, and unfrozen again."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from hub.up import heap


@pytest.fixture(autouse=True)
def collector_as_it_was() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


class _Cycle:
    def __init__(self) -> None:
        self.me = self


def test_settle_freezes_what_is_alive_and_collects_the_young_less_often() -> None:
    _, older, oldest = gc.get_threshold()
    heap.settle()
    assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == (heap.YOUNG_THRESHOLD, older, oldest)


def test_a_second_settle_lets_garbage_frozen_by_the_first_go() -> None:
    kept = _Cycle()  # say, the governance in force before a reload
    gone = weakref.ref(kept)
    heap.settle()
    del kept
    gc.collect()
    assert gone() is not None  # frozen: no collection sees it
    heap.settle()  # after the reload
    assert gone() is None
