"""Plain-language explanations of reason codes, in English (the gettext msgids).

Every reason code a decision may carry is here: the error classes' ``code`` of the
``schemas``, ``hub`` and ``adapters`` packages, and the routing reasons of
:data:`hub.policy.decide.REASONS`. The console and the CLI translate them through
the same catalog (``locale/es/LC_MESSAGES/console.po``).
"""

from __future__ import annotations

import gettext

from hub.policy.decide import REASONS as ROUTING_REASONS

__all__ = ["EXPLANATIONS", "explain"]

EXPLANATIONS: dict[str, str] = {
    **ROUTING_REASONS,
}
"""Reason code → what it means, for people (English)."""


def explain(code: str | None, catalog: gettext.NullTranslations | None = None) -> str:
    """What ``code`` means in the catalog's language ("" for no code, the code if unknown)."""
    if not code:
        return ""
    text = EXPLANATIONS.get(code)
    if text is None:
        return code
    return catalog.gettext(text) if catalog is not None else text
