"""A party's witness cosigns what extends what it saw, and refuses a forked or rolled back log."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.errors import (
    WitnessConflict,
    WitnessFork,
    WitnessMalformed,
    WitnessRefusal,
    WitnessRollback,
    WitnessUnknownLog,
    WitnessUnsigned,
)
from adapters.witness import Witness
from hub.audit.checkpoint import Checkpoint, CheckpointSigner
from hub.audit.merkle import consistency_proof, leaf_hash, root_hash
from schemas.tlog import AddCheckpoint, cosigner_name, open_cosignature

ORIGIN = "enlace.test"
HUB_KEY = Ed25519PrivateKey.generate()
HUB = CheckpointSigner(HUB_KEY, ORIGIN)  # the hub key signs under the log's name
PARTY = Ed25519PrivateKey.generate()


def _leaves(n: int, fork_at: int | None = None) -> list[bytes]:
    return [leaf_hash(f"{i}{'x' if i == fork_at else ''}".encode()) for i in range(n)]


def _note(
    leaves: list[bytes], size: int, signer: CheckpointSigner = HUB, origin: str = ORIGIN
) -> str:
    cp = Checkpoint(origin, size, root_hash(leaves[:size]), datetime(2026, 12, 6, tzinfo=UTC))
    return signer.sign(cp)


def _request(leaves: list[bytes], old: int, new: int, **kw: object) -> str:
    proof = consistency_proof(leaves, old, new) if 0 < old < new else []
    return AddCheckpoint(old, tuple(proof), _note(leaves, new, **kw)).text()  # type: ignore[arg-type]


@pytest.fixture
def witness(tmp_path: Path) -> Witness:
    return Witness("GT", PARTY, lambda: {"hub-k1": HUB_KEY.public_key()}, tmp_path / "w.note")


def test_it_cosigns_the_first_checkpoint_and_each_that_extends_it(witness: Witness) -> None:
    log = _leaves(40)
    first = witness.check(_request(log, 0, 10))
    assert witness.kept_size() == 10
    cosig = open_cosignature(first, cosigner_name(ORIGIN, "GT"), PARTY.public_key())
    assert cosig is not None
    second = witness.check(_request(log, 10, 37))
    assert witness.kept_size() == 37
    assert open_cosignature(second, cosigner_name(ORIGIN, "GT"), PARTY.public_key())
    # The same checkpoint again is cosigned again (the store de-duplicates), not refused.
    witness.check(_request(log, 37, 37))
    assert witness.kept_size() == 37


def test_a_forked_log_is_refused_and_nothing_is_kept(witness: Witness) -> None:
    honest, forked = _leaves(40), _leaves(40, fork_at=3)
    witness.check(_request(honest, 0, 10))
    kept = witness.kept()
    # The hub now presents a log in which entry 3 differs: consistent with itself, not
    # with what the witness cosigned.
    with pytest.raises(WitnessFork, match="forked or rewritten") as err:
        witness.check(_request(forked, 10, 20))
    assert err.value.code == "witness_fork" and err.value.known_size == 10
    assert witness.kept() == kept
    # Same size, another root: a fork too.
    with pytest.raises(WitnessFork):
        witness.check(_request(forked, 10, 10))


def test_a_rolled_back_log_is_refused(witness: Witness) -> None:
    log = _leaves(40)
    witness.check(_request(log, 0, 30))
    with pytest.raises(WitnessRollback, match="rolled back"):
        witness.check(_request(log, 30, 20))
    with pytest.raises(WitnessRollback):
        witness.check(_request(log, 0, 20))  # whatever old size the hub claims
    assert witness.kept_size() == 30


def test_other_logs_unsigned_checkpoints_and_wrong_old_sizes_are_refused(witness: Witness) -> None:
    log = _leaves(40)
    witness.check(_request(log, 0, 10))
    other = CheckpointSigner(HUB_KEY, "enlace.other")
    with pytest.raises(WitnessUnknownLog):
        witness.check(_request(log, 10, 20, signer=other, origin="enlace.other"))
    stranger = CheckpointSigner(Ed25519PrivateKey.generate(), ORIGIN)
    with pytest.raises(WitnessUnsigned, match="not signed by a known hub key"):
        witness.check(_request(log, 10, 20, signer=stranger))
    with pytest.raises(WitnessConflict):
        witness.check(_request(log, 5, 20))
    with pytest.raises(WitnessMalformed):
        witness.check("old 10\n\nnot a note")
    assert witness.kept_size() == 10


def test_a_proof_that_does_not_hold_is_a_fork(witness: Witness) -> None:
    log = _leaves(40)
    witness.check(_request(log, 0, 10))
    bad = AddCheckpoint(10, tuple(bytes(32) for _ in range(3)), _note(log, 20))
    with pytest.raises(WitnessFork):
        witness.check(bad.text())


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=400))
def test_any_request_is_cosigned_or_refused_with_a_reason(text: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        w = Witness("GT", PARTY, lambda: {"hub-k1": HUB_KEY.public_key()}, Path(folder) / "w")
        try:
            w.check(text)
        except WitnessRefusal as err:
            assert err.code.startswith("witness_")
            assert w.kept() is None
