"""The Enlace hub: verifies each message, routes it by sharing agreements, audits every decision.

This module is the facade: build a hub with :func:`create_app` from :class:`HubSettings`
(:func:`load_settings` reads ``enlace.yaml``, ``ENLACE_*`` and flags) and a
:class:`Governance` (:func:`load_governance`). The rooms behind it, one job each:

- ``governance/`` the directory and agreements in force, the hub's key: loading, reloading,
  and the audit entries of what changed;
- ``pipeline/`` one message's way: checks, replay refusal, routing, quarantine, notices,
  the audit hook, the sinks' receipts, and what the server refused for its size;
- ``jetstream/`` every stream, bucket and consumer definition, the batch writer, the pull loop;
- ``policy/`` sharing agreements: loading, deciding, redacted views (``views/``);
- ``audit/`` the tamper-evident log: entries, Merkle tree, checkpoints, writing, reading,
  verifying and exporting it;
- ``server/`` the embedded nats-server, its private files, its logins and permissions;
- ``admin/`` offline work on a deployment: ``enlace init``, directory edits, the demo;
- ``up/`` the composition root of ``enlace up``: server, hub, audit writer, adapters;
- ``console/`` the operator console: the audit record as a web page, Spanish and English;
- ``cli/`` the ``enlace`` commands: the only place that prints for people or exits.

Beside the facade, the top level holds only what every room uses: ``app`` (wiring),
``config``, ``deployment``, ``errors``, ``logging``, ``metrics`` and ``testing``.
"""

from hub.app import HubApp, create_app
from hub.config import HubSettings, load_settings
from hub.errors import (
    ConfigError,
    ConsumerTampered,
    DuplicateMessage,
    HubError,
    MessageFromFuture,
    MessageRefused,
    MessageTooOld,
    NatsServerError,
    ReceiptRefused,
)
from hub.governance import Governance, HubSigner, load_governance, load_signer

__all__ = [
    "ConfigError",
    "ConsumerTampered",
    "DuplicateMessage",
    "Governance",
    "HubApp",
    "HubError",
    "HubSettings",
    "HubSigner",
    "MessageFromFuture",
    "MessageRefused",
    "MessageTooOld",
    "NatsServerError",
    "ReceiptRefused",
    "create_app",
    "load_governance",
    "load_settings",
    "load_signer",
]
