"""Signed checkpoints: C2SP tlog-checkpoint bodies in C2SP signed-note envelopes.

A checkpoint commits the hub to the log's size and root hash at a time::

    <origin>
    <size>
    <base64 root hash>
    time <RFC 3339 UTC>          (an extension line: when the hub signed)

    — <name> <base64(key hash ‖ Ed25519 signature)>

The signature covers the note text (the lines above the blank line, each ending in a
newline). The key hash is the first 4 bytes of SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)
(signed-note, Ed25519). The hub names its key by its directory kid, so a verifier finds
the public key in ``Directory.hub.keys`` (or a key file) by name and key hash.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from hub.audit.errors import CheckpointError

__all__ = [
    "Checkpoint",
    "CheckpointSigner",
    "CheckpointVerifier",
    "key_hash",
    "open_checkpoint",
    "open_note",
]

_SIG_PREFIX = "— "  # U+2014 EM DASH, U+0020 SPACE
_NAME = re.compile(r"^[^\s+]+$")
_ED25519 = b"\x01"


def _raw(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def key_hash(name: str, public_key: Ed25519PublicKey) -> bytes:
    """The signed-note key hash of an Ed25519 key named ``name``."""
    return hashlib.sha256(name.encode() + b"\n" + _ED25519 + _raw(public_key)).digest()[:4]


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
        lines = text.split("\n")
        if len(lines) < 5 or lines[-1] != "":
            raise CheckpointError("checkpoint body needs origin, size, root and time lines")
        origin, size_text, root_text = lines[0], lines[1], lines[2]
        if not origin:
            raise CheckpointError("checkpoint origin line is empty")
        if not re.fullmatch(r"0|[1-9][0-9]*", size_text):
            raise CheckpointError(f"checkpoint size {size_text!r} is not a decimal number")
        try:
            root = base64.b64decode(root_text, validate=True)
        except binascii.Error:
            raise CheckpointError("checkpoint root hash is not base64") from None
        if len(root) != 32:
            raise CheckpointError(f"checkpoint root hash has {len(root)} bytes, not 32")
        times = [ln[5:] for ln in lines[3:-1] if ln.startswith("time ")]
        if len(times) != 1:
            raise CheckpointError("checkpoint needs exactly one 'time' extension line")
        try:
            moment = datetime.strptime(times[0], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        except ValueError:
            raise CheckpointError(f"checkpoint time {times[0]!r} is not RFC 3339 UTC") from None
        return cls(origin=origin, size=int(size_text), root=root, time=moment)


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

    def sign_note(self, text: bytes) -> str:
        """A signed note of any ``text`` (non-empty lines, each ending in a newline)."""
        signature = base64.b64encode(self.key_hash + self._key.sign(text)).decode()
        return f"{text.decode()}\n{_SIG_PREFIX}{self.name} {signature}\n"


@dataclass(frozen=True)
class CheckpointVerifier:
    """A public key that may sign checkpoints, with the name it signs under."""

    name: str
    public_key: Ed25519PublicKey

    @property
    def key_hash(self) -> bytes:
        return key_hash(self.name, self.public_key)


def _split_note(note: str) -> tuple[str, list[tuple[str, bytes, bytes]]]:
    body, sep, sigs = note.partition("\n\n")
    if not sep or not sigs.endswith("\n"):
        raise CheckpointError("not a signed note: no blank line before the signatures")
    signatures = []
    for line in sigs[:-1].split("\n"):
        if not line.startswith(_SIG_PREFIX):
            raise CheckpointError(f"signature line {line[:40]!r} does not start with '— '")
        name, _, blob = line[len(_SIG_PREFIX) :].partition(" ")
        try:
            raw = base64.b64decode(blob, validate=True)
        except binascii.Error:
            raise CheckpointError(f"signature of {name!r} is not base64") from None
        if len(raw) < 5:
            raise CheckpointError(f"signature of {name!r} is too short")
        signatures.append((name, raw[:4], raw[4:]))
    return body + "\n", signatures


def open_checkpoint(note: str, verifiers: Iterable[CheckpointVerifier]) -> Checkpoint:
    """Verify a signed checkpoint against the hub's keys and return what it commits to.

    Raises:
        CheckpointError: malformed, signed by no known key, or a known key's signature fails.
    """
    return Checkpoint.parse_body(open_note(note, verifiers))


def open_note(note: str, verifiers: Iterable[CheckpointVerifier]) -> str:
    """Verify a signed note and return its text.

    A signature line from an unknown key is ignored (others may cosign); at least one line
    must be a valid signature of a known key.

    Raises:
        CheckpointError: malformed, signed by no known key, or a known key's signature fails.
    """
    body, signatures = _split_note(note)
    known = {(v.name, v.key_hash): v for v in verifiers}
    verified = False
    for name, khash, sig in signatures:
        verifier = known.get((name, khash))
        if verifier is None:
            continue
        try:
            verifier.public_key.verify(sig, body.encode())
        except InvalidSignature:
            raise CheckpointError(f"signature by {name!r} does not match the checkpoint") from None
        verified = True
    if not verified:
        names = ", ".join(repr(n) for n, _, _ in signatures) or "none"
        raise CheckpointError(
            f"checkpoint is not signed by a known hub key (signed by {names}); "
            "check the hub keys in the directory or --key"
        )
    return body
