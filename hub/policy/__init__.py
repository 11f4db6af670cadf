"""Sharing agreements: who receives which view of an accepted message, and why.

Pure logic, no NATS: the hub pipeline calls :func:`decide` for every accepted message
with the :class:`AgreementSet` loaded by :func:`load_agreements`, and renders each
recipient's view with :func:`render_view`; ``views/`` checks those views against the
message schemas.
"""

from __future__ import annotations

from hub.policy.decide import REASONS, Decision, Refusal, Route, decide
from hub.policy.errors import PolicyError, RedactionError
from hub.policy.explain import Explanation, explain
from hub.policy.loader import AgreementSet, AgreementStatus, load_agreements, set_changes
from hub.policy.model import FULL_VIEW, Agreement, Flow, ViewSpec
from hub.policy.redaction import render_view
from hub.policy.requests import InMemoryRequestMemory, RequestMemory

__all__ = [
    "FULL_VIEW",
    "REASONS",
    "Agreement",
    "AgreementSet",
    "AgreementStatus",
    "Decision",
    "Explanation",
    "Flow",
    "InMemoryRequestMemory",
    "PolicyError",
    "RedactionError",
    "Refusal",
    "RequestMemory",
    "Route",
    "ViewSpec",
    "decide",
    "explain",
    "load_agreements",
    "render_view",
    "set_changes",
]
