"""Children that die with their parent: the Linux parent-death signal (``prctl``).

``enlace up`` starts its nats-server and adapters with :func:`dies_with_parent` as the
``preexec_fn`` of :class:`subprocess.Popen`: the kernel sends the child SIGTERM when the
parent dies, even by SIGKILL, so a killed ``enlace up`` leaves no process behind. SIGTERM
rather than SIGKILL: nats-server then shuts down cleanly (JetStream flushed, clients told)
and an adapter stops between deliveries, as on a normal stop.

Two rules follow from how Linux does it:

- the signal fires when the **thread** that started the child ends, not the process:
  start children from the thread that lives as long as the parent (``enlace up`` starts
  them from its event loop's thread, the main one), never from a pool's thread;
- a parent that died between ``fork`` and the ``prctl`` call would be missed: the child
  checks that its parent is still the one that started it, and does not run otherwise.

Elsewhere than Linux there is no such signal: :func:`dies_with_parent` gives None, and the
pid records of :mod:`hub.up.pidfiles` are the only remedy.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from collections.abc import Callable

__all__ = ["dies_with_parent"]

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _load_prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        # Resolved now, in the parent: the child between fork and exec only calls it.
        libc = ctypes.CDLL(None, use_errno=True)
        prctl: Callable[..., int] = libc.prctl
    except (OSError, AttributeError):
        return None
    return prctl


_prctl = _load_prctl()


def dies_with_parent(sig: signal.Signals = signal.SIGTERM) -> Callable[[], None] | None:
    """A ``preexec_fn`` that has the child receive ``sig`` when the calling thread ends.

    Call it in the thread that starts the child (its id is taken now, as the parent's).

    Returns:
        The function to pass as ``preexec_fn``; None where the platform has no
        parent-death signal.
    """
    if _prctl is None:
        return None
    prctl = _prctl
    parent = os.getpid()
    number = int(sig)

    def arm() -> None:
        if prctl(_PR_SET_PDEATHSIG, number, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
        if os.getppid() != parent:
            # The parent died before the signal was armed: nobody would send it. Raised
            # here, before exec, the child never runs (Popen raises SubprocessError).
            raise OSError("the parent died while the child was starting")

    return arm
