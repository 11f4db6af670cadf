"""What the hub decides by: the directory and agreements in force, and the hub's own key."""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.policy import AgreementSet
from schemas.directory import Directory

__all__ = ["Governance", "HubSigner"]


@dataclass(frozen=True)
class Governance:
    """The directory and agreements in force; replaced as a whole on reload."""

    directory: Directory
    agreements: AgreementSet


@dataclass(frozen=True)
class HubSigner:
    """The hub's private key and its directory key id, for countersigning redacted views."""

    key: Ed25519PrivateKey
    kid: str
