"""Sharing agreements: who receives which view of an accepted message, and why.

Pure logic, no NATS: the hub pipeline calls :func:`decide` for every accepted message
with the :class:`AgreementSet` loaded by :func:`load_agreements`, and renders each
recipient's view with :func:`render_view`.
"""

from __future__ import annotations

from hub.policy.decide import Decision, Refusal, Route, decide
from hub.policy.errors import PolicyError, RedactionError
from hub.policy.loader import AgreementSet, AgreementStatus, load_agreements
from hub.policy.model import Agreement, Flow, ViewSpec
from hub.policy.redaction import render_view
from hub.policy.requests import InMemoryRequestMemory, RequestMemory

__all__ = [
    "Agreement",
    "AgreementSet",
    "AgreementStatus",
    "Decision",
    "Flow",
    "InMemoryRequestMemory",
    "PolicyError",
    "RedactionError",
    "Refusal",
    "RequestMemory",
    "Route",
    "ViewSpec",
    "decide",
    "load_agreements",
    "render_view",
]
