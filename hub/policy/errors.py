"""Errors of the policy package.

Tree::

    EnlaceError (schemas.errors)
    └── PolicyError (ValueError)         policy_error
        └── RedactionError               redaction_failed   a view cannot be rendered

A malformed agreement file raises :class:`schemas.errors.GovernanceFileError` (file, line,
field); an agreement that is well formed but not signed by every party is loaded and
marked not in force instead of raising.
"""

from __future__ import annotations

from schemas.errors import EnlaceError

__all__ = ["PolicyError", "RedactionError"]


class PolicyError(EnlaceError, ValueError):
    code = "policy_error"


class RedactionError(PolicyError):
    """A redacted view cannot be rendered (the message is not a JSON object)."""

    code = "redaction_failed"
