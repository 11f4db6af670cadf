"""What a governance load puts on the record: ``hub.governance.changes``."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from hub.governance import Governance, load_governance
from hub.governance.changes import loaded_entries, refused_entry, warn_unsigned
from hub.policy import AgreementSet
from schemas.errors import GovernanceUnsigned
from tests.hub.governance_fixtures import copy_demo


@pytest.fixture
def governance(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Governance:
    demo = copy_demo(tmp_path_factory.getbasetemp(), tmp_path / "home")
    return load_governance(demo.deployment)


def test_at_start_the_directory_and_every_agreement_are_recorded(governance: Governance) -> None:
    entries = loaded_entries(governance)
    first, *agreements = entries
    assert (first.subject, first.version, first.outcome) == ("directory", "1", "loaded")
    assert [e.version for e in agreements] == [s.id for s in governance.agreements.statuses]
    assert {e.outcome for e in agreements} == {"added"}
    assert [e.detail for e in agreements] == [s.digest for s in governance.agreements.statuses]


def test_a_reload_records_only_what_changed(governance: Governance) -> None:
    assert len(loaded_entries(governance, before=governance)) == 1  # the directory only
    fewer = Governance(governance.directory, AgreementSet(governance.agreements.statuses[1:]))
    entries = loaded_entries(governance, before=fewer)
    assert [(e.version, e.outcome) for e in entries[1:]] == [
        (governance.agreements.statuses[0].id, "added")
    ]


def test_a_refused_reload_is_recorded_by_its_reason_code_only() -> None:
    entry = refused_entry(GovernanceUnsigned("directory.yaml: signed by nobody"))
    assert (entry.subject, entry.outcome, entry.detail) == (
        "reload",
        "refused",
        "governance_unsigned",
    )
    assert "directory.yaml" not in entry.model_dump_json()


def test_agreements_not_in_force_are_logged_with_their_file(governance: Governance) -> None:
    status = governance.agreements.statuses[0]
    unsigned = dataclasses.replace(status, missing=("GT",), signed_by=())
    with capture_logs() as logs:
        warn_unsigned(governance)
        warn_unsigned(Governance(governance.directory, AgreementSet((unsigned,))))
    assert [(e["event"], e["agreement"], e["missing_signatures"]) for e in logs] == [
        ("agreement_not_in_force", status.id, ["GT"])
    ]
    assert logs[0]["file"] == str(status.path)
