"""The event loop ``enlace up`` runs on: uvloop (libuv) where it is installed, else asyncio's.

uvloop does the same work as asyncio's own loop with less Python per callback, timer and
socket read, which the hub makes several of per message (``bench/bench_hub.py``). The hub's
code is plain asyncio either way; ``uvloop: false`` in ``enlace.yaml`` (or
``ENLACE_UVLOOP=false``) keeps asyncio's loop, and a platform without uvloop (Windows)
falls back to it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import structlog

__all__ = ["loop_factory", "run"]

log = structlog.get_logger("enlace.hub.up")

T = TypeVar("T")


def loop_factory(use_uvloop: bool) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop factory when asked for and installed; None for asyncio's own loop."""
    if not use_uvloop:
        return None
    try:
        import uvloop  # optional at run time: there is no Windows build
    except ImportError:
        log.info("uvloop_unavailable", detail="running on asyncio's own event loop")
        return None
    return uvloop.new_event_loop


def run(main: Coroutine[Any, Any, T], *, use_uvloop: bool = True) -> T:
    """Run ``main`` to completion on a new event loop (:func:`asyncio.run` otherwise).

    Args:
        main: the coroutine to run.
        use_uvloop: run it on uvloop where installed (the ``uvloop`` setting).
    """
    with asyncio.Runner(loop_factory=loop_factory(use_uvloop)) as runner:
        return runner.run(main)
