"""Where a deployment keeps its files, and how a command finds its deployment.

Shared by the hub and the adapters (which may not import ``hub``): one layout, one rule
for finding the deployment folder.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["DEFAULT_HOME", "Deployment", "resolve_home"]

DEFAULT_HOME = Path(".enlace")


def resolve_home(flag: str | Path | None) -> Path:
    """``--home`` if given, else ``ENLACE_HOME``, else ``./.enlace``."""
    if flag:
        return Path(flag)
    env = os.environ.get("ENLACE_HOME")
    return Path(env) if env else DEFAULT_HOME


@dataclass(frozen=True)
class Deployment:
    """The layout of a deployment folder made by ``enlace init``.

    ::

        enlace.yaml          settings (ENLACE_* env vars and flags override them)
        trust-root.yaml      the parties' commission public keys: the anchor of all trust
        directory.yaml       parties, points of contact and their public keys (signed)
        agreements/*.yaml    sharing agreements (signed by every party they name)
        keys/                private keys, mode 0600: commission/<cc>/, poc/<poc>/, hub/,
                             tls/ca-key.pem (the deployment CA's key, `enlace tls init`)
        samples/             demo messages and their detached signatures
        state/               what this deployment has accepted (e.g. directory version)
        nats/                generated nats-server config, credentials and JetStream store
                             (seeds/<login>.nk: each NATS login's seed; a party kit has its own;
                             tls/ca.pem: the deployment CA every client trusts, tls/server.pem
                             and tls/server-key.pem: the server's certificate and key)
    """

    home: Path

    @property
    def config_file(self) -> Path:
        return self.home / "enlace.yaml"

    @property
    def trust_root(self) -> Path:
        return self.home / "trust-root.yaml"

    @property
    def directory(self) -> Path:
        return self.home / "directory.yaml"

    @property
    def agreements_dir(self) -> Path:
        return self.home / "agreements"

    @property
    def keys_dir(self) -> Path:
        return self.home / "keys"

    @property
    def samples_dir(self) -> Path:
        return self.home / "samples"

    @property
    def state_dir(self) -> Path:
        return self.home / "state"

    @property
    def nats_dir(self) -> Path:
        return self.home / "nats"

    @property
    def seeds_dir(self) -> Path:
        """The NATS logins' seeds, one file each (mode 0600, the folder 0700)."""
        return self.nats_dir / "seeds"

    @property
    def tls_dir(self) -> Path:
        """The NATS server's TLS files and the CA certificate its clients trust."""
        return self.nats_dir / "tls"

    @property
    def tls_ca_cert(self) -> Path:
        """The deployment CA's certificate (public: a party kit carries it)."""
        return self.tls_dir / "ca.pem"

    def seed_file(self, login: str) -> Path:
        """Where the seed of NATS login ``login`` (a country code, ``hub``, …) is kept.

        The hub keeps every login's there; a party kit only its own.
        """
        return self.seeds_dir / f"{login}.nk"

    def exists(self) -> bool:
        return self.config_file.is_file()
