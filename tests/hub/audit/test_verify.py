"""Offline verification of exports: an honest log verifies, every tamper is named."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.audit import kinds
from hub.audit.checkpoint import Checkpoint, CheckpointSigner
from hub.audit.errors import CheckpointError, ExportError, ProofError, TreeStateError
from hub.audit.export import latest_size, read_export, write_export
from hub.audit.leaves import (
    SignedLeaves,
    leaves_from_header,
    leaves_header,
    open_leaves,
    signed_leaf_map,
)
from hub.audit.merkle import CompactTree, inclusion_proof, leaf_hash
from hub.audit.verify import (
    VerifyReport,
    make_proof_bundle,
    verify_log,
    verify_proof_bundle,
)
from schemas.countersign import sha256_digest

ORIGIN = "enlace.test/audit"
SIGNER = CheckpointSigner(Ed25519PrivateKey.generate(), "hub-k1")
KEYS = [SIGNER.verifier()]


@dataclass
class Log:
    entries: list[bytes]
    notes: list[str]


def _entry(i: int, index: int) -> bytes:
    e = kinds.rejected(None, "GT", "bad_signature", sha256_digest(str(i).encode()), i)
    return e.with_index(index).canonical()


def build_log(n: int, every: int, signer: CheckpointSigner = SIGNER) -> Log:
    entries = [_entry(i, i) for i in range(n)]
    tree = CompactTree()
    notes = []
    for i, raw in enumerate(entries):
        tree.append(leaf_hash(raw))
        if (i + 1) % every == 0 or i == n - 1:
            cp = Checkpoint(ORIGIN, tree.size, tree.root(), datetime.now(UTC))
            notes.append(signer.sign(cp))
    return Log(entries, notes)


def check(log: Log) -> VerifyReport:
    return verify_log(log.entries, log.notes, KEYS, require_covered=True)


def via_export(tmp_path: Path, log: Log) -> Log:
    path = tmp_path / "audit.jsonl"
    write_export(path, ORIGIN, log.entries, log.notes)
    exported = read_export(path)
    assert exported.origin == ORIGIN
    return Log(exported.entries, exported.checkpoints)


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=0, max_value=60), st.integers(min_value=1, max_value=9))
def test_an_honest_log_always_verifies(n: int, every: int) -> None:
    log = build_log(n, every)
    report = check(log)
    assert report.ok, report.problem
    assert report.size == report.covered == n


def test_export_round_trip_keeps_exact_bytes(tmp_path: Path) -> None:
    log = build_log(10, 4)
    back = via_export(tmp_path, log)
    assert back == log
    assert check(back).ok
    assert latest_size(log.notes) == 10


N, EVERY = 24, 4


def _floor(i: int) -> int:
    return (i // EVERY) * EVERY


@settings(max_examples=80, deadline=None)
@given(st.integers(min_value=0, max_value=N - 1), st.data())
def test_one_changed_byte_in_any_entry_is_detected(i: int, data: st.DataObject) -> None:
    log = build_log(N, EVERY)
    raw = bytearray(log.entries[i])
    pos = data.draw(st.integers(min_value=0, max_value=len(raw) - 1))
    new = data.draw(st.integers(min_value=0, max_value=255).filter(lambda b: b != raw[pos]))
    raw[pos] = new
    log.entries[i] = bytes(raw)
    report = check(log)
    assert not report.ok
    # Named exactly when the entry no longer parses as itself, else bounded by the last
    # checkpoint that still matches.
    assert report.first_bad_index is not None
    assert _floor(i) <= report.first_bad_index <= i


def test_a_changed_but_valid_entry_is_bounded_by_checkpoints() -> None:
    log = build_log(N, EVERY)
    log.entries[9] = log.entries[9].replace(b"bad_signature", b"bad_signaturf")
    report = check(log)
    assert report.first_bad_index == 8
    assert report.problem is not None and "8..11" in report.problem.reason


@pytest.mark.parametrize("i", [0, 5, 12, N - 1])
def test_a_dropped_entry_is_named(i: int) -> None:
    log = build_log(N, EVERY)
    del log.entries[i]
    assert check(log).first_bad_index == i


@pytest.mark.parametrize(("i", "j"), [(0, 1), (3, 17), (22, 23)])
def test_two_reordered_entries_are_named(i: int, j: int) -> None:
    log = build_log(N, EVERY)
    log.entries[i], log.entries[j] = log.entries[j], log.entries[i]
    assert check(log).first_bad_index == i


@pytest.mark.parametrize("keep", [0, 7, 8, N - 1])
def test_truncation_is_named(keep: int) -> None:
    log = build_log(N, EVERY)
    log.entries = log.entries[:keep]
    report = check(log)
    assert report.first_bad_index == keep
    assert report.problem is not None and "truncated" in report.problem.reason


def test_a_forged_entry_appended_is_named(tmp_path: Path) -> None:
    log = via_export(tmp_path, build_log(N, EVERY))
    log.entries.append(_entry(999, N))
    report = check(log)
    assert report.first_bad_index == N
    assert report.problem is not None and "not covered" in report.problem.reason


def test_a_forged_entry_inserted_is_named() -> None:
    log = build_log(N, EVERY)
    log.entries.insert(6, _entry(999, 6))
    assert check(log).first_bad_index == 7


def test_a_replaced_checkpoint_is_named() -> None:
    log = build_log(N, EVERY)
    other = build_log(N, EVERY)
    other.entries[10] = _entry(555, 10)
    rebuilt = build_log(0, EVERY)
    tree = CompactTree()
    for raw in other.entries[:12]:
        tree.append(leaf_hash(raw))
    rebuilt.notes = [SIGNER.sign(Checkpoint(ORIGIN, 12, tree.root(), datetime.now(UTC)))]
    log.notes[2] = rebuilt.notes[0]  # same size (12), another log's root, right key
    report = check(log)
    assert not report.ok
    assert report.problem is not None and report.problem.checkpoint == 2
    assert report.first_bad_index == 8


def test_a_checkpoint_signed_with_another_key_is_named() -> None:
    log = build_log(N, EVERY)
    intruder = CheckpointSigner(Ed25519PrivateKey.generate(), "hub-k1")
    log.notes[3] = build_log(N, EVERY, intruder).notes[3]
    report = check(log)
    assert report.problem is not None and report.problem.checkpoint == 3
    assert "not signed by a known hub key" in report.problem.reason


def test_a_checkpoint_of_another_origin_is_refused() -> None:
    log = build_log(8, 4)
    log.notes[1] = SIGNER.sign(Checkpoint("elsewhere", 8, bytes(32), datetime.now(UTC)))
    report = check(log)
    assert report.problem is not None and report.problem.checkpoint == 1


def test_two_checkpoints_of_one_size_with_different_roots_fork() -> None:
    log = build_log(8, 4)
    log.notes.append(SIGNER.sign(Checkpoint(ORIGIN, 4, bytes(32), datetime.now(UTC))))
    assert not check(log).ok


def test_uncovered_tail_is_only_a_note_for_the_live_stream() -> None:
    log = build_log(10, 4)
    log.entries.append(_entry(10, 10))
    report = verify_log(log.entries, log.notes, KEYS)
    assert report.ok and report.notes


def test_tampered_export_file_line_is_named(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = build_log(N, EVERY)
    write_export(path, ORIGIN, log.entries, log.notes)
    lines = path.read_bytes().split(b"\n")
    lines[1 + 13] = lines[1 + 13].replace(b'"index":13', b'"index":14')
    path.write_bytes(b"\n".join(lines))
    exported = read_export(path)
    assert check(Log(exported.entries, exported.checkpoints)).first_bad_index == 13


def test_not_an_export_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text('{"hello": 1}\n')
    with pytest.raises(ExportError, match="line 1"):
        read_export(path)


def test_inclusion_proof_bundle_verifies_and_refuses_forgery() -> None:
    log = build_log(13, 13)
    hashes = [leaf_hash(x) for x in log.entries]
    bundle = make_proof_bundle(log.entries[5], 5, inclusion_proof(hashes, 5), log.notes[-1])
    cp, index = verify_proof_bundle(bundle, KEYS)
    assert (cp.size, index) == (13, 5)
    forged = dict(bundle, entry=_entry(77, 5).decode())
    with pytest.raises(ProofError):
        verify_proof_bundle(forged, KEYS)
    other = CheckpointSigner(Ed25519PrivateKey.generate(), "hub-k1")
    with pytest.raises(CheckpointError):
        verify_proof_bundle(bundle, [other.verifier()])


def sign_leaves(log: Log, first: int, upto: int, signer: CheckpointSigner = SIGNER) -> str:
    hashes = tuple(leaf_hash(raw) for raw in log.entries[first:upto])
    return signer.sign_note(SignedLeaves(ORIGIN, first, hashes).text())


@pytest.mark.parametrize("i", [0, 9, 13, N - 1])
def test_a_changed_but_valid_entry_is_named_exactly_by_the_signed_leaves(
    i: int, tmp_path: Path
) -> None:
    log = build_log(N, EVERY)
    leaves = [sign_leaves(log, k, min(k + EVERY, N)) for k in range(0, N, EVERY)]
    log.entries[i] = log.entries[i].replace(b"bad_signature", b"bad_signaturf")
    report = verify_log(log.entries, log.notes, KEYS, require_covered=True, leaves=leaves)
    assert report.first_bad_index == i
    assert report.problem is not None and "changed in place" in report.problem.reason
    # The same through an export file, offline.
    path = tmp_path / "audit.jsonl"
    write_export(path, ORIGIN, log.entries, log.notes, leaves)
    exported = read_export(path)
    assert exported.leaves == leaves
    again = verify_log(
        exported.entries, exported.checkpoints, KEYS, require_covered=True, leaves=exported.leaves
    )
    assert again.first_bad_index == i


def test_leaves_signed_by_another_key_or_log_name_nothing() -> None:
    log = build_log(N, EVERY)
    other = CheckpointSigner(Ed25519PrivateKey.generate(), "hub-k1")
    forged = sign_leaves(log, 8, 12, other)
    log.entries[9] = log.entries[9].replace(b"bad_signature", b"bad_signaturf")
    # A forger signs leaves that "prove" entry 11 changed: refused, the range is reported.
    fake = build_log(N, EVERY)
    fake.entries[11] = fake.entries[11].replace(b"bad_signature", b"bad_signaturf")
    wrong_log = SIGNER.sign_note(
        SignedLeaves("enlace.other", 8, tuple(leaf_hash(r) for r in fake.entries[8:12])).text()
    )
    report = verify_log(log.entries, log.notes, KEYS, leaves=[forged, wrong_log])
    assert report.first_bad_index == 8
    # A leaves note can never pass for a checkpoint, nor the reverse.
    as_checkpoint = verify_log(log.entries, [sign_leaves(log, 0, 4)], KEYS)
    assert as_checkpoint.problem is not None and as_checkpoint.problem.checkpoint == 0
    with pytest.raises(TreeStateError):
        open_leaves(log.notes[0], KEYS)


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=200))
def test_any_text_is_read_as_leaves_or_refused(text: str) -> None:
    try:
        parsed = SignedLeaves.parse_text(text)
    except TreeStateError:
        return
    assert parsed.text().decode() == text


def test_the_compact_header_form_of_a_leaves_note_round_trips() -> None:
    log = build_log(N, EVERY)
    note = sign_leaves(log, 4, 12)
    header = leaves_header(note)
    assert "\n" not in header and header.isascii()
    assert leaves_from_header(header, ORIGIN) == note
    # Another log's name gives a note whose signature no longer holds.
    other = leaves_from_header(header, "enlace.other")
    assert other is not None and signed_leaf_map([other], KEYS, None) == {}
    for bad in ("", "4 x", "4 !!! hub-k1 AAAA", "x AAAA hub-k1 AAAA"):
        assert leaves_from_header(bad, ORIGIN) is None
