"""Transparency-log primitives both sides need: the hub signs its log, every party witnesses it.

The hub (:mod:`hub.audit`) and a party's witness (:mod:`adapters.witness`) may not import
each other, so what they share is here:

- RFC 6962 / RFC 9162 hashes and the check of a consistency proof (the hub makes proofs
  in :mod:`hub.audit.merkle`; a witness only checks them);
- C2SP signed notes: splitting a note into its text and signature lines, key hashes, and
  verifying a note against named Ed25519 keys (signature type 0x01);
- the first three lines of a C2SP tlog-checkpoint (origin, size, root hash);
- C2SP tlog-cosignature/v1 (Ed25519, signature type 0x04): a witness's timestamped
  signature over ``cosignature/v1\\ntime <t>\\n`` and the whole checkpoint text, in a note
  signature line ``— <name> base64(key hash ‖ u64 timestamp ‖ signature)``;
- the tlog-witness ``add-checkpoint`` body: ``old <size>``, the proof's hashes one per
  line, an empty line, then the signed checkpoint.

Errors are :class:`~schemas.errors.TlogError`; the hub turns them into its own audit
errors.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from schemas.errors import TlogError

__all__ = [
    "ANSWER_ERROR",
    "COSIGNATURE_V1",
    "ED25519",
    "MAX_PROOF_LINES",
    "SIG_PREFIX",
    "AddCheckpoint",
    "CheckpointHead",
    "Cosignature",
    "NoteKey",
    "checkpoint_head",
    "cosign",
    "cosigner_name",
    "leaf_hash",
    "node_hash",
    "note_key_hash",
    "open_cosignature",
    "split_note",
    "verify_consistency",
    "verify_note",
]

SIG_PREFIX = "— "  # U+2014 EM DASH, U+0020 SPACE
ED25519 = b"\x01"  # signed-note signature type of an Ed25519 note signature
COSIGNATURE_V1 = b"\x04"  # signature type of an Ed25519 tlog-cosignature/v1
MAX_PROOF_LINES = 63  # tlog-witness: a client sends no more
ANSWER_ERROR = "error: "
"""How the hub's answer to a witness begins when it could not make one (then why)."""
_NAME = re.compile(r"^[^\s+]+$")


def leaf_hash(entry: bytes) -> bytes:
    """The RFC 6962 hash of a leaf: SHA-256 of 0x00 and the entry."""
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """The RFC 6962 hash of an inner node: SHA-256 of 0x01, left and right."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Check a consistency proof (RFC 9162 §2.1.4.2).

    Args:
        old_size: the older tree's size.
        new_size: the newer tree's size.
        old_root: the older tree's root hash.
        new_root: the newer tree's root hash.
        proof: the consistency proof.

    Raises:
        TlogError: the tree of ``new_root`` does not extend that of ``old_root``.
    """
    if not 0 <= old_size <= new_size:
        raise TlogError(f"size {new_size} cannot extend size {old_size}")
    if old_size == new_size:
        if proof or old_root != new_root:
            raise TlogError(f"two different roots for the same size {old_size}")
        return
    if old_size == 0:
        if proof:
            raise TlogError("a consistency proof from the empty tree must be empty")
        return
    if not proof:
        raise TlogError("empty consistency proof")
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # a power of two: the old root is itself a node
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise TlogError("consistency proof is longer than needed")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise TlogError("consistency proof is shorter than needed")
    if fr != old_root:
        raise TlogError(f"the log of size {new_size} does not contain the root of size {old_size}")
    if sr != new_root:
        raise TlogError(f"consistency proof does not lead to the root of size {new_size}")


# -- signed notes --------------------------------------------------------------------------


