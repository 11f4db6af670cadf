"""What the steps of building a deployment share: the build context, its error, party names."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pycountry

from hub.admin.directory import key_record
from hub.deployment import Deployment
from hub.errors import InitError
from hub.governance.keystore import KeyKind, KeyStore
from schemas.directory import Directory

__all__ = ["DemoContext", "InitError", "party_name"]


def party_name(code: str) -> str:
    """The common (else official short) English name of a country from ISO 3166-1."""
    country = pycountry.countries.get(alpha_2=code)
    if country is None:
        raise InitError(f"{code!r} is not an ISO 3166-1 alpha-2 country code")
    return str(getattr(country, "common_name", None) or country.name)


@dataclass
class DemoContext:
    """What the steps of building a deployment share.

    Attributes:
        deployment: the folder being built.
        keystore: its private keys (commission keys of ``parties`` included).
        now: the time of the build; keys are valid from a day before it.
        parties: the parties, sorted.
        directory: the accepted directory version 1 (set once it is signed).
    """

    deployment: Deployment
    keystore: KeyStore
    now: datetime
    parties: tuple[str, ...]
    directory: Directory | None = None
    keys_made: int = 0
    samples: list[str] = field(default_factory=list)

    @property
    def accepted(self) -> Directory:
        """The accepted directory; only after it was written and signed."""
        if self.directory is None:
            raise InitError("the directory has not been written yet")
        return self.directory

    @property
    def not_before(self) -> datetime:
        """When the keys made by this build become valid."""
        # A day of margin so that a clock a little behind still sees the demo keys as valid.
        return self.now - timedelta(days=1)

    def new_key(self, kind: KeyKind, owner: str | None, kid: str) -> dict[str, Any]:
        """Create a private key and return its public record.

        Args:
            kind: what the key is for.
            owner: its owner (a country or a POC id); None for the hub.
            kid: its id.
        """
        key = self.keystore.create(kind, owner, kid)
        self.keys_made += 1
        return key_record(kid, key, self.not_before)
