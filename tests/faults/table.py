"""The fault suite's figures: one row per fault, printed as a table at the end of the run."""

from __future__ import annotations

import dataclasses
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["ROWS", "Row", "from_plain", "render", "table_path", "to_plain"]

_HEADER = (
    "| fault | messages | accepted | refused (reason) | delivered | lost | duplicated "
    "| time to recover | audit verifies |\n"
    "| --- | ---: | ---: | --- | ---: | ---: | ---: | --- | --- |"
)


@dataclass
class Row:
    """What one fault did to one run of messages.

    Attributes:
        fault: what was done, as the table says it.
        messages: how many signed messages the publisher sent.
        accepted: how many the hub accepted (its audit log's ``routed`` entries).
        refused: the others, by reason code (the client's or the hub's); ``?`` = no reason.
        due: deliveries the hub routed to the counted sinks (one per accepted message with
            US's sink alone; one per recipient each with more sinks).
        delivered: of those, the deliveries written (distinct recipient and id).
        lost: routed to a counted sink, never written.
        duplicated: deliveries a sink wrote more than once.
        first_delivery: seconds from the fault's end to the first delivery after it.
        all_delivered: seconds from the fault's end until every accepted message was written.
        audit_ok: ``enlace audit verify`` exited 0.
        note: what the row needs said (how the fault was made, what failed).
    """

    fault: str
    messages: int = 0
    accepted: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    due: int = 0
    delivered: int = 0
    lost: int = 0
    duplicated: int = 0
    first_delivery: float | None = None
    all_delivered: float | None = None
    audit_ok: bool = False
    note: str = ""

    def recovery(self) -> str:
        first = "—" if self.first_delivery is None else f"{self.first_delivery:.1f} s"
        every = "never" if self.all_delivered is None else f"{self.all_delivered:.1f} s"
        return f"{first} first / {every} all"

    def line(self) -> str:
        refused = ", ".join(f"{n} {code}" for code, n in sorted(self.refused.items())) or "0"
        cells = (
            self.fault + (f" ({self.note})" if self.note else ""),
            str(self.messages),
            str(self.accepted),
            refused,
            str(self.delivered),
            str(self.lost),
            str(self.duplicated),
            self.recovery(),
            "yes" if self.audit_ok else "**no**",
        )
        return "| " + " | ".join(cells) + " |"


ROWS: list[Row] = []
"""Rows recorded by this run's fault tests, in the order they ran."""


def to_plain(rows: list[Row]) -> list[dict[str, object]]:
    """``rows`` as plain dicts, for a pytest-xdist worker to hand to the controller."""
    return [{**dataclasses.asdict(row), "refused": dict(row.refused)} for row in rows]


def from_plain(plain: list[dict[str, Any]]) -> list[Row]:
    """The rows :func:`to_plain` gave."""
    return [Row(**{**fields, "refused": Counter(fields["refused"])}) for fields in plain]


def render(rows: list[Row]) -> str:
    return "\n".join([_HEADER, *(row.line() for row in rows)]) + "\n"


def table_path(root: Path) -> Path:
    """Where the table is written: ``$ENLACE_FAULT_TABLE`` or ``<root>/.enlace-faults.md``."""
    return Path(os.environ.get("ENLACE_FAULT_TABLE", root / ".enlace-faults.md"))
