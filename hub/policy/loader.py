"""Load the agreements folder, check every signature, and say which agreements are in force.

Consensus: an agreement is in force only when every party it names has signed the
current text with its commission key, and only from ``valid_from`` (inclusive) to
``valid_until`` (exclusive). A malformed file refuses the whole set
(:class:`~schemas.errors.GovernanceFileError`: file, line, field) so that the caller keeps
the set it runs; a missing, wrong or stale signature does not: the agreement is loaded,
not in force, and its status says why.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from hub.policy.model import Agreement, agreement_problems
from hub.policy.views.check import view_problems
from schemas.countersign import sha256_digest
from schemas.directory import Directory
from schemas.errors import BadSignature, MalformedSignature
from schemas.govdoc import GovDoc, load_document, rfc3339
from schemas.jws import verify_detached

__all__ = [
    "AgreementSet",
    "AgreementStatus",
    "KeyLookup",
    "TrustRootLike",
    "agreement_files",
    "check_signatures",
    "load_agreement",
    "load_agreements",
    "set_changes",
    "validate_agreement",
]

KeyLookup = Callable[[str, str], Ed25519PublicKey | None]
"""``(party, kid) -> commission public key``, or None when the trust root holds no such key."""


@runtime_checkable
class TrustRootLike(Protocol):
    """What the loader needs of :class:`schemas.trust.TrustRoot`: keys valid at a time."""

    def lookup(self, at: datetime | None = None) -> KeyLookup: ...


@dataclass(frozen=True)
class AgreementStatus:
    """One loaded agreement and the state of its signatures.

    Attributes:
        agreement: the validated document.
        path: the file it came from.
        signed_by: parties whose signature on the current text holds.
        missing: parties named in the agreement without a valid signature.
        bad: ``(party, problem)`` for each signature that does not hold (wrong key, stale).
        extra: signers that are not parties of the agreement (ignored).
        digest: ``sha256:<hex>`` of the signed text (what every party signs).
    """

    agreement: Agreement
    path: Path
    signed_by: tuple[str, ...]
    missing: tuple[str, ...]
    bad: tuple[tuple[str, str], ...] = ()
    extra: tuple[str, ...] = ()
    digest: str = ""
    # What decisions derive from the agreement alone (views, flow ends for one directory),
    # computed once: the agreement is immutable.
    _memo: dict[Any, Any] = field(default_factory=dict, init=False, compare=False, repr=False)

    def memo(self, key: Any, compute: Callable[[], Any]) -> Any:
        """``compute()`` once per ``key`` for this agreement."""
        try:
            return self._memo[key]
        except KeyError:
            value = self._memo[key] = compute()
            return value

    @property
    def id(self) -> str:
        return self.agreement.id

    @property
    def signed(self) -> bool:
        """Every party has signed the current text."""
        return not self.missing

    def not_in_force_code(self, at: datetime) -> str | None:
        """Why the agreement is not in force at ``at`` (a reason code), None when it is."""
        a = self.agreement
        if self.missing:
            return "not_signed"
        if at < a.valid_from:
            return "not_yet_valid"
        if at >= a.valid_until:
            return "expired"
        return None

    def in_force_at(self, at: datetime) -> tuple[bool, str | None, str]:
        """``(in force, reason code or None, sentence)`` at time ``at``."""
        a = self.agreement
        code = self.not_in_force_code(at)
        if code == "not_signed":
            why = "; ".join(problem for _party, problem in self.bad)
            return (
                False,
                "not_signed",
                f"agreement {a.id!r} is not signed by {', '.join(self.missing)}"
                + (f" ({why})" if why else ""),
            )
        if code == "not_yet_valid":
            return (
                False,
                "not_yet_valid",
                f"agreement {a.id!r} is in force from {rfc3339(a.valid_from)}",
            )
        if code == "expired":
            return False, "expired", f"agreement {a.id!r} expired at {rfc3339(a.valid_until)}"
        return True, None, f"agreement {a.id!r} is in force until {rfc3339(a.valid_until)}"


@dataclass(frozen=True)
class AgreementSet:
    """Every loaded agreement (in force or not), ordered by id, indexed by theme and type."""

    statuses: tuple[AgreementStatus, ...] = ()
    loaded_at: datetime | None = None
    _index: dict[tuple[str, str], tuple[AgreementStatus, ...]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    decisions: dict[Any, Any] = field(default_factory=dict, init=False, repr=False, compare=False)
    """Decisions already made under this set (:func:`hub.policy.decide.decide`'s cache)."""

    def __post_init__(self) -> None:
        ordered = tuple(sorted(self.statuses, key=lambda s: s.id))
        object.__setattr__(self, "statuses", ordered)
        index: dict[tuple[str, str], list[AgreementStatus]] = {}
        for status in ordered:
            a = status.agreement
            for theme in a.themes:
                for type_ in a.types:
                    index.setdefault((theme.value, type_), []).append(status)
        self._index.update({k: tuple(v) for k, v in index.items()})

    @classmethod
    def of(
        cls, statuses: Iterable[AgreementStatus], loaded_at: datetime | None = None
    ) -> AgreementSet:
        return cls(tuple(statuses), loaded_at)

    def covering(self, theme: str, type_: str) -> tuple[AgreementStatus, ...]:
        """The agreements (in force or not) whose themes and types include this message's."""
        return self._index.get((theme, type_), ())

    def get(self, agreement_id: str) -> AgreementStatus | None:
        return next((s for s in self.statuses if s.id == agreement_id), None)

    def __len__(self) -> int:
        return len(self.statuses)


def agreement_files(folder: Path) -> list[Path]:
    """The agreement files of a folder, sorted by name (hidden and temporary files skipped)."""
    if not folder.is_dir():
        return []
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and p.suffix in (".yaml", ".yml") and not p.name.startswith(".")
    )


