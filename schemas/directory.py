"""The directory of parties, points of contact and their public keys, and message verification.

The directory is a signed governance document (see :mod:`schemas.govdoc`); this module
holds its model and the lookups the hub and the adapters make in it. Loading it from disk
against the trust root lives in :mod:`schemas.trust`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from functools import cached_property
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import Field, field_validator, model_validator

from schemas.common import CountryCode, StrictModel, Theme, UtcDatetime
from schemas.envelope import Envelope
from schemas.errors import (
    KeyExpired,
    KeyNotYetValid,
    KeyRevoked,
    SenderMismatch,
    SignatureError,
    UnknownKey,
)
from schemas.jws import JwsHeader, parse_detached, public_key_from_jwk, verify_parsed

__all__ = [
    "Directory",
    "KeyOwner",
    "Party",
    "PartyRole",
    "PointOfContact",
    "PublicKeyRecord",
    "VerifiedSender",
    "check_sender",
]

_ID = r"^[a-z0-9][a-z0-9._-]*$"


class PartyRole(StrEnum):
    MEMBER = "member"
    OBSERVER = "observer"


class PublicKeyRecord(StrictModel):
    """A public signing key with its validity; ``jwk`` is an OKP/Ed25519 JWK (RFC 8037)."""

    kid: str = Field(min_length=1, max_length=100, pattern=_ID)
    jwk: dict[str, str]
    not_before: UtcDatetime
    not_after: UtcDatetime | None = None
    revoked_at: UtcDatetime | None = None

    @field_validator("jwk")
    @classmethod
    def _jwk_is_ed25519(cls, jwk: dict[str, str]) -> dict[str, str]:
        public_key_from_jwk(jwk)  # ValueError names what is wrong
        return jwk

    @cached_property
    def public_key(self) -> Ed25519PublicKey:
        return public_key_from_jwk(self.jwk)

    def check_valid_at(self, at: datetime) -> None:
        """Raise KeyNotYetValid / KeyExpired / KeyRevoked when the key may not sign at ``at``."""
        if self.revoked_at is not None and at >= self.revoked_at:
            raise KeyRevoked(
                f"key {self.kid!r} was revoked at {self.revoked_at.isoformat()}", kid=self.kid
            )
        if at < self.not_before:
            raise KeyNotYetValid(
                f"key {self.kid!r} is valid from {self.not_before.isoformat()}", kid=self.kid
            )
        if self.not_after is not None and at >= self.not_after:
            raise KeyExpired(
                f"key {self.kid!r} expired at {self.not_after.isoformat()}", kid=self.kid
            )


class Party(StrictModel):
    """A party to the dialogue; ``keys`` sign what its systems say (e.g. sink receipts)."""

    code: CountryCode
    name: str = Field(min_length=1)
    role: PartyRole = PartyRole.MEMBER
    keys: list[PublicKeyRecord] = Field(default_factory=list)


class PointOfContact(StrictModel):
    """A national point of contact: one country, one or more themes, its signing keys."""

    id: str = Field(min_length=1, max_length=100, pattern=_ID)
    country: CountryCode
    agency: str = Field(min_length=1)
    themes: list[Theme] = Field(min_length=1)
    contact: dict[str, str] = Field(default_factory=dict)
    keys: list[PublicKeyRecord] = Field(default_factory=list)

    def owner(self) -> KeyOwner:
        """This point of contact as the holder of its keys."""
        return KeyOwner(kind="poc", id=self.id, country=self.country, themes=tuple(self.themes))


class HubIdentity(StrictModel):
    """The hub's own keys: it countersigns redacted views and signs audit checkpoints."""

    id: str = Field(default="hub", pattern=_ID)
    keys: list[PublicKeyRecord] = Field(min_length=1)


class KeyOwner(StrictModel):
    """Who holds a key: a POC (with its country and themes) or the hub."""

    kind: str  # "poc" | "hub" | "party" (a country's systems: sinks, gateways)
    id: str
    country: str | None = None
    themes: tuple[Theme, ...] = ()


class VerifiedSender(StrictModel):
    """What a verified signature proves: this key, held by this POC, signed these bytes."""

    kid: str
    poc: str
    country: str
    alg: str


