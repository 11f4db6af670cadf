"""Loading governance from a deployment: the directory and agreements in force, the hub key."""

from __future__ import annotations

from datetime import datetime

from hub.deployment import Deployment
from hub.governance.keystore import KeyKind, KeyStore
from hub.governance.model import Governance, HubSigner
from hub.policy import load_agreements
from schemas.trust import accept_directory, load_trust_root

__all__ = ["load_governance", "load_signer"]


def load_governance(deployment: Deployment, at: datetime | None = None) -> Governance:
    """The directory and agreements of a deployment, verified against its trust root.

    Raises:
        GovernanceError: a file is malformed or not signed by the parties (see the message).
    """
    trust_root = load_trust_root(deployment.trust_root)
    directory = accept_directory(deployment, at)
    agreements = load_agreements(deployment.agreements_dir, directory, trust_root.lookup(at), at)
    return Governance(directory=directory, agreements=agreements)


def load_signer(deployment: Deployment, governance: Governance) -> HubSigner:
    """The hub's newest valid key that is held in the deployment's ``keys/hub/``."""
    store = KeyStore(deployment.keys_dir)
    kid, key = store.current_key(KeyKind.HUB, None, governance.directory.hub.keys, None)
    return HubSigner(key=key, kid=kid)