def validate_agreement(doc: GovDoc) -> Agreement:
    """Validate a parsed document as an agreement, its views against the message schemas.

    Raises:
        GovernanceFileError: naming the file, line and field of the first problem; for a
            view, the entry that reaches no field, drops a required one, or would make a
            valid message invalid (:func:`hub.policy.views.check.view_problems`).
    """
    agreement = doc.validate(Agreement)
    for problem, loc in agreement_problems(agreement):
        raise doc.error(problem, loc)
    # Views last: they are read against the types the (now consistent) flows carry.
    for problem, loc in view_problems(agreement):
        raise doc.error(problem, loc)
    return agreement


def check_signatures(doc: GovDoc, agreement: Agreement, key_for: KeyLookup) -> AgreementStatus:
    """Verify each signature of ``doc`` against the parties' commission keys.

    Args:
        doc: the parsed agreement file.
        agreement: the agreement it holds (already validated).
        key_for: the commission key of a party by kid (None: not in the trust root).

    Returns:
        Who signed, who is missing, bad signatures with why, and signers not parties.
    """
    payload = doc.signing_bytes()
    parties = set(agreement.parties)
    valid: set[str] = set()
    bad: list[tuple[str, str]] = []
    extra: list[str] = []
    for sig in doc.signatures():
        if sig.signer not in parties:
            extra.append(sig.signer)
            continue
        key = key_for(sig.signer, sig.kid)
        if key is None:
            bad.append((sig.signer, f"{sig.signer}'s key {sig.kid!r} is not in the trust root"))
            continue
        try:
            verify_detached(payload, sig.jws, key)
        except (BadSignature, MalformedSignature):
            bad.append(
                (
                    sig.signer,
                    f"{sig.signer}'s signature does not match the text: changed after signing",
                )
            )
            continue
        valid.add(sig.signer)
    return AgreementStatus(
        agreement=agreement,
        path=doc.path,
        signed_by=tuple(p for p in agreement.parties if p in valid),
        missing=tuple(p for p in agreement.parties if p not in valid),
        bad=tuple((p, why) for p, why in bad if p not in valid),
        extra=tuple(sorted(set(extra))),
        digest=sha256_digest(payload),
    )


def load_agreement(path: Path, key_for: KeyLookup) -> AgreementStatus:
    """Load, validate and check the signatures of one agreement file."""
    doc = load_document(path)
    agreement = validate_agreement(doc)
    return check_signatures(doc, agreement, key_for)


def load_agreements(
    folder: Path | str,
    directory: Directory | None,
    trust_root: TrustRootLike | KeyLookup,
    at: datetime | None = None,
) -> AgreementSet:
    """Load every agreement of ``folder``.

    Args:
        folder: the deployment's ``agreements/`` folder (missing = no agreement: deny all).
        directory: the directory in force; a party an agreement names must be in it.
        trust_root: the trust root (its commission keys valid at ``at`` count), or a
            ``(party, kid) -> commission public key`` lookup.
        at: when the set is loaded: commission keys must be valid then (in-force windows
            are checked per decision, so an agreement comes into force without a reload).

    Raises:
        GovernanceFileError: a file is malformed, names an unknown party, or reuses an id;
            the whole set is refused so that the caller keeps the running one.
    """
    key_for = trust_root.lookup(at) if isinstance(trust_root, TrustRootLike) else trust_root
    statuses: list[AgreementStatus] = []
    seen: dict[str, Path] = {}
    known = set(directory.party_codes) if directory is not None else None
    for path in agreement_files(Path(folder)):
        doc = load_document(path)
        agreement = validate_agreement(doc)
        if agreement.id in seen:
            raise doc.error(
                f"agreement id {agreement.id!r} is already used by {seen[agreement.id]}", ("id",)
            )
        seen[agreement.id] = path
        if known is not None:
            for i, party in enumerate(agreement.parties):
                if party not in known:
                    raise doc.error(
                        f"{party} is not a party in the directory; add it there first",
                        ("parties", i),
                    )
        statuses.append(check_signatures(doc, agreement, key_for))
    return AgreementSet.of(statuses, at)


def set_changes(before: AgreementSet, after: AgreementSet) -> list[dict[str, str]]:
    """What a reload changes, for the audit log: ids added, removed, or with a new text.

    Each change is ``{"agreement", "change", "digest"}`` with ``change`` one of ``added``,
    ``removed``, ``changed`` or ``signatures`` (same text, other signatures); no content.
    """
    old = {s.id: s for s in before.statuses}
    new = {s.id: s for s in after.statuses}
    changes = []
    for agreement_id in sorted(old.keys() | new.keys()):
        was, now = old.get(agreement_id), new.get(agreement_id)
        if was is None and now is not None:
            changes.append({"agreement": agreement_id, "change": "added", "digest": now.digest})
        elif now is None and was is not None:
            changes.append({"agreement": agreement_id, "change": "removed", "digest": was.digest})
        elif was is not None and now is not None:
            if was.digest != now.digest:
                change = "changed"
            elif (was.signed_by, was.bad) != (now.signed_by, now.bad):
                change = "signatures"
            else:
                continue
            changes.append({"agreement": agreement_id, "change": change, "digest": now.digest})
    return changes
