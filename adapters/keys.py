"""Private keys an adapter signs with, found by the deployment's path conventions.

Mirrors ``hub.governance.keystore`` (which adapters may not import)::

    keys/party/<cc>/<kid>.pem    a country's systems key: sinks sign receipts with it
    keys/poc/<poc_id>/<kid>.pem  a point of contact's key: sources sign messages with it

The key used is the newest one the directory lists as valid now whose file exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from adapters.errors import SigningKeyMissing
from schemas.directory import Directory, PublicKeyRecord
from schemas.errors import SignatureError
from schemas.jws import load_private_key

__all__ = ["Signer", "party_signer", "poc_signer"]


@dataclass(frozen=True)
class Signer:
    """A private key and the directory kid it signs as."""

    kid: str
    key: Ed25519PrivateKey


def _pick(records: list[PublicKeyRecord], folder: Path, who: str, at: datetime) -> Signer:
    for record in sorted(records, key=lambda r: r.not_before, reverse=True):
        try:
            record.check_valid_at(at)
        except SignatureError:
            continue
        path = folder / f"{record.kid}.pem"
        if path.is_file():
            try:
                return Signer(record.kid, load_private_key(path.read_bytes()))
            except ValueError:
                raise SigningKeyMissing(
                    f"{path} is not a PEM Ed25519 private key; restore it from backup"
                ) from None
    raise SigningKeyMissing(
        f"no private key in {folder} matches a valid directory key of {who}; "
        f"create one with `enlace keys new` and add it to the directory"
    )


def party_signer(
    directory: Directory, keys_dir: Path, country: str, at: datetime | None = None
) -> Signer:
    """The signer of ``country``'s systems (receipts): its newest valid key held here.

    Args:
        directory: the directory in force.
        keys_dir: the deployment's ``keys/`` folder.
        country: the party.
        at: when the key must be valid (now by default).

    Returns:
        The key and its kid.

    Raises:
        SigningKeyMissing: no such party, or no valid key of it on disk.
    """
    party = directory.party(country)
    if party is None:
        raise SigningKeyMissing(f"{country} is not a party in the directory")
    return _pick(party.keys, keys_dir / "party" / country, f"party {country}", at or _now())


def poc_signer(
    directory: Directory, keys_dir: Path, poc_id: str, at: datetime | None = None
) -> Signer:
    """The signer of point of contact ``poc_id`` (sources): its newest valid key held here.

    Args:
        directory: the directory in force.
        keys_dir: the deployment's ``keys/`` folder.
        poc_id: the point of contact.
        at: when the key must be valid (now by default).

    Returns:
        The key and its kid.

    Raises:
        SigningKeyMissing: no such point of contact, or no valid key of it on disk.
    """
    poc = directory.poc(poc_id)
    if poc is None:
        raise SigningKeyMissing(f"point of contact {poc_id!r} is not in the directory")
    return _pick(poc.keys, keys_dir / "poc" / poc_id, f"point of contact {poc_id}", at or _now())


def _now() -> datetime:
    return datetime.now(UTC)
