"""The trust root, and loading the signed directory against it.

The trust root (``trust-root.yaml``) lists each party's Security Commission public keys::

    commission_keys:
      - party: GT
        kid: gt-commission-k1
        jwk: {kty: OKP, crv: Ed25519, x: ...}
        not_before: 2026-01-01T00:00:00Z
        # not_after / revoked_at: optional

It is the local anchor of all trust and is **not itself signed**: like X-Road's
configuration anchor, it is installed out of band (checked by people, compared between
parties) and nothing signed can replace it. Every governance document (the directory,
the sharing agreements) is verified against it.

The directory is in force only by consensus: every party of the trust root must have
signed it with one of its commission keys valid at the time of the check. A deployment
remembers the highest directory version it accepted (``state/directory.version``) and
refuses to go back to an older one.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import Field, model_validator

from schemas.common import CountryCode, StrictModel
from schemas.directory import Directory, PublicKeyRecord
from schemas.errors import (
    BadSignature,
    GovernanceBadSignature,
    GovernanceFileError,
    GovernanceStaleVersion,
    GovernanceUnsigned,
    KeyExpired,
    KeyNotYetValid,
    KeyRevoked,
    MalformedSignature,
)
from schemas.govdoc import GovDoc, load_document
from schemas.jws import verify_detached

__all__ = [
    "ACCEPTED_VERSION_FILE",
    "CommissionKey",
    "DeploymentFiles",
    "SignatureStatus",
    "TrustRoot",
    "accept_directory",
    "check_directory",
    "load_directory",
    "load_trust_root",
    "read_accepted_version",
    "record_accepted_version",
    "signature_status",
]

ACCEPTED_VERSION_FILE = "directory.version"
"""Name, inside a deployment's ``state/``, of the highest accepted directory version."""


class CommissionKey(PublicKeyRecord):
    """A Security Commission public key of one party."""

    party: CountryCode


class TrustRoot(StrictModel):
    """The parties' commission keys: who must sign governance documents, and with what."""

    commission_keys: list[CommissionKey] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_kids(self) -> TrustRoot:
        kids = [k.kid for k in self.commission_keys]
        if len(set(kids)) != len(kids):
            raise ValueError("a commission key id is listed twice")
        return self

    @property
    def parties(self) -> tuple[str, ...]:
        """The parties whose signatures a governance document needs, sorted."""
        return tuple(sorted({k.party for k in self.commission_keys}))

    def record(self, party: str, kid: str) -> CommissionKey | None:
        """The commission key ``kid`` of ``party``, or None."""
        return next(
            (k for k in self.commission_keys if k.party == party and k.kid == kid),
            None,
        )

    def key_for(self, party: str, kid: str) -> Ed25519PublicKey | None:
        """``(party, kid) -> public key`` regardless of validity (see :meth:`lookup`)."""
        record = self.record(party, kid)
        return record.public_key if record is not None else None

    def lookup(self, at: datetime | None = None) -> Callable[[str, str], Ed25519PublicKey | None]:
        """A ``(party, kid) -> public key`` lookup that only yields keys valid at ``at``."""
        moment = at or datetime.now(UTC)

        def key_for(party: str, kid: str) -> Ed25519PublicKey | None:
            record = self.record(party, kid)
            if record is None:
                return None
            try:
                record.check_valid_at(moment)
            except (KeyNotYetValid, KeyExpired, KeyRevoked):
                return None
            return record.public_key

        return key_for


def load_trust_root(path: Path | str) -> TrustRoot:
    """Read and validate ``trust-root.yaml``.

    Raises:
        GovernanceFileError: the file is missing, not YAML, or a value is wrong (file, line,
            field are named).
    """
    doc = load_document(path)
    if "signatures" in doc.data:
        # The anchor is trusted because it was installed, not because it is signed; a
        # signatures list would suggest otherwise, so it is refused rather than ignored.
        raise doc.error(
            "the trust root is not signed (it is the local anchor); remove 'signatures'",
            ("signatures",),
        )
    return doc.validate(TrustRoot)


@dataclass(frozen=True)
class SignatureStatus:
    """Who signed a governance document, whose signature is missing and which ones fail.

    Attributes:
        signed: party -> kid of each valid signature.
        missing: parties of the trust root without a valid signature, sorted.
        invalid: ``(signer, kid, line, reason)`` of each signature that does not hold
            (a signer or key the trust root does not hold is invalid too).
    """

    signed: dict[str, str] = field(default_factory=dict)
    missing: tuple[str, ...] = ()
    invalid: tuple[tuple[str, str, int | None, str], ...] = ()

    @property
    def complete(self) -> bool:
        """Every party signed and no signature fails."""
        return not self.missing and not self.invalid


