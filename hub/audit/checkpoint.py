"""Signed checkpoints: C2SP tlog-checkpoint bodies in C2SP signed-note envelopes.

A checkpoint commits the hub to the log's size and root hash at a time::

    <origin>
    <size>
    <base64 root hash>
    time <RFC 3339 UTC>          (an extension line: when the hub signed)

    — <name> <base64(key hash ‖ Ed25519 signature)>

The signature covers the note text (the lines above the blank line, each ending in a
newline). The key hash is the first 4 bytes of SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)
(signed-note, Ed25519).

The origin names the log: ``enlace.<deployment id>`` (:func:`log_origin`), and the hub's
key signs under that same name, as C2SP tlog-checkpoint asks, so a verifier looks the key
up by the log's name. A log keeps the origin of its first checkpoint for good: a log
begun before deployments had ids stays ``hub`` (its directory hub id). Checkpoints signed
before the key was named after the log carry the key's directory kid (``hub-k1``); a
verifier built with ``by_origin`` (:class:`CheckpointVerifier`) accepts both, so such a
log still verifies.

Beside each checkpoint the writer stores its own state, a second signed note by the same
key (:class:`WriterState`), so that it can start again from there instead of re-reading
the whole log::

    enlace-audit-writer-state v1
    origin <origin>
    size <size>
    last-seq <stream sequence of the last AUDIT message the size covers>
    root <base64 root hash>
    last-leaf <base64 leaf hash of entry size-1>
    peak <base64 root of the largest perfect subtree>
    peak …                       (one line per 1-bit of size, largest first)

Its second line is not a number, so a state note can never pass for a checkpoint (nor a
checkpoint for a state): the two texts signed by one key cannot be confused.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from hub.audit.errors import CheckpointError, TreeStateError
from schemas import tlog
from schemas.errors import TlogError

__all__ = [
    "Checkpoint",
    "CheckpointSigner",
    "CheckpointVerifier",
    "WriterState",
    "key_hash",
    "log_origin",
    "note_origin",
    "note_signers",
    "open_checkpoint",
    "open_note",
    "open_state",
]

_SIG_PREFIX = tlog.SIG_PREFIX
_NAME = re.compile(r"^[^\s+]+$")
_ED25519 = b"\x01"


def key_hash(name: str, public_key: Ed25519PublicKey) -> bytes:
    """The signed-note key hash of an Ed25519 key named ``name``."""
    return tlog.note_key_hash(name, public_key)


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Checkpoint:
    """What a checkpoint commits to; ``body()`` is the signed text."""

    origin: str
    size: int
    root: bytes
    time: datetime

    def body(self) -> bytes:
        return (
            f"{self.origin}\n{self.size}\n{base64.b64encode(self.root).decode()}\n"
            f"time {_rfc3339(self.time)}\n"
        ).encode()

    @classmethod
    def parse_body(cls, text: str) -> Checkpoint:
        """Read a checkpoint body.

        Raises:
            CheckpointError: a line is missing or malformed (says which).
        """
        try:
            head = tlog.checkpoint_head(text)
        except TlogError as exc:
            raise CheckpointError(exc.description) from None
        lines = text.split("\n")
        times = [ln[5:] for ln in lines[3:-1] if ln.startswith("time ")]
        if len(times) != 1:
            raise CheckpointError("checkpoint needs exactly one 'time' extension line")
        try:
            moment = datetime.strptime(times[0], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        except ValueError:
            raise CheckpointError(f"checkpoint time {times[0]!r} is not RFC 3339 UTC") from None
        return cls(origin=head.origin, size=head.size, root=head.root, time=moment)


_STATE_MAGIC = "enlace-audit-writer-state v1"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _hash_from_b64(text: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(text, validate=True)
    except binascii.Error:
        raise TreeStateError(f"writer state {what} is not base64") from None
    if len(raw) != 32:
        raise TreeStateError(f"writer state {what} has {len(raw)} bytes, not 32")
    return raw


@dataclass(frozen=True)
class WriterState:
    """Where a writer stood at a checkpoint: enough to resume without re-reading the log.

    ``peaks`` rebuild the tree (:meth:`hub.audit.merkle.CompactTree.from_peaks`) and must
    give ``root``; ``last_seq`` is where reading the stream resumes; ``last_leaf`` lets
    the writer check that the AUDIT message at ``last_seq`` is the one it covered.
    """

    origin: str
    size: int
    last_seq: int
    root: bytes
    last_leaf: bytes
    peaks: tuple[bytes, ...]

    def text(self) -> bytes:
        """The signed text (see the module docstring)."""
        lines = [
            _STATE_MAGIC,
            f"origin {self.origin}",
            f"size {self.size}",
            f"last-seq {self.last_seq}",
            f"root {_b64(self.root)}",
            f"last-leaf {_b64(self.last_leaf)}",
            *(f"peak {_b64(p)}" for p in self.peaks),
        ]
        return "".join(f"{line}\n" for line in lines).encode()

    @classmethod
    def parse_text(cls, text: str) -> WriterState:
        """Read a state text.

        Raises:
            TreeStateError: not a state, or a line is missing or malformed (says which).
        """
        lines = text.split("\n")
        if len(lines) < 7 or lines[-1] != "" or lines[0] != _STATE_MAGIC:
            raise TreeStateError(f"not an audit writer state (expected {_STATE_MAGIC!r} first)")
        fields: list[str] = []
        for line, key in zip(
            lines[1:6], ("origin", "size", "last-seq", "root", "last-leaf"), strict=True
        ):
            name, _, value = line.partition(" ")
            if name != key or not value:
                raise TreeStateError(f"writer state line {line[:40]!r} should be '{key} <value>'")
            fields.append(value)
        origin, size_text, seq_text, root_text, leaf_text = fields
        for what, number in (("size", size_text), ("last-seq", seq_text)):
            if not re.fullmatch(r"[1-9][0-9]*", number):
                raise TreeStateError(f"writer state {what} {number!r} is not a positive number")
        peaks: list[bytes] = []
        for line in lines[6:-1]:
            name, _, value = line.partition(" ")
            if name != "peak":
                raise TreeStateError(f"writer state line {line[:40]!r} should be 'peak <hash>'")
            peaks.append(_hash_from_b64(value, f"peak {len(peaks)}"))
        return cls(
            origin=origin,
            size=int(size_text),
            last_seq=int(seq_text),
            root=_hash_from_b64(root_text, "root"),
            last_leaf=_hash_from_b64(leaf_text, "last-leaf"),
            peaks=tuple(peaks),
        )


class CheckpointSigner:
    """Signs checkpoints with the hub's audit key (Ed25519), named by its kid."""

    def __init__(self, private_key: Ed25519PrivateKey, name: str) -> None:
        if not _NAME.fullmatch(name):
            raise CheckpointError(f"signer name {name!r} must be non-empty, without spaces or '+'")
        self._key = private_key
        self.name = name
        self.key_hash = key_hash(name, private_key.public_key())

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self._key.public_key()

    def verifier(self) -> CheckpointVerifier:
        return CheckpointVerifier(self.name, self.public_key)

    def sign(self, checkpoint: Checkpoint) -> str:
        """The signed note of ``checkpoint``."""
        return self.sign_note(checkpoint.body())

    def sign_state(self, state: WriterState) -> str:
        """The signed note of a writer's ``state``."""
        return self.sign_note(state.text())

    def sign_note(self, text: bytes) -> str:
        """A signed note of any ``text`` (non-empty lines, each ending in a newline)."""
        signature = base64.b64encode(self.key_hash + self._key.sign(text)).decode()
        return f"{text.decode()}\n{_SIG_PREFIX}{self.name} {signature}\n"


