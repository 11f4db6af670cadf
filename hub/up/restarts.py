"""How often ``enlace up`` starts a dead child again: a bounded budget with back-off.

The embedded nats-server is started again after each death, waiting ``first_delay``
seconds, then twice as long for each restart before it in the window (up to
``max_delay``). After ``attempts`` restarts within ``window`` seconds the supervisor gives
up: something outside (a full disk, a port taken, a broken store) keeps killing it, and
``enlace up`` stops with the server's last words rather than spin. A quiet window gives
the budget back.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

__all__ = ["RestartBudget"]


@dataclass
class RestartBudget:
    """Restarts allowed within a sliding window, each after a longer pause.

    Attributes:
        attempts: restarts allowed within ``window``.
        window: seconds over which restarts are counted.
        first_delay: seconds before the first restart of a window.
        max_delay: the longest pause before a restart.
    """

    attempts: int = 5
    window: float = 60.0
    first_delay: float = 0.25
    max_delay: float = 8.0
    _times: deque[float] = field(default_factory=deque)

    @property
    def used(self) -> int:
        """Restarts counted in the window as of the last :meth:`next_delay`."""
        return len(self._times)

    def next_delay(self, now: float) -> float | None:
        """Take one restart at ``now`` (monotonic seconds): the pause before it, or None.

        None means the budget is spent: ``attempts`` restarts already within ``window``.
        """
        while self._times and now - self._times[0] >= self.window:
            self._times.popleft()
        if len(self._times) >= self.attempts:
            return None
        delay = min(self.first_delay * float(2 ** len(self._times)), self.max_delay)
        self._times.append(now)
        return delay