def signature_status(
    doc: GovDoc, trust_root: TrustRoot, at: datetime | None = None
) -> SignatureStatus:
    """Check every signature of ``doc`` against ``trust_root`` at ``at``, without raising.

    Args:
        doc: the parsed governance document.
        trust_root: the parties and their commission keys.
        at: when the keys must be valid (now by default).

    Returns:
        Who signed, who is missing, and each refused signature with its line and reason.

    Raises:
        GovernanceFileError: only when the ``signatures`` list itself is malformed.
    """
    moment = at or datetime.now(UTC)
    payload = doc.signing_bytes()
    signed: dict[str, str] = {}
    invalid: list[tuple[str, str, int | None, str]] = []
    for i, sig in enumerate(doc.signatures()):
        line = doc.line_of(("signatures", i))
        record = trust_root.record(sig.signer, sig.kid)
        if record is None:
            invalid.append(
                (
                    sig.signer,
                    sig.kid,
                    line,
                    f"key {sig.kid!r} is not a commission key of {sig.signer!r} in the trust root",
                )
            )
            continue
        try:
            record.check_valid_at(moment)
        except (KeyNotYetValid, KeyExpired, KeyRevoked) as exc:
            invalid.append((sig.signer, sig.kid, line, exc.description))
            continue
        try:
            verify_detached(payload, sig.jws, record.public_key)
        except (BadSignature, MalformedSignature):
            invalid.append(
                (
                    sig.signer,
                    sig.kid,
                    line,
                    "the signature does not match the document: it was changed after signing",
                )
            )
            continue
        signed[sig.signer] = sig.kid
    missing = tuple(p for p in trust_root.parties if p not in signed)
    return SignatureStatus(signed=signed, missing=missing, invalid=tuple(invalid))


def check_directory(
    doc: GovDoc,
    trust_root: TrustRoot,
    min_version: int | None = None,
    at: datetime | None = None,
) -> Directory:
    """Validate a parsed directory document and check consensus and version.

    Args:
        doc: the parsed directory document.
        trust_root: the parties whose signatures it needs, and their keys.
        min_version: the lowest version accepted (the one in force; None: any).
        at: when the signing keys must be valid (now by default).

    Returns:
        The directory.

    Raises:
        GovernanceFileError: a value is wrong (file, line, field).
        GovernanceUnsigned: no signature at all, or some parties have not signed.
        GovernanceBadSignature: a signature is by a key the trust root does not hold for
            its signer, by a key not valid at ``at``, or does not match the document.
        GovernanceStaleVersion: ``version`` is lower than ``min_version``.
    """
    directory = doc.validate(Directory)
    where = f"{doc.path}:{doc.line_of(('signatures',)) if 'signatures' in doc.data else 1}"
    if not doc.signatures():
        raise GovernanceUnsigned(
            f"{where}: the directory is not signed; every party must sign it "
            f"({', '.join(trust_root.parties)}): run `enlace directory sign --party CC`"
        )
    status = signature_status(doc, trust_root, at)
    if status.invalid:
        signer, kid, line, reason = status.invalid[0]
        raise GovernanceBadSignature(
            f"{doc.path}:{line}: signature by {signer} ({kid}) is refused: {reason}; "
            f"sign it again with `enlace directory sign --party {signer}`"
        )
    if status.missing:
        raise GovernanceUnsigned(
            f"{where}: the directory needs the signature of every party; missing: "
            f"{', '.join(status.missing)} — run `enlace directory sign --party CC` for each"
        )
    if min_version is not None and directory.version < min_version:
        raise GovernanceStaleVersion(
            f"{doc.path}:{doc.line_of(('version',))}: directory version {directory.version} "
            f"is older than version {min_version}, which this deployment already accepted; "
            "an older directory cannot replace a newer one"
        )
    return directory


def load_directory(
    path: Path | str,
    trust_root: TrustRoot,
    min_version: int | None = None,
    at: datetime | None = None,
) -> Directory:
    """Load ``directory.yaml`` and accept it only when the trust root's parties all signed it.

    Args:
        path: the directory file.
        trust_root: the parties' commission keys.
        min_version: the lowest version acceptable (the last one accepted).
        at: when the commission keys must be valid (now by default).

    Raises:
        GovernanceFileError, GovernanceUnsigned, GovernanceBadSignature,
        GovernanceStaleVersion: see :func:`check_directory`.
    """
    return check_directory(load_document(path), trust_root, min_version, at)


# -- what a deployment has accepted ------------------------------------------------------------


class DeploymentFiles(Protocol):
    """Where a deployment keeps its governance files (``hub.deployment.Deployment`` is one)."""

    @property
    def trust_root(self) -> Path: ...

    @property
    def directory(self) -> Path: ...

    @property
    def state_dir(self) -> Path: ...


def read_accepted_version(state_dir: Path) -> int | None:
    """The highest directory version this deployment accepted, or None if it never did.

    Raises:
        GovernanceFileError: the state file holds something other than a positive integer.
    """
    path = state_dir / ACCEPTED_VERSION_FILE
    try:
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        return None
    except UnicodeDecodeError:
        text = ""
    if not text.isdigit() or int(text) < 1:
        raise GovernanceFileError(
            path, "must hold the accepted directory version (a positive integer)", line=1
        )
    return int(text)


def record_accepted_version(state_dir: Path, version: int) -> int:
    """Remember ``version`` as accepted unless a higher one already is; returns the highest."""
    current = read_accepted_version(state_dir)
    if current is not None and current >= version:
        return current
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / ACCEPTED_VERSION_FILE
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(f"{version}\n", encoding="ascii")
    with tmp.open("rb") as fh:
        os.fsync(fh.fileno())  # the memory must survive a crash, or a rollback slips through
    tmp.replace(path)
    return version


def accept_directory(deployment: DeploymentFiles, at: datetime | None = None) -> Directory:
    """Load and verify the deployment's directory, and remember its version as accepted.

    What the hub calls at start and on reload: the trust root is read, the directory must
    be signed by every party and not older than the last version accepted.

    Raises:
        GovernanceFileError, GovernanceUnsigned, GovernanceBadSignature,
        GovernanceStaleVersion.
    """
    trust_root = load_trust_root(deployment.trust_root)
    accepted = read_accepted_version(deployment.state_dir)
    directory = load_directory(deployment.directory, trust_root, accepted, at)
    record_accepted_version(deployment.state_dir, directory.version)
    return directory
