"""The garbage collector of a process that runs the hub: set for a large heap that lasts.

Once started, the hub's process holds hundreds of thousands of objects that live as long
as it does: the governance and its compiled policy, the schemas' validators, pydantic's
models, pycountry's tables, the console. CPython's cyclic collector walks them again
every time the young objects have been collected ten times over (and the young ones every
700 allocations), while each message makes thousands of short-lived objects. Measured in
``bench/bench_hub.py`` on the 2-core bench machine (3,000 messages, 3 runs): the collector
took 0.10-0.13 ms of CPU per message; with the start-up heap frozen (:func:`gc.freeze`)
0.06-0.07 ms, with the young generation collected every 10,000 allocations instead of 700
0.01-0.03 ms, with both 0.002-0.016 ms.

:func:`settle` does both once the hub has started, and again after each governance reload
(the old governance is then unfrozen first, so that it can be collected). Objects made
after it are collected as before, only in larger rounds; reference counting still frees
almost everything at once.
"""

from __future__ import annotations

import gc

__all__ = ["YOUNG_THRESHOLD", "settle"]

YOUNG_THRESHOLD = 10_000
"""Allocations (net of frees) between two collections of the youngest generation."""


def settle() -> None:
    """Collect, then freeze what is alive now and collect the young less often.

    Call it when the process has what it will keep (after start, after a reload): what
    was frozen before is unfrozen first, so what became garbage since is collected.
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, older, oldest)
