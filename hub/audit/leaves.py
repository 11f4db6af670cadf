"""Signed leaf hashes: what lets ``enlace audit verify`` name the exact entry changed in place.

A checkpoint signs only the root of the whole tree, so an entry changed into another
valid entry shows only as a root mismatch somewhere between two checkpoints. Beside each
checkpoint the writer therefore stores a third signed note by the same key: the leaf hash
of every entry it appended since its previous checkpoint (the newest
:data:`MAX_SIGNED_LEAVES` of them)::

    enlace-audit-leaves v1
    origin <origin>
    first <index of the first leaf>
    leaves <base64 of the 32-byte leaf hashes, concatenated>

Its first line differs from a checkpoint's (an origin, then a number) and from a writer
state's, so none of the three texts signed by one key can pass for another. A verifier
compares each entry's recomputed leaf hash with the signed one and names the first that
differs; a note whose signature fails is ignored (the checkpoint range still bounds the
change).

JetStream takes at most 64 KiB of headers per message, so the note travels in the header
``Enlace-Audit-Leaves`` in a compact form, ``<first> <base64 leaves> <key name> <base64
signature>`` (:func:`leaves_header`), and is rebuilt with the checkpoint's origin
(:func:`leaves_from_header`).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable
from dataclasses import dataclass

from hub.audit.checkpoint import CheckpointVerifier, open_note
from hub.audit.errors import CheckpointError, TreeStateError
from schemas import tlog
from schemas.errors import TlogError

__all__ = [
    "MAX_SIGNED_LEAVES",
    "SignedLeaves",
    "leaves_from_header",
    "leaves_header",
    "open_leaves",
    "signed_leaf_map",
]

MAX_SIGNED_LEAVES = 1200
"""The most leaf hashes one note carries (~52 KB as a header, under JetStream's 64 KiB of
headers with the writer state); older ones of a longer range are not signed."""

_MAGIC = "enlace-audit-leaves v1"


@dataclass(frozen=True)
class SignedLeaves:
    """The leaf hashes of entries ``first`` … ``first + len(leaves) - 1`` of log ``origin``."""

    origin: str
    first: int
    leaves: tuple[bytes, ...]

    def text(self) -> bytes:
        """The signed text (see the module docstring)."""
        blob = base64.b64encode(b"".join(self.leaves)).decode()
        return f"{_MAGIC}\norigin {self.origin}\nfirst {self.first}\nleaves {blob}\n".encode()

    @classmethod
    def parse_text(cls, text: str) -> SignedLeaves:
        """Read a leaves text.

        Raises:
            TreeStateError: not a leaves text, or a line is malformed (says which).
        """
        lines = text.split("\n")
        if len(lines) != 5 or lines[0] != _MAGIC or lines[-1] != "":
            raise TreeStateError(f"not signed audit leaves (expected {_MAGIC!r} first)")
        values = []
        for line, key in zip(lines[1:4], ("origin", "first", "leaves"), strict=True):
            name, _, value = line.partition(" ")
            if name != key or not value:
                raise TreeStateError(f"audit leaves line {line[:40]!r} should be '{key} <value>'")
            values.append(value)
        origin, first, blob = values
        if not re.fullmatch(r"0|[1-9][0-9]*", first):
            raise TreeStateError(f"audit leaves first {first!r} is not a number")
        try:
            raw = base64.b64decode(blob, validate=True)
        except binascii.Error:
            raise TreeStateError("audit leaves are not base64") from None
        if not raw or len(raw) % 32:
            raise TreeStateError(f"audit leaves hold {len(raw)} bytes, not a multiple of 32")
        leaves = tuple(raw[i : i + 32] for i in range(0, len(raw), 32))
        return cls(origin=origin, first=int(first), leaves=leaves)


def leaves_header(note: str) -> str:
    """The compact header form of a signed leaves note (see the module docstring).

    Raises:
        TreeStateError: not one signed leaves note.
    """
    try:
        body, signatures = tlog.split_note(note)
    except TlogError as exc:
        raise TreeStateError(exc.description) from None
    leaves = SignedLeaves.parse_text(body)
    if len(signatures) != 1:
        raise TreeStateError("a leaves note carries exactly one signature")
    name, khash, sig = signatures[0]
    blob = base64.b64encode(b"".join(leaves.leaves)).decode()
    return f"{leaves.first} {blob} {name} {base64.b64encode(khash + sig).decode()}"


def leaves_from_header(value: str, origin: str) -> str | None:
    """The signed leaves note a header carries, for log ``origin`` (None: malformed)."""
    parts = value.split(" ")
    if len(parts) != 4:
        return None
    first, blob, name, signature = parts
    text = f"{_MAGIC}\norigin {origin}\nfirst {first}\nleaves {blob}\n"
    try:
        SignedLeaves.parse_text(text)
    except TreeStateError:
        return None
    return f"{text}\n{tlog.SIG_PREFIX}{name} {signature}\n"


def open_leaves(note: str, verifiers: Iterable[CheckpointVerifier]) -> SignedLeaves:
    """Verify a signed leaves note against the hub's keys and return it.

    Raises:
        CheckpointError: malformed note, signed by no known key, or a signature fails.
        TreeStateError: the signed text is not a leaves text.
    """
    return SignedLeaves.parse_text(open_note(note, verifiers))


def signed_leaf_map(
    notes: Iterable[str], verifiers: Iterable[CheckpointVerifier], origin: str | None
) -> dict[int, bytes]:
    """Index → the leaf hash the hub signed for it, from every note that verifies.

    Notes that do not verify, or name another log, are skipped: they prove nothing.

    Args:
        notes: signed leaves notes, as stored beside the checkpoints.
        verifiers: the hub keys.
        origin: the log's name (None: any).
    """
    keys = list(verifiers)
    signed: dict[int, bytes] = {}
    for note in notes:
        try:
            opened = open_leaves(note, keys)
        except (CheckpointError, TreeStateError):
            continue
        if origin is not None and opened.origin != origin:
            continue
        for offset, leaf in enumerate(opened.leaves):
            signed.setdefault(opened.first + offset, leaf)
    return signed
