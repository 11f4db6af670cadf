"""The governance page's logic on the demo deployment: directory signers, agreements' state."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hub.admin.demo import demo_agreements
from hub.console.governance import governance_view
from hub.deployment import Deployment
from schemas.common import PARTIES, Tlp
from schemas.govdoc import dump_yaml
from tests.hub.governance_fixtures import copy_demo

NOW = datetime.now(UTC)  # the session's demo is made now: its agreements run from yesterday


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Deployment:
    home = tmp_path_factory.mktemp("governance") / "enlace"
    return copy_demo(tmp_path_factory.getbasetemp(), home).deployment


def _copy(demo: Deployment, tmp_path: Path) -> Deployment:
    shutil.copytree(demo.home, tmp_path / "enlace")
    return Deployment(tmp_path / "enlace")


def test_the_demo_directory_is_signed_by_all_nine_and_every_agreement_is_in_force(
    demo: Deployment,
) -> None:
    view = governance_view(demo, NOW)
    assert view.problem is None and view.directory is not None
    assert view.directory.version >= 1
    assert view.signatures is not None and sorted(view.signatures.signed) == sorted(PARTIES)
    assert view.signatures.missing == ()
    assert len(view.in_force) >= 6 and view.not_in_force == []
    assert view.highest_tlp is Tlp.RED
    assert all(a.flows for a in view.in_force)


def test_an_unsigned_draft_is_listed_not_in_force_with_its_missing_signatures(
    demo: Deployment, tmp_path: Path
) -> None:
    dep = _copy(demo, tmp_path)
    draft = {**demo_agreements(NOW)[0], "id": "draft-sharing", "max_tlp": "red"}
    dump_yaml(draft, dep.agreements_dir / "draft-sharing.yaml")
    view = governance_view(dep, NOW)
    (pending,) = view.not_in_force
    assert pending.status.id == "draft-sharing" and pending.reason == "not_signed"
    assert sorted(pending.status.missing) == sorted(PARTIES)
    assert "draft-sharing" not in {a.status.id for a in view.in_force}


def test_agreements_past_their_window_are_expired_and_nothing_is_shared(demo: Deployment) -> None:
    view = governance_view(demo, NOW + timedelta(days=731))
    assert view.problem is None and view.in_force == [] and view.highest_tlp is None
    assert len(view.not_in_force) >= 6
    assert {a.reason for a in view.not_in_force} == {"expired"}


def test_a_changed_directory_is_reported_and_its_signers_still_shown(
    demo: Deployment, tmp_path: Path
) -> None:
    dep = _copy(demo, tmp_path)
    text = dep.directory.read_text()
    dep.directory.write_text(text.replace("version: ", "version: 9", 1))
    view = governance_view(dep, NOW)
    assert view.problem and view.directory is None and view.agreements == []
    assert view.signatures is not None and view.signatures.invalid
