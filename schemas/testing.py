"""Test factories that need only ``schemas``: a directory with real keys, signed messages.

Real Ed25519 keys and real signatures, no files: for tests and benchmarks of logic that
needs a directory (``tests/`` and ``bench/`` both use it, so it ships with the package,
as ``structlog.testing`` does). Deployment-level tests use ``enlace init --demo`` instead.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from schemas.common import PARTIES, THEMES, new_message_id
from schemas.directory import Directory
from schemas.envelope import Sender
from schemas.govdoc import rfc3339
from schemas.jws import jwk_from_public_key, sign_detached
from schemas.message import new_message

__all__ = [
    "EPOCH",
    "TestDirectory",
    "later",
    "make_directory",
    "poc_id",
    "signed_message",
]

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
"""The test directory's keys are valid from here."""


def poc_id(country: str, theme: str) -> str:
    """The id a test directory gives ``country``'s point of contact for ``theme``."""
    return f"{country.lower()}-{theme.replace('_', '-')}"


def _key_record(kid: str, key: Ed25519PrivateKey, **validity: datetime | None) -> dict[str, Any]:
    record: dict[str, Any] = {
        "kid": kid,
        "jwk": jwk_from_public_key(key.public_key()),
        "not_before": rfc3339(validity.get("not_before") or EPOCH),
    }
    for name in ("not_after", "revoked_at"):
        value = validity.get(name)
        if value is not None:
            record[name] = rfc3339(value)
    return record


@dataclass
class TestDirectory:
    """A directory and every private key behind it, by kid."""

    __test__ = False  # not a pytest test class

    directory: Directory
    keys: dict[str, Ed25519PrivateKey] = field(default_factory=dict)

    def poc_kid(self, country: str, theme: str) -> str:
        """The kid of the key of ``country``'s point of contact for ``theme``."""
        return f"{poc_id(country, theme)}-k1"

    @property
    def hub_kid(self) -> str:
        """The kid of the hub's key."""
        return "hub-k1"

    def envelope(
        self, country: str, theme: str, type_: str, payload: dict[str, Any], **fields: Any
    ) -> dict[str, Any]:
        """A message dict from ``country``'s POC for ``theme``.

        Args:
            country: the sender's country.
            theme: the message's theme (the POC of ``country`` for it sends).
            type_: the message type.
            payload: the typed body, as is (not validated here).
            **fields: envelope fields that override the defaults.

        Returns:
            The message as a dict, not yet serialized or signed.
        """
        message: dict[str, Any] = {
            "id": new_message_id(),
            "type": type_,
            "version": 1,
            "theme": theme,
            "sender": {
                "country": country,
                "agency": f"Agency of {country}",
                "poc": poc_id(country, theme),
            },
            "issued_at": rfc3339(datetime.now(UTC)),
            "handling": "green",
            "payload": payload,
        }
        message.update(fields)
        return message

    def sign(self, message: dict[str, Any], kid: str | None = None) -> tuple[bytes, str]:
        """Serialize and sign as the sender's POC would; returns (raw bytes, detached JWS)."""
        raw = json.dumps(message, ensure_ascii=False).encode("utf-8")
        if kid is None:
            sender = message["sender"]
            kid = f"{sender['poc']}-k1"
        return raw, sign_detached(raw, self.keys[kid], kid)


def make_directory(
    parties: tuple[str, ...] = PARTIES,
    themes: tuple[str, ...] = THEMES,
    observers: tuple[str, ...] = (),
    key_validity: Mapping[str, Mapping[str, datetime | None]] | None = None,
) -> TestDirectory:
    """A directory of ``parties`` (+ ``observers``), one POC per party per theme, real keys.

    Args:
        parties: the member parties.
        themes: the themes each party has a point of contact for.
        observers: parties with the observer role.
        key_validity: maps a kid to ``not_before``/``not_after``/``revoked_at`` overrides.

    Returns:
        The directory with every private key behind it.
    """
    key_validity = key_validity or {}
    keys: dict[str, Ed25519PrivateKey] = {}

    def record(kid: str) -> dict[str, Any]:
        keys[kid] = Ed25519PrivateKey.generate()
        return _key_record(kid, keys[kid], **key_validity.get(kid, {}))

    party_docs = [
        {
            "code": cc,
            "name": f"Party {cc}",
            "role": "observer" if cc in observers else "member",
            "keys": [record(f"{cc.lower()}-system-k1")],
        }
        for cc in (*parties, *observers)
    ]
    pocs = [
        {
            "id": poc_id(cc, theme),
            "country": cc,
            "agency": f"Agency of {cc}",
            "themes": [theme],
            "keys": [record(f"{poc_id(cc, theme)}-k1")],
        }
        for cc in (*parties, *observers)
        for theme in themes
    ]
    doc = {
        "version": 1,
        "issued_at": rfc3339(EPOCH),
        "parties": party_docs,
        "hub": {"id": "hub", "keys": [record("hub-k1")]},
        "pocs": pocs,
    }
    return TestDirectory(Directory.model_validate(doc), keys)


def later(days: int) -> datetime:
    """``days`` after :data:`EPOCH`."""
    return EPOCH + timedelta(days=days)


def signed_message(
    td: TestDirectory,
    cc: str = "GT",
    type_: str = "gang_movement",
    theme: str = "gangs",
    **fields: Any,
) -> tuple[dict[str, Any], bytes, str]:
    """A valid message of ``type_`` (its registered example) from ``cc``, signed by its POC.

    Args:
        td: the directory whose POC key signs.
        cc: the sender's country.
        type_: the message type.
        theme: the theme it travels under.
        **fields: envelope fields over the example's.

    Returns:
        The message, its bytes and their detached JWS.
    """
    message = new_message(
        type_, Sender(country=cc, agency=f"Agency of {cc}", poc=poc_id(cc, theme)), theme, **fields
    )
    raw, jws = td.sign(message)
    return message, raw, jws