def note_origin(note: str) -> str:
    """The first line of a note (a checkpoint's origin), not verified."""
    return note.split("\n", 1)[0]


def note_size(note: str) -> int | None:
    """The second line of a checkpoint note (its tree size), not verified; None when it
    is not a number."""
    lines = note.split("\n", 2)
    return int(lines[1]) if len(lines) > 1 and lines[1].isdigit() else None


def log_origin(existing: str | None, deployment_id: str | None, hub_id: str) -> str:
    """The origin the hub writes its checkpoints under.

    Args:
        existing: the origin of the log's stored checkpoints (none yet: None); a log never
            changes its name, or its earlier checkpoints would be another log's.
        deployment_id: the deployment's id (``deployment_id`` in ``enlace.yaml``).
        hub_id: the directory's hub id, for a deployment without an id (as before ids).
    """
    if existing:
        return existing
    return f"enlace.{deployment_id}" if deployment_id else hub_id


@dataclass(frozen=True)
class CheckpointVerifier:
    """A public key that may sign checkpoints, with the name it signs under.

    With ``by_origin`` the key is also accepted under the name of the log it signs (the
    note's origin line): the way the hub names its key since logs name themselves.
    """

    name: str
    public_key: Ed25519PublicKey
    by_origin: bool = False

    @property
    def key_hash(self) -> bytes:
        return key_hash(self.name, self.public_key)


def _split_note(note: str) -> tuple[str, list[tuple[str, bytes, bytes]]]:
    try:
        return tlog.split_note(note)
    except TlogError as exc:
        raise CheckpointError(exc.description) from None


def note_signers(note: str) -> list[tuple[str, bytes]]:
    """The ``(name, key hash)`` of each signature line of a signed note, unverified.

    What a page shows beside a checkpoint ("signed by hub-k1, key 1a2b3c4d"); whether the
    signature holds is :func:`open_checkpoint`'s to say.

    Raises:
        CheckpointError: not a signed note.
    """
    return [(name, khash) for name, khash, _sig in _split_note(note)[1]]


def open_checkpoint(note: str, verifiers: Iterable[CheckpointVerifier]) -> Checkpoint:
    """Verify a signed checkpoint against the hub's keys and return what it commits to.

    Raises:
        CheckpointError: malformed, signed by no known key, or a known key's signature fails.
    """
    return Checkpoint.parse_body(open_note(note, verifiers))


def open_state(note: str, verifiers: Iterable[CheckpointVerifier]) -> WriterState:
    """Verify a signed writer state against the hub's keys and return it.

    Raises:
        CheckpointError: malformed note, signed by no known key, or a signature fails.
        TreeStateError: the signed text is not a writer state.
    """
    return WriterState.parse_text(open_note(note, verifiers))


def open_note(note: str, verifiers: Iterable[CheckpointVerifier]) -> str:
    """Verify a signed note and return its text.

    A signature line from an unknown key is ignored (others may cosign); at least one line
    must be a valid signature of a known key.

    Raises:
        CheckpointError: malformed, signed by no known key, or a known key's signature fails.
    """
    verifiers = list(verifiers)
    keys = [tlog.NoteKey(v.name, v.public_key) for v in verifiers]
    origin = note_origin(note)
    if _NAME.fullmatch(origin):
        keys += [tlog.NoteKey(origin, v.public_key) for v in verifiers if v.by_origin]
    try:
        return tlog.verify_note(note, keys)
    except TlogError as exc:
        raise CheckpointError(exc.description) from None
