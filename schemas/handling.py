"""Handling conditions that travel with a message, and the originator's consent to pass it on.

Beside TLP, a sender may set ``conditions`` on its message (SIENA's handling codes):

- ``no_onward``: the recipients may not pass it on. The hub remembers the id of every
  accepted message that carries it; a message whose ``derived_from`` names one, sent by a
  country other than the original sender, is refused (``onward_not_allowed``) unless it
  carries the original sender's :class:`Consent` for that country.
- ``not_for_court``: not to be used as evidence without the originator's consent.
- ``note``: a condition in the sender's own words (at most :data:`NOTE_MAX` characters).

A consent is the original sender country's word, signed by one of its keys (its system key
or one of its points of contact's): "message X may be passed on by country CC". It travels
inside the new message (``consents``), so the message's own signature covers it too. Its
signature is a detached JWS (the same as a message's) over the canonical JSON of the
consent (:func:`schemas.canonical.canonical_json`), checked against the directory in force.

Shared here because the CLI (which signs a consent), the hub (which checks it) and the
sinks (which carry the conditions into national systems) all need it.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import Field

from schemas.canonical import canonical_json
from schemas.common import CountryCode, MessageId, StrictModel, WireDatetime
from schemas.errors import SenderMismatch
from schemas.jws import sign_detached

if TYPE_CHECKING:  # the directory module imports the envelope, which imports this one
    from schemas.directory import Directory

__all__ = [
    "HDR_CONDITION_NOTE",
    "HDR_NOT_FOR_COURT",
    "HDR_NO_ONWARD",
    "NOTE_MAX",
    "Conditions",
    "Consent",
    "SignedConsent",
    "condition_fields",
    "condition_names",
    "sign_consent",
    "verify_consent",
]

NOTE_MAX = 500
"""The longest free-text condition (characters): a sentence or two, not a document."""

HDR_NO_ONWARD = "Enlace-No-Onward"
"""A webhook's header: ``true`` when the recipient may not pass the message on."""
HDR_NOT_FOR_COURT = "Enlace-Not-For-Court"
"""A webhook's header: ``true`` when it is not evidence without the originator's consent."""
HDR_CONDITION_NOTE = "Enlace-Condition-Note"
"""A webhook's header: the sender's own condition, percent-encoded UTF-8."""


class Conditions(StrictModel):
    """The sender's handling conditions, beside TLP; absent means none."""

    no_onward: bool = Field(
        default=False, strict=True, description="the recipients may not pass it on"
    )
    not_for_court: bool = Field(
        default=False,
        strict=True,
        description="not to be used as evidence without the originator's consent",
    )
    note: str | None = Field(
        default=None,
        min_length=1,
        max_length=NOTE_MAX,
        description="a further condition in the sender's words",
    )


def condition_fields(conditions: Conditions | None) -> dict[str, bool | str]:
    """The conditions as flat fields for a national system (a column, a header, a file's
    metadata): ``no_onward`` and ``not_for_court`` always, ``note`` when there is one."""
    found = conditions or Conditions()
    fields: dict[str, bool | str] = {
        "no_onward": found.no_onward,
        "not_for_court": found.not_for_court,
    }
    if found.note is not None:
        fields["note"] = found.note
    return fields


def condition_names(conditions: Conditions | None) -> tuple[str, ...]:
    """The names of the conditions that hold (``note`` for a note, never its words): what
    the audit log records and the console shows."""
    if conditions is None:
        return ()
    held = {"no_onward": conditions.no_onward, "not_for_court": conditions.not_for_court}
    names = [name for name, holds in held.items() if holds]
    return (*names, "note") if conditions.note is not None else tuple(names)


class Consent(StrictModel):
    """The original sender's permission for one country to pass one message on."""

    message_id: MessageId = Field(description="the no_onward message that may be passed on")
    sender: CountryCode = Field(description="the country that sent it (and signs this)")
    by: CountryCode = Field(description="the country that may pass it on")
    issued_at: WireDatetime

    def to_bytes(self) -> bytes:
        """The canonical bytes the signature covers."""
        return canonical_json(self.model_dump(mode="json"))


class SignedConsent(StrictModel):
    """A consent and the detached JWS over its canonical bytes, as a message carries it."""

    consent: Consent
    jws: str = Field(min_length=1, max_length=2000)


def sign_consent(consent: Consent, key: Ed25519PrivateKey, kid: str) -> SignedConsent:
    """Sign ``consent`` with one of its sender country's keys.

    Args:
        consent: what is allowed.
        key: the sender country's system key (or one of its POCs' keys).
        kid: that key's id in the directory.
    """
    return SignedConsent(consent=consent, jws=sign_detached(consent.to_bytes(), key, kid))


def verify_consent(
    directory: Directory, signed: SignedConsent, at: datetime | None = None
) -> Consent:
    """Check that ``signed`` is signed by a key of the country it names as sender.

    Args:
        directory: the directory in force.
        signed: the consent as the message carries it.
        at: when the key must be valid (now by default).

    Returns:
        The consent.

    Raises:
        The SignatureError subclasses: SenderMismatch when the key is another country's
        (or the hub's), BadSignature when the consent was changed after signing.
    """
    consent = signed.consent
    header, owner = directory.verify_signature(consent.to_bytes(), signed.jws, at)
    if owner.kind not in ("party", "poc") or owner.country != consent.sender:
        raise SenderMismatch(
            f"the consent to pass {consent.message_id} on names sender {consent.sender}, but "
            f"key {header.kid!r} is not one of that country's keys",
            kid=header.kid,
            message_id=consent.message_id,
        )
    return consent
