"""Changing the directory: new versions, and signatures by the commission keys held here.

Every change to ``directory.yaml`` (a key added, rotated or revoked) makes a new version
(``version`` + 1, ``issued_at`` now) with no signatures; it is then signed with every
commission key this deployment holds (all nine in a demo). A version that still lacks
some parties' signatures is written but not accepted: the hub keeps running the last
accepted one until each missing party runs ``enlace directory sign --party CC``.

A change always starts from a directory whose signatures all hold: a document changed
behind the parties' backs is never re-signed by accident.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.deployment import Deployment
from hub.errors import KeyStoreError
from hub.governance.keystore import KeyKind, KeyStore
from schemas.directory import Directory
from schemas.errors import (
    GovernanceBadSignature,
    GovernanceStaleVersion,
    KeyExpired,
    KeyNotYetValid,
    KeyRevoked,
)
from schemas.govdoc import GovDoc, dump_yaml, load_document, rfc3339
from schemas.jws import jwk_from_public_key
from schemas.trust import (
    SignatureStatus,
    TrustRoot,
    load_trust_root,
    read_accepted_version,
    record_accepted_version,
    signature_status,
)

__all__ = [
    "DirectoryDraft",
    "SignOutcome",
    "directory_lock",
    "key_record",
    "local_commission_key",
    "next_kid",
    "open_for_change",
    "save_new_version",
    "sign_directory",
]


@contextmanager
def directory_lock(deployment: Deployment) -> Iterator[None]:
    """Hold the deployment's directory lock: one change at a time, from read to write.

    Two key commands run at once would otherwise both build "version + 1" from the same
    version, and the second would silently drop the first one's key.
    """
    deployment.state_dir.mkdir(parents=True, exist_ok=True)
    with (deployment.state_dir / "directory.lock").open("a") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def next_kid(prefix: str, existing: set[str]) -> str:
    """``<prefix>-k<n>`` with the smallest ``n`` above every such kid in ``existing``."""
    numbers = [
        int(kid.removeprefix(f"{prefix}-k"))
        for kid in existing
        if kid.startswith(f"{prefix}-k") and kid.removeprefix(f"{prefix}-k").isdigit()
    ]
    return f"{prefix}-k{max(numbers, default=0) + 1}"


def key_record(
    kid: str,
    key: Ed25519PrivateKey,
    not_before: datetime,
    not_after: datetime | None = None,
) -> dict[str, Any]:
    """The public record of ``key`` as the directory and the trust root hold it.

    Args:
        kid: the key's id.
        key: the private key (only its public half is recorded).
        not_before: when the key becomes valid.
        not_after: when it stops being valid; None for no end.
    """
    record: dict[str, Any] = {
        "kid": kid,
        "jwk": jwk_from_public_key(key.public_key()),
        "not_before": rfc3339(not_before),
    }
    if not_after is not None:
        record["not_after"] = rfc3339(not_after)
    return record


def local_commission_key(
    keystore: KeyStore, trust_root: TrustRoot, party: str, at: datetime
) -> tuple[str, Ed25519PrivateKey] | None:
    """The newest commission key of ``party`` valid at ``at`` that is held here, or None.

    Args:
        keystore: the private keys held here.
        trust_root: the parties' commission public keys (which kids exist, and when valid).
        party: the country code.
        at: the moment the key must be valid at.

    Returns:
        ``(kid, private key)``, or None when no such key is held here.
    """
    candidates = []
    for record in trust_root.commission_keys:
        if record.party != party or not keystore.has(KeyKind.COMMISSION, party, record.kid):
            continue
        try:
            record.check_valid_at(at)
        except (KeyNotYetValid, KeyExpired, KeyRevoked):
            continue
        candidates.append(record)
    if not candidates:
        return None
    newest = max(candidates, key=lambda r: r.not_before)
    return newest.kid, keystore.load(KeyKind.COMMISSION, party, newest.kid)


@dataclass
class DirectoryDraft:
    """The current directory, open for a change: its data (without signatures) and model."""

    deployment: Deployment
    trust_root: TrustRoot
    data: dict[str, Any]
    directory: Directory

    @property
    def kids(self) -> set[str]:
        """Every kid in the directory and the key store (a new kid must be none of these)."""
        d = self.directory
        kids = {k.kid for k in d.hub.keys}
        kids |= {k.kid for p in d.parties for k in p.keys}
        kids |= {k.kid for p in d.pocs for k in p.keys}
        kids |= {k.kid for k in self.trust_root.commission_keys}
        store = KeyStore(self.deployment.keys_dir)
        kids |= set(store.kids(KeyKind.HUB, None))
        for kind in (KeyKind.POC, KeyKind.PARTY, KeyKind.COMMISSION):
            for owner in store.owners(kind):
                kids |= set(store.kids(kind, owner))
        return kids


def open_for_change(deployment: Deployment, at: datetime | None = None) -> DirectoryDraft:
    """Read the directory for a change, refusing one whose signatures do not all hold.

    A directory still waiting for some parties' signatures may be changed further; one
    with a signature that fails (changed after signing, or by a foreign key) may not.

    Raises:
        GovernanceFileError, GovernanceBadSignature, GovernanceStaleVersion.
    """
    trust_root = load_trust_root(deployment.trust_root)
    doc = load_document(deployment.directory)
    directory = doc.validate(Directory)
    status = signature_status(doc, trust_root, at)
    if status.invalid:
        signer, kid, line, reason = status.invalid[0]
        raise GovernanceBadSignature(
            f"{doc.path}:{line}: signature by {signer} ({kid}) is refused: {reason}; "
            "the directory is not changed on top of it — check it with "
            "`enlace directory verify`"
        )
    accepted = read_accepted_version(deployment.state_dir)
    if accepted is not None and directory.version < accepted:
        raise GovernanceStaleVersion(
            f"{doc.path}:{doc.line_of(('version',))}: version {directory.version} is older "
            f"than the accepted version {accepted}"
        )
    return DirectoryDraft(deployment, trust_root, doc.body(), directory)


@dataclass(frozen=True)
class SignOutcome:
    """What signing left: the version, who signed, who must still sign, what was dropped."""

    version: int
    signed: tuple[str, ...]
    missing: tuple[str, ...]
    dropped: tuple[str, ...] = ()

    @property
    def accepted(self) -> bool:
        """Whether every party has signed: the version is then in force."""
        return not self.missing

    def as_dict(self) -> dict[str, Any]:
        """The outcome as JSON-ready data (``--json``)."""
        return {
            "version": self.version,
            "signed": list(self.signed),
            "missing": list(self.missing),
            "dropped": list(self.dropped),
            "accepted": self.accepted,
        }


def save_new_version(draft: DirectoryDraft, now: datetime | None = None) -> SignOutcome:
    """Write ``draft.data`` as the next version, unsigned, then sign it with the local keys.

    Raises:
        GovernanceFileError: the changed data is not a valid directory.
    """
    moment = now or datetime.now(UTC)
    data = {
        **draft.data,
        "version": draft.directory.version + 1,
        "issued_at": rfc3339(moment),
    }
    doc = GovDoc(draft.deployment.directory, data)
    doc.validate(Directory)  # a wrong change is refused before anything is written
    dump_yaml(data, draft.deployment.directory)
    return sign_directory(draft.deployment, parties=None, at=moment)


def sign_directory(
    deployment: Deployment, parties: list[str] | None, at: datetime | None = None
) -> SignOutcome:
    """Sign the directory with the local commission keys of ``parties`` (None: all held here).

    Signatures that no longer hold (the document changed since) are dropped first. When
    every party has then signed, the version is recorded as accepted.

    Args:
        deployment: whose ``directory.yaml`` to sign.
        parties: the parties to sign for; None for every party whose key is held here.
        at: the moment of signing (keys must be valid then); None for now.

    Raises:
        GovernanceFileError: the directory or the trust root is malformed.
        GovernanceStaleVersion: the directory is older than the accepted version.
        KeyStoreError: a named party's commission key is not held here.
    """
    moment = at or datetime.now(UTC)
    trust_root = load_trust_root(deployment.trust_root)
    doc = load_document(deployment.directory)
    directory = doc.validate(Directory)
    accepted = read_accepted_version(deployment.state_dir)
    if accepted is not None and directory.version < accepted:
        raise GovernanceStaleVersion(
            f"{doc.path}:{doc.line_of(('version',))}: version {directory.version} is older "
            f"than the accepted version {accepted}; it will not be signed"
        )
    store = KeyStore(deployment.keys_dir)
    before = signature_status(doc, trust_root, moment)
    keep = [
        s
        for s in doc.signatures()
        if s.signer in before.signed and before.signed[s.signer] == s.kid
    ]
    dropped = tuple(sorted({s.signer for s in doc.signatures()} - {s.signer for s in keep}))
    data: dict[str, Any] = {
        **doc.body(),
        "signatures": [{"signer": s.signer, "kid": s.kid, "jws": s.jws} for s in keep],
    }
    wanted = trust_root.parties if parties is None else tuple(parties)
    for party in wanted:
        found = local_commission_key(store, trust_root, party, moment)
        if found is None:
            if parties is None:
                continue  # signing "all local": parties whose keys are elsewhere sign there
            raise KeyStoreError(
                f"no commission key of {party} valid now is held in "
                f"{store.root / KeyKind.COMMISSION.value / party}; {party} signs on its own "
                "machine",
                store.root / KeyKind.COMMISSION.value / party,
            )
        kid, key = found
        data = GovDoc(deployment.directory, data).with_signature(party, kid, key)
    dump_yaml(data, deployment.directory)
    status: SignatureStatus = signature_status(
        GovDoc(deployment.directory, data), trust_root, moment
    )
    if status.complete:
        record_accepted_version(deployment.state_dir, directory.version)
    return SignOutcome(
        version=directory.version,
        signed=tuple(sorted(status.signed)),
        missing=status.missing,
        dropped=dropped,
    )
