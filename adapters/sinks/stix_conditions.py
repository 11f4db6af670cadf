"""The sender's handling conditions in a STIX 2.1 bundle: statement marking definitions.

TLP says who may see a report; ``no_onward``, ``not_for_court`` and the sender's own note
say what the recipient may do with it (:mod:`schemas.handling`). STIX 2.1 has a marking
for such terms of use: a ``marking-definition`` of ``definition_type`` ``statement``
(section 7.2.1.3). Each condition becomes one, created by the sender's identity, and every
object made from the message references it beside its TLP marking; the report also holds
them as ``x_enlace_conditions`` for a program that reads properties, not statements.

A statement's id is a UUIDv5 of its sender and its words, so the same condition of the same
sender is one marking in a recipient's store, whichever message carries it.
"""

from __future__ import annotations

import stix2

from adapters.sinks.stix_payload import object_id

__all__ = ["NOT_FOR_COURT_STATEMENT", "NO_ONWARD_STATEMENT", "condition_markings"]

NO_ONWARD_STATEMENT = (
    "Enlace handling condition no_onward: the recipient may not pass this information on "
    "without the originator's consent."
)
NOT_FOR_COURT_STATEMENT = (
    "Enlace handling condition not_for_court: not to be used as evidence in judicial "
    "proceedings without the originator's consent."
)
_NOTE_PREFIX = "Enlace handling condition of the originator: "
# Markings do not change from message to message: one fixed timestamp (as the identity's).
_MARKING_TIME = "2026-01-01T00:00:00.000Z"


def condition_markings(
    conditions: dict[str, bool | str], sender_id: str
) -> list[stix2.v21.MarkingDefinition]:
    """One statement marking per condition that holds, made by ``sender_id``.

    Args:
        conditions: :func:`schemas.handling.condition_fields` of the message.
        sender_id: the STIX id of the sending agency's identity.
    """
    statements: list[str] = []
    if conditions.get("no_onward") is True:
        statements.append(NO_ONWARD_STATEMENT)
    if conditions.get("not_for_court") is True:
        statements.append(NOT_FOR_COURT_STATEMENT)
    note = conditions.get("note")
    if isinstance(note, str):
        statements.append(_NOTE_PREFIX + note)
    return [
        stix2.v21.MarkingDefinition(
            id=object_id("marking-definition", f"{sender_id}/statement/{statement}"),
            created=_MARKING_TIME,
            created_by_ref=sender_id,
            definition_type="statement",
            definition=stix2.v21.StatementMarking(statement=statement),
        )
        for statement in statements
    ]
