"""Governance: the directory and agreements in force and the hub's key; loading, reloading.

Governance is data the parties sign (directory, agreements) plus the hub's own key; the
hub replaces it as a whole on ``enlace reload`` and records what changed in the audit log
(:mod:`hub.governance.changes`).
"""

from hub.governance.loading import load_governance, load_signer
from hub.governance.model import Governance, HubSigner

__all__ = ["Governance", "HubSigner", "load_governance", "load_signer"]
