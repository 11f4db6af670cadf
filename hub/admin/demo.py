"""The sharing agreements of the demo deployment, drawn from the dialogue's declarations.

The 2007 Final Declaration of the U.S.–Central America Dialogue on Security commits the
parties to "exchanging information on the activities and movements of gangs" (point 4),
to "improve the tracking of firearms seized" (point 25) and to "share drug-trafficking-
related information systems" (point 17); the Panama workshop on UNSCR 1540 covers WMD
interdiction. ``enlace init --demo`` writes these agreements and has every party sign them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.policy.signing import sign_agreement_file
from schemas.common import PARTIES, THEMES
from schemas.govdoc import dump_yaml, rfc3339

__all__ = ["DemoSigner", "demo_agreements", "write_demo_agreements"]

DemoSigner = Callable[[str], tuple[str, Ed25519PrivateKey]]
"""``party -> (kid, commission private key)``: how the demo signs for each party."""


class _HasAgreementsDir(Protocol):
    @property
    def agreements_dir(self) -> Path: ...


def demo_agreements(now: datetime | None = None) -> list[dict[str, Any]]:
    """The demo agreement documents (unsigned), in force from yesterday for two years."""
    start = (now or datetime.now(UTC)).replace(hour=0, minute=0, second=0, microsecond=0)
    start -= timedelta(days=1)
    window = {"valid_from": rfc3339(start), "valid_until": rfc3339(start + timedelta(days=730))}
    parties = list(PARTIES)

    def doc(id_: str, title: str, **fields: Any) -> dict[str, Any]:
        return {"id": id_, "title": title, "version": 1, "parties": parties, **fields, **window}

    return [
        doc(
            "gang-movements",
            "Gang activities and movements among all parties (2007 Declaration, point 4)",
            themes=["gangs", "organized_crime"],
            types=["gang_movement", "border_alert"],
            max_tlp="amber",
            flows=[{"name": "all-parties", "from": "all", "to": "all", "view": "full"}],
        ),
        doc(
            "firearm-traces",
            "Tracing of seized firearms by the United States (2007 Declaration, point 25)",
            themes=["small_arms", "organized_crime", "gangs", "terrorism"],
            types=["firearm_trace_request", "firearm_trace_result"],
            max_tlp="amber",
            flows=[
                {
                    "name": "requests",
                    "from": "sica",
                    "to": "US",
                    "types": ["firearm_trace_request"],
                    "view": "full",
                },
                {
                    "name": "results",
                    "from": "US",
                    "to": "requester",
                    "types": ["firearm_trace_result"],
                    "view": "full",
                },
            ],
        ),
        doc(
            "seizure-statistics",
            "Seizures shared with every party, without persons or exact places "
            "(2007 Declaration, points 17 and 24)",
            themes=["narcotics", "small_arms", "organized_crime", "border_security"],
            types=["seizure"],
            max_tlp="amber",
            views={
                "statistics": {
                    "drop": [
                        # Not payload.conveyances: a seizure of a truck alone would be
                        # left seizing nothing, which its schema refuses.
                        "payload.persons",
                        "payload.location.description",
                    ],
                    "round": [
                        {"field": "payload.location.lat", "decimals": 1},
                        {"field": "payload.location.lon", "decimals": 1},
                    ],
                }
            },
            flows=[{"name": "statistics", "from": "all", "to": "all", "view": "statistics"}],
        ),
        doc(
            "trafficking-cases",
            "Trafficking in persons cases among the SICA states and the United States, full view",
            themes=["trafficking_in_persons", "organized_crime"],
            types=["trafficking_case", "border_alert"],
            max_tlp="amber+strict",
            flows=[{"name": "cases", "from": ["sica", "US"], "to": ["sica", "US"], "view": "full"}],
        ),
        doc(
            "terrorism-red",
            "Terrorism and WMD interdictions (UNSCR 1540): TLP:RED to the parties named only",
            themes=["terrorism", "border_security"],
            types=["cbrn_interdiction", "border_alert"],
            max_tlp="red",
            flows=[{"name": "channel", "from": "all", "to": "all", "view": "full"}],
        ),
        doc(
            "information-exchange",
            "Requests for information on any theme, answered to the requester only",
            themes=list(THEMES),
            types=["information_request", "information_response"],
            max_tlp="amber",
            flows=[
                {"name": "requests", "from": "all", "to": "all", "types": ["information_request"]},
                {
                    "name": "responses",
                    "from": "all",
                    "to": "requester",
                    "types": ["information_response"],
                },
            ],
        ),
        doc(
            "disaster-alerts",
            "Disaster alerts (CAP) to every party",
            themes=["natural_disasters"],
            types=["disaster_alert"],
            max_tlp="green",
            flows=[{"name": "alerts", "from": "all", "to": "all"}],
        ),
    ]


def write_demo_agreements(
    deployment: _HasAgreementsDir,
    sign: DemoSigner,
    parties: Sequence[str] = PARTIES,
    now: datetime | None = None,
) -> list[Path]:
    """Write the demo agreements into ``deployment.agreements_dir`` and sign each by all.

    Args:
        deployment: the deployment (``hub.deployment.Deployment``).
        sign: ``party -> (kid, commission private key)``.
        parties: who signs (every party the demo agreements name).
        now: the start of the validity windows (default: now).

    Returns:
        The files written, sorted.
    """
    folder = deployment.agreements_dir
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for data in demo_agreements(now):
        path = folder / f"{data['id']}.yaml"
        dump_yaml(data, path)
        for party in parties:
            kid, key = sign(party)
            sign_agreement_file(path, party, kid, key)
        paths.append(path)
    return sorted(paths)
