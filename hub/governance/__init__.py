"""Governance: the directory and agreements in force, the hub's key, and loading them.

Governance is data the parties sign (directory, agreements) plus the hub's own key; the
hub replaces it as a whole on ``enlace reload``.
"""

from hub.governance.loading import load_governance, load_signer
from hub.governance.model import Governance, HubSigner

__all__ = ["Governance", "HubSigner", "load_governance", "load_signer"]
