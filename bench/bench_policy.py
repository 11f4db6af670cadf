"""Decision cost of the sharing-agreement policy: 100 agreements, 9 parties.

A random but fixed set of 100 agreements (themes, types, flows with groups and country
codes, some redacted views, some not signed or out of their window) and a mix of
messages; prints decisions per second of ``decide`` alone, and of ``decide`` plus the
rendering of every recipient's view (what the hub does per accepted message).
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from pathlib import Path

from hub.policy.decide import decide
from hub.policy.loader import AgreementSet, AgreementStatus
from hub.policy.model import Agreement
from hub.policy.redaction import render_view
from hub.policy.requests import InMemoryRequestMemory
from schemas.common import PARTIES, THEMES
from schemas.envelope import Envelope
from schemas.testing import EPOCH, later, make_directory

__all__ = ["main"]

AGREEMENTS = 100
MESSAGES = 200
ROUNDS = 3
TYPES = (
    "gang_movement",
    "seizure",
    "border_alert",
    "trafficking_case",
    "cbrn_interdiction",
    "disaster_alert",
    "information_request",
    "firearm_trace_request",
)
ENDS = (*PARTIES, "members", "sica", "all")


def _agreements(rnd: random.Random) -> AgreementSet:
    statuses = []
    for i in range(AGREEMENTS):
        parties = sorted(rnd.sample(PARTIES, rnd.randint(2, 9)))
        types = rnd.sample(TYPES, rnd.randint(1, 3))
        views = {}
        if rnd.random() < 0.4:
            views["redacted"] = {
                "drop": ["payload.persons"],
                "round": [{"field": "payload.location", "decimals": 1}],
            }
        flows = [
            {
                "from": rnd.sample([*parties, "members", "sica", "all"], rnd.randint(1, 2)),
                "to": rnd.sample([*parties, "members", "sica", "all"], rnd.randint(1, 2)),
                "view": rnd.choice(["full", *views]),
            }
            for _ in range(rnd.randint(1, 3))
        ]
        agreement = Agreement.model_validate(
            {
                "id": f"agreement-{i:03d}",
                "title": f"Agreement {i}",
                "parties": parties,
                "themes": rnd.sample(THEMES, rnd.randint(1, 3)),
                "types": types,
                "max_tlp": rnd.choice(["green", "amber", "amber+strict", "red"]),
                "valid_from": EPOCH,
                "valid_until": later(rnd.choice([30, 365, 730])),
                "views": views,
                "flows": flows,
            }
        )
        missing = (parties[0],) if rnd.random() < 0.1 else ()
        statuses.append(
            AgreementStatus(
                agreement,
                Path(f"{agreement.id}.yaml"),
                signed_by=tuple(p for p in parties if p not in missing),
                missing=missing,
            )
        )
    return AgreementSet.of(statuses)


def _measure(label: str, fn: Callable[[], object], n: int) -> None:
    best = float("inf")
    for _ in range(ROUNDS):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    print(f"{label:<52} {n / best:>12,.0f} decisions/s", flush=True)


def main() -> None:
    """Print decisions/s of ``decide`` alone, and with every recipient's view rendered."""
    rnd = random.Random(4)
    td = make_directory(themes=THEMES)
    agreements = _agreements(rnd)
    payload = {
        "persons": [{"name": "A", "role": "suspect"}] * 5,
        "location": {"lat": 14.63456, "lon": -90.51327},
        "summary": "x" * 800,
    }
    messages: list[tuple[Envelope, bytes]] = []
    for _ in range(MESSAGES):
        data = td.envelope(
            rnd.choice(PARTIES), rnd.choice(THEMES), rnd.choice(TYPES), payload, handling="amber"
        )
        messages.append((Envelope.model_validate(data), json.dumps(data).encode()))
    memory = InMemoryRequestMemory()
    at = later(100)
    routed = sum(
        len(decide(env, agreements, td.directory, at, memory).recipients) for env, _ in messages
    )
    print(
        f"{AGREEMENTS} agreements, {len(PARTIES)} parties, {MESSAGES} messages; "
        f"{routed / MESSAGES:.1f} recipients per message on average"
    )

    def decide_all() -> None:
        for env, _ in messages:
            decide(env, agreements, td.directory, at, memory)

    def decide_and_render() -> None:
        for env, raw in messages:
            for route in decide(env, agreements, td.directory, at, memory).recipients:
                render_view(raw, route.view)

    _measure("decide", decide_all, MESSAGES)
    _measure("decide + render every recipient's view", decide_and_render, MESSAGES)


if __name__ == "__main__":
    main()
