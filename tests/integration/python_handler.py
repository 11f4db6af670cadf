"""The far side of the python sink in the contract suite: a handler keeping what it got."""

from __future__ import annotations

from adapters.delivery import Delivery

RECEIVED: list[Delivery] = []
"""Every delivery handed over, in order (the suite's setup empties it for each test)."""


async def deliver(delivery: Delivery) -> None:
    """An integrator's handler: here, keep the delivery."""
    RECEIVED.append(delivery)
