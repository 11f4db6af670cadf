"""Every error of the policy package (:mod:`hub.policy`), hung from :class:`hub.errors.HubError`.

``tests/test_error_trees.py`` derives this drawing from the classes.

Tree::

    HubError (hub.errors)
    └── PolicyError (ValueError)       policy_error       a policy error (base)
        └── RedactionError             redaction_failed   a view cannot be rendered

A malformed agreement file raises :class:`schemas.errors.GovernanceFileError` (file, line,
field); an agreement that is well formed but not signed by every party is loaded and
marked not in force instead of raising.
"""

from __future__ import annotations

from hub.errors import HubError

__all__ = ["PolicyError", "RedactionError"]


class PolicyError(HubError, ValueError):
    """Base of every error of the sharing agreements.

    A ``ValueError`` as well: what it refuses is a value (a message, a view).
    """

    code = "policy_error"


class RedactionError(PolicyError):
    """A redacted view cannot be rendered (the message is not a JSON object).

    Attributes:
        view: the name of the view that could not be rendered.
    """

    code = "redaction_failed"

    def __init__(self, description: str, view: str | None = None) -> None:
        super().__init__(description)
        self.view = view
