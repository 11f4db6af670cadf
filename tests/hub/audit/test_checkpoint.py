"""Signed checkpoints: the C2SP signed-note vector, round trips and refusals."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from hub.audit.checkpoint import (
    Checkpoint,
    CheckpointSigner,
    CheckpointVerifier,
    WriterState,
    key_hash,
    open_checkpoint,
    open_note,
    open_state,
)
from hub.audit.errors import CheckpointError, TreeStateError
from hub.audit.merkle import CompactTree, leaf_hash

# golang.org/x/mod/sumdb/note's documented example key and note (Ed25519 is deterministic).
PETER_SKEY = "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
PETER_TEXT = (
    b"If you think cryptography is the answer to your problem,\n"
    b"then you don't know what your problem is.\n"
)
PETER_SIG = (
    "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdng"
    "otpRZb6KE6RyyBwJnAM=\n"
)


def _peter() -> CheckpointSigner:
    seed = base64.b64decode(PETER_SKEY)[1:]  # first byte: algorithm 0x01 (Ed25519)
    return CheckpointSigner(Ed25519PrivateKey.from_private_bytes(seed), "PeterNeumann")


def test_signed_note_matches_the_published_example() -> None:
    signer = _peter()
    assert signer.key_hash.hex() == "c74f20a3"
    note = signer.sign_note(PETER_TEXT)
    assert note == PETER_TEXT.decode() + "\n" + PETER_SIG
    assert open_note(note, [signer.verifier()]) == PETER_TEXT.decode()


def test_key_hash_is_per_signed_note() -> None:
    key = Ed25519PrivateKey.generate().public_key()
    raw = key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    assert key_hash("hub-k1", key) == hashlib.sha256(b"hub-k1\n\x01" + raw).digest()[:4]


def _cp(size: int = 12) -> Checkpoint:
    return Checkpoint("enlace.test/audit", size, bytes(range(32)), datetime(2026, 5, 1, tzinfo=UTC))


def test_checkpoint_body_is_tlog_checkpoint_with_a_time_line() -> None:
    body = _cp().body().decode()
    origin, size, root, time, end = body.split("\n")
    assert (origin, size, end) == ("enlace.test/audit", "12", "")
    assert base64.b64decode(root) == bytes(range(32))
    assert time == "time 2026-05-01T00:00:00Z"


def test_checkpoint_round_trip() -> None:
    signer = CheckpointSigner(Ed25519PrivateKey.generate(), "hub-k1")
    assert open_checkpoint(signer.sign(_cp()), [signer.verifier()]) == _cp()


def test_checkpoint_by_another_key_of_the_same_name_is_refused() -> None:
    hub = CheckpointSigner(Ed25519PrivateKey.generate(), "hub-k1")
    other = CheckpointSigner(Ed25519PrivateKey.generate(), "hub-k1")
    with pytest.raises(CheckpointError, match="not signed by a known hub key"):
        open_checkpoint(other.sign(_cp()), [hub.verifier()])


def test_changed_checkpoint_text_breaks_the_signature() -> None:
    signer = CheckpointSigner(Ed25519PrivateKey.generate(), "hub-k1")
    note = signer.sign(_cp(12)).replace("\n12\n", "\n13\n", 1)
    with pytest.raises(CheckpointError, match="does not match"):
        open_checkpoint(note, [signer.verifier()])


def test_unknown_cosignatures_are_ignored_but_one_known_is_needed() -> None:
    hub = CheckpointSigner(Ed25519PrivateKey.generate(), "hub-k1")
    witness = CheckpointSigner(Ed25519PrivateKey.generate(), "witness")
    note = hub.sign(_cp())
    cosigned = note + witness.sign_note(_cp().body()).split("\n\n", 1)[1]
    assert open_checkpoint(cosigned, [hub.verifier()]).size == 12


@pytest.mark.parametrize(
    "note",
    [
        "",
        "origin\n12\n",
        "origin\n12\nAAAA\ntime x\n\n— hub-k1 AAAAAAAA\n",
        "origin\n12\n" + base64.b64encode(bytes(32)).decode() + "\n\n— hub-k1 !!\n",
        "origin\n12\n" + base64.b64encode(bytes(32)).decode() + "\n\n- hub-k1 AAAAAAAA\n",
    ],
)
def test_malformed_notes_are_refused(note: str) -> None:
    signer = CheckpointSigner(Ed25519PrivateKey.generate(), "hub-k1")
    with pytest.raises(CheckpointError):
        open_checkpoint(note, [signer.verifier()])


def test_malformed_bodies_are_refused_even_when_signed() -> None:
    signer = CheckpointSigner(Ed25519PrivateKey.generate(), "hub-k1")
    root = base64.b64encode(bytes(32)).decode()
    for body in [f"o\n-1\n{root}\ntime 2026-05-01T00:00:00Z\n", f"o\n1\n{root}\n"]:
        with pytest.raises(CheckpointError):
            open_checkpoint(signer.sign_note(body.encode()), [signer.verifier()])


def test_signer_names_are_checked() -> None:
    with pytest.raises(CheckpointError):
        CheckpointSigner(Ed25519PrivateKey.generate(), "hub k1")


def test_verifier_key_hash() -> None:
    signer = CheckpointSigner(Ed25519PrivateKey.generate(), "hub-k1")
    assert CheckpointVerifier("hub-k1", signer.public_key).key_hash == signer.key_hash


# -- the writer state stored beside a checkpoint -----------------------------------------------


def _state(n: int = 5) -> WriterState:
    tree = CompactTree()
    for i in range(n):
        tree.append(leaf_hash(b"%d" % i))
    return WriterState(
        "enlace.test/audit", n, 17, tree.root(), leaf_hash(b"%d" % (n - 1)), tree.peaks
    )


def test_writer_state_round_trips_through_a_signed_note() -> None:
    signer = CheckpointSigner(Ed25519PrivateKey.generate(), "hub-k1")
    state = _state()
    assert open_state(signer.sign_state(state), [signer.verifier()]) == state
    assert state.text().decode().splitlines()[:4] == [
        "enlace-audit-writer-state v1",
        "origin enlace.test/audit",
        "size 5",
        "last-seq 17",
    ]


def test_writer_state_by_another_key_or_changed_is_refused() -> None:
    signer = CheckpointSigner(Ed25519PrivateKey.generate(), "hub-k1")
    other = CheckpointSigner(Ed25519PrivateKey.generate(), "hub-k2")
    note = signer.sign_state(_state())
    with pytest.raises(CheckpointError, match="not signed by a known hub key"):
        open_state(note, [other.verifier()])
    with pytest.raises(CheckpointError, match="does not match"):
        open_state(note.replace("last-seq 17", "last-seq 18"), [signer.verifier()])


def test_a_state_and_a_checkpoint_by_one_key_cannot_pass_for_each_other() -> None:
    signer = CheckpointSigner(Ed25519PrivateKey.generate(), "hub-k1")
    state_note = signer.sign_state(_state())
    with pytest.raises(CheckpointError, match="size"):
        open_checkpoint(state_note, [signer.verifier()])
    checkpoint_note = signer.sign(
        Checkpoint("enlace.test/audit", 5, b"\x01" * 32, datetime.now(UTC))
    )
    with pytest.raises(TreeStateError, match="not an audit writer state"):
        open_state(checkpoint_note, [signer.verifier()])


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (("size 5", "size 05"), "size '05' is not a positive number"),
        (("last-seq 17", "last-seq 0"), "last-seq '0' is not a positive number"),
        (("origin ", "origin:"), "should be 'origin <value>'"),
        (("root ", "root !"), "root is not base64"),
        (("peak ", "peek "), "should be 'peak <hash>'"),
    ],
)
def test_malformed_writer_states_are_refused(change: tuple[str, str], problem: str) -> None:
    text = _state().text().decode().replace(*change, 1)
    with pytest.raises(TreeStateError, match=problem):
        WriterState.parse_text(text)


def test_a_short_peak_is_refused() -> None:
    text = _state().text().decode().rsplit("peak ", 1)[0] + "peak AAAA\n"
    with pytest.raises(TreeStateError, match="has 3 bytes, not 32"):
        WriterState.parse_text(text)
