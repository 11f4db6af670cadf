"""What the Adapters page shows of each country's sinks, and when a sink is stalled.

The console may not import the adapters (``hub/cli`` and ``hub/up`` only do): the command
that serves it hands it a :class:`SinkProbe`, the same register of sinks ``enlace up``
reads and the same reading of a sink's state ``enlace adapter status`` prints (DELIVERY's
consumer info and the country's DEADLETTER stream info, through the operator login).
The last receipt of each sink comes from the audit log (:class:`~hub.console.tally.AuditTally`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from nats.js import JetStreamContext

__all__ = ["SinkFilter", "SinkProbe", "SinkRow", "sink_rows"]


@dataclass(frozen=True)
class SinkProbe:
    """Where the console learns the sinks and reads their state.

    Attributes:
        register: every configured sink, by country (``enlace.yaml``'s ``adapters:``).
        status: one sink's state, as ``enlace adapter status --json`` prints a row.
    """

    register: Callable[[], Mapping[str, Sequence[str]]]
    status: Callable[[JetStreamContext, str, str], Awaitable[Mapping[str, Any]]]


@dataclass(frozen=True)
class SinkRow:
    """One sink: its consumer's counts, its country's dead letters and its last receipt."""

    country: str
    sink: str
    state: str
    pending: int | None
    ack_pending: int | None
    redelivered: int | None
    dead_letters: int | None
    receipt_age: int | None
    """Seconds since the sink's last signed receipt (None: none in the log's last 7 days)."""
    stalled: bool


@dataclass(frozen=True)
class SinkFilter:
    """The page's filters as given in the URL: ``country`` and ``stalled`` (only those)."""

    country: str = ""
    stalled: bool = False

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> SinkFilter:
        country = query.get("country", "").strip().upper()
        return cls(country, query.get("stalled", "") in ("1", "on", "true"))

    def keeps(self, row: SinkRow) -> bool:
        return (not self.country or row.country == self.country) and (
            not self.stalled or row.stalled
        )


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, int) else None


async def sink_rows(
    probe: SinkProbe,
    js: JetStreamContext,
    receipts: Mapping[tuple[str, str], int],
    now: datetime,
    stalled_after: float,
) -> list[SinkRow]:
    """Every configured sink's row, in the register's order.

    A sink is **stalled** when deliveries wait for it (pending or unacknowledged) and it
    has sent no receipt for ``stalled_after`` seconds (or none at all).

    Args:
        probe: the register and the reading of a sink's state.
        js: JetStream through the operator login.
        receipts: (country, sink) → epoch seconds of its last receipt.
        now: the time ages are measured to.
        stalled_after: seconds without a receipt that make a waiting sink stalled.
    """
    rows = []
    for country, names in probe.register().items():
        for name in names:
            found = await probe.status(js, country, name)
            last = receipts.get((country, name))
            age = max(0, int(now.timestamp()) - last) if last is not None else None
            waiting = (_int(found.get("lag")) or 0) + (_int(found.get("ack_pending")) or 0)
            rows.append(
                SinkRow(
                    country=country,
                    sink=name,
                    state=str(found.get("state", "")),
                    pending=_int(found.get("lag")),
                    ack_pending=_int(found.get("ack_pending")),
                    redelivered=_int(found.get("redelivered")),
                    dead_letters=_int(found.get("dead_letters")),
                    receipt_age=age,
                    stalled=waiting > 0 and (age is None or age > stalled_after),
                )
            )
    return rows
