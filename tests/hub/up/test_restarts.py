"""hub.up.restarts: a bounded restart budget with back-off (times given, none waited)."""

from __future__ import annotations

from hub.up.restarts import RestartBudget


def test_each_restart_waits_twice_as_long_until_the_budget_is_spent() -> None:
    budget = RestartBudget(attempts=5, window=60.0, first_delay=0.25, max_delay=2.0)
    delays = [budget.next_delay(float(t)) for t in range(6)]
    assert delays == [0.25, 0.5, 1.0, 2.0, 2.0, None]
    assert budget.used == 5


def test_a_quiet_window_gives_the_budget_back() -> None:
    budget = RestartBudget(attempts=2, window=10.0)
    assert budget.next_delay(0.0) is not None
    assert budget.next_delay(1.0) is not None
    assert budget.next_delay(5.0) is None
    # The first restart leaves the window: one more is allowed, at the second pause.
    assert budget.next_delay(10.5) == budget.first_delay * 2
    assert budget.next_delay(30.0) == budget.first_delay
