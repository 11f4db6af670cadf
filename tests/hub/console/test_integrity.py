"""The integrity page's logic: checkpoint views, the consistency check, a run's progress."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.audit import AuditReader, kinds
from hub.audit.checkpoint import Checkpoint, CheckpointSigner, key_hash
from hub.audit.merkle import CompactTree, leaf_hash
from hub.audit.proofs import entry_proofs, latest_checkpoint
from hub.audit.verify import PROGRESS_EVERY, verify_log, verify_proof_bundle
from hub.console.integrity import CheckpointView, Verifications, VerifyRun, check_consistency
from hub.deployment import Deployment
from schemas.countersign import sha256_digest
from tests.hub.governance_fixtures import copy_demo

ORIGIN = "enlace.test/audit"
SIGNER = CheckpointSigner(Ed25519PrivateKey.generate(), "hub-k1")
KEYS = [SIGNER.verifier()]


def _log(
    n: int, sizes: list[int], signer: CheckpointSigner = SIGNER
) -> tuple[list[bytes], list[str]]:
    entries = [
        kinds.rejected(None, "GT", "bad_signature", sha256_digest(str(i).encode()), i)
        .with_index(i)
        .canonical()
        for i in range(n)
    ]
    tree, notes = CompactTree(), []
    for i, raw in enumerate(entries):
        tree.append(leaf_hash(raw))
        if i + 1 in sizes:
            notes.append(signer.sign(Checkpoint(ORIGIN, tree.size, tree.root(), datetime.now(UTC))))
    return entries, notes


def test_the_latest_checkpoint_extends_the_previous_one() -> None:
    entries, notes = _log(13, [5, 13])
    result = check_consistency(entries, notes, KEYS)
    assert result is not None and result.ok
    assert (result.old_size, result.new_size) == (5, 13) and result.proof_hashes > 0


def test_a_log_changed_under_the_older_checkpoint_is_not_consistent() -> None:
    entries, notes = _log(13, [5, 13])
    entries[2] = entries[2].replace(b"GT", b"HN")
    result = check_consistency(entries, notes, KEYS)
    assert result is not None and not result.ok
    assert "does not contain the root of size 5" in str(result.problem)


def test_consistency_needs_two_checkpoints_by_a_hub_key_of_different_sizes() -> None:
    entries, notes = _log(13, [13])
    assert check_consistency(entries, notes, KEYS) is None
    stranger = CheckpointSigner(Ed25519PrivateKey.generate(), "hub-k1")
    _, forged = _log(13, [5], stranger)
    assert check_consistency(entries, [*forged, *notes], KEYS) is None
    _, twice = _log(13, [13, 13])
    assert check_consistency(entries, twice, KEYS) is None


def test_a_truncated_log_is_not_consistent_with_its_checkpoints() -> None:
    entries, notes = _log(13, [5, 13])
    result = check_consistency(entries[:9], notes, KEYS)
    assert result is not None and not result.ok and "only 9 entries" in str(result.problem)


def test_a_checkpoint_view_names_its_key_and_says_when_the_signature_fails() -> None:
    _, notes = _log(4, [4])
    view = CheckpointView.of(7, notes[0], KEYS)
    assert view is not None and view.problem is None
    assert (view.seq, view.size, view.key_name) == (7, 4, "hub-k1")
    assert view.key_id == key_hash("hub-k1", SIGNER.public_key).hex()
    other = CheckpointSigner(Ed25519PrivateKey.generate(), "hub-k2").verifier()
    unknown = CheckpointView.of(7, notes[0], [other])
    assert unknown is not None and "not signed by a known hub key" in str(unknown.problem)
    assert CheckpointView.of(1, "not a note", KEYS) is None


def test_a_run_fills_half_the_bar_reading_and_the_other_half_checking() -> None:
    run = VerifyRun("ana", datetime.now(UTC), total=10)
    assert run.running and run.percent == 0
    run.done = 5
    assert run.percent == 25
    run.phase, run.done, run.total = "checking", 3, 4
    assert run.percent == 87
    run.finished_at = datetime.now(UTC)
    assert not run.running and run.percent == 100


def test_verify_log_reports_its_progress_up_to_every_entry() -> None:
    entries, notes = _log(PROGRESS_EVERY * 2 + 5, [PROGRESS_EVERY * 2 + 5])
    seen: list[int] = []
    assert verify_log(entries, notes, KEYS, progress=seen.append).ok
    assert seen == [0, PROGRESS_EVERY, PROGRESS_EVERY * 2, len(entries)]


@pytest.mark.parametrize("index", [0, 6, 12])
def test_entry_proofs_verify_against_the_latest_checkpoint(index: int) -> None:
    entries, notes = _log(13, [5, 13])
    latest = latest_checkpoint(reversed(notes))
    assert latest is not None and latest[1].size == 13
    (bundle,) = entry_proofs(entries, latest[0], 13, [index])
    cp, proved = verify_proof_bundle(bundle, KEYS)
    assert (cp.size, proved) == (13, index)


class _SlowLog:
    """A reader double whose log is empty and answers once ``release`` is set."""

    def __init__(self) -> None:
        self.release = asyncio.Event()

    async def last_seq(self) -> int:
        await self.release.wait()
        return 0

    async def batches(self) -> AsyncIterator[object]:
        return
        yield

    async def checkpoint_messages(self) -> list[object]:
        return []


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Deployment:
    home = tmp_path_factory.mktemp("integrity") / "enlace"
    return copy_demo(tmp_path_factory.getbasetemp(), home).deployment


async def test_one_verification_at_a_time_and_the_last_result_is_kept(demo: Deployment) -> None:
    runs, log = Verifications(), _SlowLog()
    reader = cast(AuditReader, log)
    deployment = demo
    assert runs.start(reader, deployment, "ana")
    first = runs.last
    assert not runs.start(reader, deployment, "vic")  # ana's run is still going
    assert runs.last is first and first is not None and first.running
    log.release.set()
    await runs.wait()
    assert first.phase == "done" and first.report is not None and first.report.ok
    assert first.started_by == "ana"
    assert runs.start(reader, deployment, "vic")
    assert runs.last is not first and runs.last is not None and runs.last.started_by == "vic"
    await runs.close()


async def test_a_run_without_the_hub_keys_fails_saying_why(tmp_path: Path) -> None:
    runs, log = Verifications(), _SlowLog()
    log.release.set()
    assert runs.start(cast(AuditReader, log), Deployment(tmp_path / "nothing"), "ana")
    run = runs.last
    assert run is not None
    await runs.wait()
    assert run.phase == "failed" and run.error and run.report is None
