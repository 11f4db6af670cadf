"""Cosignatures and add-checkpoint bodies as C2SP tlog-cosignature / tlog-witness define them."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import struct
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.audit.checkpoint import Checkpoint, CheckpointSigner
from hub.audit.merkle import consistency_proof, leaf_hash, root_hash
from schemas.errors import TlogError
from schemas.tlog import (
    AddCheckpoint,
    NoteKey,
    checkpoint_head,
    cosign,
    open_cosignature,
    split_note,
    verify_consistency,
    verify_note,
)

HUB = CheckpointSigner(Ed25519PrivateKey.generate(), "enlace.test")
WITNESS = Ed25519PrivateKey.generate()
NAME = "enlace.test/witness/GT"


def _note(size: int = 5) -> str:
    leaves = [leaf_hash(str(i).encode()) for i in range(size)]
    cp = Checkpoint("enlace.test", size, root_hash(leaves), datetime(2026, 12, 6, tzinfo=UTC))
    return HUB.sign(cp)


def test_the_c2sp_example_cosignature_line_has_the_spec_layout() -> None:
    # From C2SP tlog-cosignature: key ID (4 bytes) ‖ u64 big-endian timestamp ‖ signature,
    # and the example's signed message says "time 1679315147".
    blob = base64.b64decode(
        "jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZ"
        "qhf5nNo0xUe+mbIUBkBIfZ+qnA=="
    )
    assert len(blob) == 4 + 8 + 64
    assert struct.unpack(">Q", blob[4:12]) == (1679315147,)


def test_a_cosignature_is_the_c2sp_v1_signature_over_the_whole_checkpoint() -> None:
    note = _note()
    body, _ = split_note(note)
    line = cosign(WITNESS, NAME, body, 1700000000)
    assert line.startswith(f"— {NAME} ") and line.endswith("\n")
    raw = base64.b64decode(line.split(" ")[2])
    public = WITNESS.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    # Key ID: SHA-256(name ‖ "\n" ‖ 0x04 ‖ public key)[:4].
    assert raw[:4] == hashlib.sha256(NAME.encode() + b"\n\x04" + public).digest()[:4]
    assert struct.unpack(">Q", raw[4:12]) == (1700000000,)
    # The signed message: "cosignature/v1", "time <t>", then the note text, each line ended.
    message = b"cosignature/v1\ntime 1700000000\n" + body.encode()
    WITNESS.public_key().verify(raw[12:], message)

    cosigned = note + line
    opened = open_cosignature(cosigned, NAME, WITNESS.public_key())
    assert opened is not None and opened.timestamp == 1700000000
    # The hub's own signature still verifies with a cosignature beside it.
    assert verify_note(cosigned, [NoteKey(HUB.name, HUB.public_key)]) == body


def test_a_cosignature_on_another_checkpoint_or_by_another_key_does_not_count() -> None:
    note, other = _note(5), _note(6)
    line = cosign(WITNESS, NAME, split_note(note)[0], 1700000000)
    with pytest.raises(TlogError, match="does not match"):
        open_cosignature(other + line, NAME, WITNESS.public_key())
    # Another key under the same name: its key ID differs, so the line is not its own.
    assert open_cosignature(note + line, NAME, Ed25519PrivateKey.generate().public_key()) is None
    # An Ed25519 note signature (type 0x01) of the witness key is not a cosignature.
    plain = CheckpointSigner(WITNESS, NAME).sign_note(split_note(note)[0].encode())
    assert open_cosignature(plain, NAME, WITNESS.public_key()) is None


def test_add_checkpoint_body_round_trips_and_checks_the_proof() -> None:
    leaves = [leaf_hash(str(i).encode()) for i in range(13)]
    proof = consistency_proof(leaves, 5, 13)
    request = AddCheckpoint(5, tuple(proof), _note(13))
    text = request.text()
    assert text.startswith("old 5\n") and "\n\nenlace.test\n13\n" in text
    back = AddCheckpoint.parse(text)
    assert back == request
    old, new = checkpoint_head(split_note(_note(5))[0]), checkpoint_head(split_note(back.note)[0])
    verify_consistency(5, 13, old.root, new.root, back.proof)
    with pytest.raises(TlogError):
        verify_consistency(5, 13, new.root, old.root, back.proof)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "old 5\n",
        "old 05\n\nx",
        "old five\n\nx",
        "old 1\nnot base64!\n\nx",
        "old 1\nAAAA\n\nx",
        "old 1\n" + "".join(base64.b64encode(bytes(32)).decode() + "\n" for _ in range(64)) + "\nx",
    ],
)
def test_malformed_add_checkpoint_bodies_are_refused(text: str) -> None:
    with pytest.raises(TlogError):
        AddCheckpoint.parse(text)


@settings(max_examples=80, deadline=None)
@given(st.text(max_size=300))
def test_any_text_is_an_add_checkpoint_request_or_refused(text: str) -> None:
    try:
        parsed = AddCheckpoint.parse(text)
    except TlogError:
        return
    assert AddCheckpoint.parse(parsed.text()) == parsed


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=200))
def test_any_note_is_read_or_refused(text: str) -> None:
    with contextlib.suppress(TlogError):
        open_cosignature(text, NAME, WITNESS.public_key())