def _raw(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def note_key_hash(name: str, public_key: Ed25519PublicKey, kind: bytes = ED25519) -> bytes:
    """The signed-note key hash: SHA-256(name ‖ 0x0A ‖ signature type ‖ public key)[:4].

    Args:
        name: the key's name in signature lines.
        public_key: the Ed25519 public key.
        kind: :data:`ED25519` (note signatures) or :data:`COSIGNATURE_V1` (cosignatures).
    """
    return hashlib.sha256(name.encode() + b"\n" + kind + _raw(public_key)).digest()[:4]


def split_note(note: str) -> tuple[str, list[tuple[str, bytes, bytes]]]:
    """A signed note's text (with its final newline) and its ``(name, key hash, signature)``.

    Raises:
        TlogError: not a signed note.
    """
    body, sep, sigs = note.partition("\n\n")
    if not sep or not sigs.endswith("\n"):
        raise TlogError("not a signed note: no blank line before the signatures")
    signatures = []
    for line in sigs[:-1].split("\n"):
        if not line.startswith(SIG_PREFIX):
            raise TlogError(f"signature line {line[:40]!r} does not start with '— '")
        name, _, blob = line[len(SIG_PREFIX) :].partition(" ")
        try:
            raw = base64.b64decode(blob, validate=True)
        except binascii.Error:
            raise TlogError(f"signature of {name!r} is not base64") from None
        if len(raw) < 5:
            raise TlogError(f"signature of {name!r} is too short")
        signatures.append((name, raw[:4], raw[4:]))
    return body + "\n", signatures


@dataclass(frozen=True)
class NoteKey:
    """An Ed25519 key that may sign notes, under ``name``."""

    name: str
    public_key: Ed25519PublicKey

    @property
    def key_hash(self) -> bytes:
        return note_key_hash(self.name, self.public_key)


def verify_note(note: str, keys: Iterable[NoteKey]) -> str:
    """Verify a signed note and return its text.

    A signature line from an unknown key is ignored (others may cosign); at least one line
    must be a valid signature of a known key.

    Raises:
        TlogError: malformed, signed by no known key, or a known key's signature fails.
    """
    body, signatures = split_note(note)
    known = {(k.name, k.key_hash): k for k in keys}
    verified = False
    for name, khash, sig in signatures:
        key = known.get((name, khash))
        if key is None:
            continue
        try:
            key.public_key.verify(sig, body.encode())
        except InvalidSignature:
            raise TlogError(f"signature by {name!r} does not match the checkpoint") from None
        verified = True
    if not verified:
        names = ", ".join(repr(n) for n, _, _ in signatures) or "none"
        raise TlogError(
            f"checkpoint is not signed by a known hub key (signed by {names}); "
            "check the hub keys in the directory or --key"
        )
    return body


@dataclass(frozen=True)
class CheckpointHead:
    """The first three lines of a checkpoint: what a witness vouches for."""

    origin: str
    size: int
    root: bytes


def checkpoint_head(body: str) -> CheckpointHead:
    """Read the origin, size and root hash lines of a checkpoint text.

    Raises:
        TlogError: a line is missing or malformed (says which).
    """
    lines = body.split("\n")
    if len(lines) < 4 or lines[-1] != "":
        raise TlogError("checkpoint body needs origin, size and root lines")
    origin, size_text, root_text = lines[0], lines[1], lines[2]
    if not origin:
        raise TlogError("checkpoint origin line is empty")
    if not re.fullmatch(r"0|[1-9][0-9]*", size_text):
        raise TlogError(f"checkpoint size {size_text!r} is not a decimal number")
    try:
        root = base64.b64decode(root_text, validate=True)
    except binascii.Error:
        raise TlogError("checkpoint root hash is not base64") from None
    if len(root) != 32:
        raise TlogError(f"checkpoint root hash has {len(root)} bytes, not 32")
    return CheckpointHead(origin, int(size_text), root)


# -- cosignatures ---------------------------------------------------------------------------


def _cosigned_message(body: str, timestamp: int) -> bytes:
    return f"cosignature/v1\ntime {timestamp}\n".encode() + body.encode()


def cosigner_name(origin: str, country: str) -> str:
    """The name party ``country``'s witness cosigns log ``origin`` under.

    Both sides compute it: the witness to sign, a verifier to find the key ID it expects.
    """
    return f"{origin}/witness/{country}"


def cosign(key: Ed25519PrivateKey, name: str, body: str, timestamp: int) -> str:
    """The tlog-cosignature/v1 signature line of ``name`` over checkpoint text ``body``.

    Args:
        key: the cosigner's Ed25519 key.
        name: the cosigner's name (no spaces, no '+').
        body: the checkpoint text (its lines, each ending in a newline).
        timestamp: POSIX seconds of the cosignature.
    """
    if not _NAME.fullmatch(name):
        raise TlogError(f"cosigner name {name!r} must be non-empty, without spaces or '+'")
    if not 0 <= timestamp < 2**63:
        raise TlogError(f"cosignature time {timestamp} is out of range")
    khash = note_key_hash(name, key.public_key(), COSIGNATURE_V1)
    signature = key.sign(_cosigned_message(body, timestamp))
    blob = base64.b64encode(khash + struct.pack(">Q", timestamp) + signature).decode()
    return f"{SIG_PREFIX}{name} {blob}\n"


@dataclass(frozen=True)
class Cosignature:
    """A verified cosignature: who, with which key hash, and when (POSIX seconds)."""

    name: str
    key_hash: bytes
    timestamp: int


def open_cosignature(note: str, name: str, public_key: Ed25519PublicKey) -> Cosignature | None:
    """The cosignature of ``name`` with ``public_key`` on ``note``, if it holds (else None).

    Lines of other names or keys are ignored, as C2SP asks of clients.

    Args:
        note: the checkpoint with its signature lines.
        name: the cosigner's name.
        public_key: the cosigner's Ed25519 key.

    Raises:
        TlogError: the note is malformed, or ``name``'s line with this key hash does not
            verify (a forged or altered cosignature).
    """
    body, signatures = split_note(note)
    khash = note_key_hash(name, public_key, COSIGNATURE_V1)
    for signer, line_hash, rest in signatures:
        if (signer, line_hash) != (name, khash):
            continue
        if len(rest) != 8 + 64:
            raise TlogError(f"cosignature of {name!r} has {len(rest)} bytes, not 72")
        (timestamp,) = struct.unpack(">Q", rest[:8])
        try:
            public_key.verify(rest[8:], _cosigned_message(body, timestamp))
        except InvalidSignature:
            raise TlogError(f"cosignature by {name!r} does not match the checkpoint") from None
        return Cosignature(name, khash, timestamp)
    return None


@dataclass(frozen=True)
class AddCheckpoint:
    """A tlog-witness ``add-checkpoint`` request: old size, consistency proof, checkpoint."""

    old_size: int
    proof: tuple[bytes, ...]
    note: str

    def text(self) -> str:
        """The request body."""
        lines = [f"old {self.old_size}", *(base64.b64encode(p).decode() for p in self.proof)]
        return "".join(f"{line}\n" for line in lines) + "\n" + self.note

    @classmethod
    def parse(cls, text: str) -> AddCheckpoint:
        """Read a request body.

        Raises:
            TlogError: malformed (says what).
        """
        head, sep, note = text.partition("\n\n")
        lines = head.split("\n")
        if not sep or not lines[0].startswith("old "):
            raise TlogError("add-checkpoint body must start with 'old <size>' and an empty line")
        size_text = lines[0][4:]
        if not re.fullmatch(r"0|[1-9][0-9]*", size_text):
            raise TlogError(f"old size {size_text!r} is not a decimal number")
        if len(lines) - 1 > MAX_PROOF_LINES:
            raise TlogError(f"{len(lines) - 1} proof lines, at most {MAX_PROOF_LINES}")
        proof = []
        for line in lines[1:]:
            try:
                hash_ = base64.b64decode(line, validate=True)
            except binascii.Error:
                raise TlogError("a consistency proof line is not base64") from None
            if len(hash_) != 32:
                raise TlogError(f"a consistency proof hash has {len(hash_)} bytes, not 32")
            proof.append(hash_)
        return cls(int(size_text), tuple(proof), note)