class Directory(StrictModel):
    """The directory document (without its signatures)."""

    version: int = Field(ge=1)
    issued_at: UtcDatetime
    parties: list[Party] = Field(min_length=1)
    hub: HubIdentity
    pocs: list[PointOfContact] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> Directory:
        codes = [p.code for p in self.parties]
        if len(set(codes)) != len(codes):
            raise ValueError("a party is listed twice")
        ids = [p.id for p in self.pocs]
        if len(set(ids)) != len(ids):
            raise ValueError("a point of contact id is listed twice")
        kids = [k.kid for k in self.hub.keys] + [k.kid for p in self.pocs for k in p.keys]
        kids += [k.kid for p in self.parties for k in p.keys]
        if len(set(kids)) != len(kids):
            raise ValueError("a key id is used twice")
        for poc in self.pocs:
            if poc.country not in codes:
                raise ValueError(f"point of contact {poc.id!r}: {poc.country} is not a party")
        return self

    # -- lookups -------------------------------------------------------------------------------

    @cached_property
    def _keys(self) -> dict[str, tuple[PublicKeyRecord, KeyOwner]]:
        table: dict[str, tuple[PublicKeyRecord, KeyOwner]] = {}
        for key in self.hub.keys:
            table[key.kid] = (key, KeyOwner(kind="hub", id=self.hub.id))
        for party in self.parties:
            for key in party.keys:
                table[key.kid] = (key, KeyOwner(kind="party", id=party.code, country=party.code))
        for poc in self.pocs:
            owner = poc.owner()
            for key in poc.keys:
                table[key.kid] = (key, owner)
        return table

    @cached_property
    def party_codes(self) -> tuple[str, ...]:
        return tuple(p.code for p in self.parties)

    def party(self, code: str) -> Party | None:
        return next((p for p in self.parties if p.code == code), None)

    def poc(self, poc_id: str) -> PointOfContact | None:
        return next((p for p in self.pocs if p.id == poc_id), None)

    def key(self, kid: str) -> tuple[PublicKeyRecord, KeyOwner]:
        """The key record and its owner; raises UnknownKey."""
        try:
            return self._keys[kid]
        except KeyError:
            raise UnknownKey(kid) from None

    def hub_key(self, at: datetime | None = None) -> PublicKeyRecord:
        """The hub's newest key valid at ``at`` (now by default)."""
        at = at or datetime.now(UTC)
        for key in sorted(self.hub.keys, key=lambda k: k.not_before, reverse=True):
            try:
                key.check_valid_at(at)
            except (KeyNotYetValid, KeyExpired, KeyRevoked):
                continue
            return key
        raise KeyExpired("the directory holds no hub key valid now")

    # -- verification --------------------------------------------------------------------------

    def verify_signature(
        self, raw: bytes, jws: str, at: datetime | None = None
    ) -> tuple[JwsHeader, KeyOwner]:
        """Check a detached JWS over ``raw`` against the directory's keys at time ``at``.

        Args:
            raw: the exact signed bytes.
            jws: the detached JWS.
            at: when the key must be valid (now by default).

        Returns:
            The JWS header and the key's owner.

        Raises:
            MalformedSignature, UnknownKey, KeyNotYetValid, KeyExpired, KeyRevoked, BadSignature.
        """
        header, signature = parse_detached(jws)
        record, owner = self.key(header.kid)
        record.check_valid_at(at or datetime.now(UTC))
        verify_parsed(raw, header, signature, record.public_key)
        return header, owner

    def verify_message(
        self, raw: bytes, jws: str, envelope: Envelope, at: datetime | None = None
    ) -> VerifiedSender:
        """Verify a POC's signature and that the key's holder is the message's sender.

        The key must belong to the POC named in ``sender.poc``, of ``sender.country``, and
        that POC must serve the message's ``theme``.

        Args:
            raw: the message's exact bytes.
            jws: the detached JWS that came with them.
            envelope: the parsed envelope of ``raw``.
            at: when the key must be valid: the time the hub received the message (now by
                default).

        Returns:
            Who signed: kid, point of contact, country and algorithm.

        Raises:
            MalformedSignature, UnknownKey, KeyNotYetValid, KeyExpired, KeyRevoked,
            BadSignature, SenderMismatch: each with ``kid`` and ``message_id`` where known.
        """
        try:
            header, owner = self.verify_signature(raw, jws, at)
        except SignatureError as err:
            err.message_id = envelope.id  # the caller's context, not the key lookup's
            raise
        check_sender(owner, envelope, header.kid)
        return VerifiedSender(
            kid=header.kid, poc=owner.id, country=envelope.sender.country, alg=header.alg
        )

    def public_summary(self) -> dict[str, Any]:
        """A summary for ``enlace directory show``: no key material beyond public JWKs."""
        return self.model_dump(mode="json")


def check_sender(owner: KeyOwner, envelope: Envelope, kid: str) -> None:
    """Whether the holder ``owner`` of key ``kid`` may send ``envelope``: it must be the
    point of contact ``sender.poc`` names, of ``sender.country``, serving the theme.

    The hub checks this on every signature; ``enlace sign`` checks it before signing.

    Args:
        owner: who holds the key, as the directory says.
        envelope: the message it signed (or is about to sign).
        kid: the key's id, named in the error.

    Raises:
        SenderMismatch: naming the key, its holder and the field that does not match.
    """
    context = {"kid": kid, "message_id": envelope.id}
    if owner.kind != "poc":
        raise SenderMismatch(
            f"key {kid!r} is the {owner.kind}'s, not a point of contact's", **context
        )
    sender = envelope.sender
    if owner.id != sender.poc:
        raise SenderMismatch(
            f"key {kid!r} belongs to {owner.id!r}, but sender.poc is {sender.poc!r}", **context
        )
    if owner.country != sender.country:
        raise SenderMismatch(
            f"point of contact {owner.id!r} is of {owner.country}, "
            f"but sender.country is {sender.country}",
            **context,
        )
    if envelope.theme not in owner.themes:
        raise SenderMismatch(
            f"point of contact {owner.id!r} serves {', '.join(owner.themes)}, not {envelope.theme}",
            **context,
        )
