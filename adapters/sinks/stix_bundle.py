"""A delivery as a STIX 2.1 bundle: the sender's identity, TLP 2.0, confidence, a report.

Everything comes from the delivered bytes (the full message or the view the recipient was
given) and the delivery's own metadata (recipient, view, agreement, digests): a field a view
removed is nowhere in the bundle. The payload's objects are made by
:mod:`adapters.sinks.stix_payload`; this module wraps them:

- the sending agency is an ``identity`` (``organization``, sector ``government-national``)
  whose id is a UUIDv5 of its country and agency, the same in every bundle, so a recipient's
  store sees one sender across messages and redeliveries; it is every object's
  ``created_by_ref``;
- ``handling`` becomes the official TLP 2.0 ``marking-definition`` (FIRST TLP 2.0 as the
  OASIS CTI TC's extension ``extension-definition--60a3c5c5…`` defines it, with its fixed
  ids), referenced by every object derived from the message;
- the Admiralty code's information credibility (1–6) becomes STIX ``confidence`` by the
  Admiralty Credibility scale of STIX 2.1, Appendix A (Confidence Scales): 1 → 90,
  2 → 70, 3 → 50, 4 → 30, 5 → 10, 6 (truth cannot be judged) → no ``confidence``; the
  source reliability (A–F), which STIX has no field for, is ``x_enlace_source_reliability``;
- the message is a ``report`` (published = ``issued_at``) whose ``object_refs`` name every
  object made from the payload and whose ``external_references`` name the Enlace message id
  with the SHA-256 of the original the sender signed, and the delivery with the SHA-256 of
  the bytes delivered (the view);
- the sender's handling conditions (``no_onward``, ``not_for_court``, a note) are statement
  marking definitions on every object beside TLP (:mod:`adapters.sinks.stix_conditions`).

Ids of objects made from a message are UUIDv5 of the message id, the view and the object's
place in the payload (STIX 2.1 suggests UUIDv4 for SDOs; a deterministic id makes a rewrite
after a crash the same bundle, byte for byte). ``created``/``modified`` are ``issued_at``.
"""

from __future__ import annotations

import re
from typing import Any

import stix2

from adapters.delivery import Delivery
from adapters.sinks._conditions import conditions_of
from adapters.sinks.stix_conditions import condition_markings
from adapters.sinks.stix_payload import PayloadObjects, object_id, payload_objects
from schemas.errors import UnknownMessageType
from schemas.registry import REGISTRY

__all__ = [
    "ADMIRALTY_CONFIDENCE",
    "TLP_MARKINGS",
    "build_bundle",
    "sender_identity_id",
]

_TLP_EXTENSION = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"
_TLP_IDS = {
    "clear": "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
    "green": "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
    "amber": "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
    "amber+strict": "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
    "red": "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
}

TLP_MARKINGS: dict[str, stix2.v21.MarkingDefinition] = {
    level: stix2.v21.MarkingDefinition(
        id=marking_id,
        created="2022-10-01T00:00:00.000Z",
        name=f"TLP:{level.upper()}",
        extensions={_TLP_EXTENSION: {"extension_type": "property-extension", "tlp_2_0": level}},
    )
    for level, marking_id in _TLP_IDS.items()
}
"""The official TLP 2.0 marking definitions, by Enlace ``handling`` value."""

ADMIRALTY_CONFIDENCE: dict[int, int | None] = {1: 90, 2: 70, 3: 50, 4: 30, 5: 10, 6: None}
"""Information credibility (Admiralty 1–6) → STIX confidence (STIX 2.1 Appendix A)."""

# The sender's identity does not change from message to message: one fixed timestamp.
_IDENTITY_TIME = "2026-01-01T00:00:00.000Z"

_REFERENCE_FIELDS = ("case_reference", "reference", "trace_number", "subject", "headline", "event")


def sender_identity_id(country: str, agency: str) -> str:
    """The STIX id of the agency ``agency`` of ``country``: the same in every bundle."""
    return object_id("identity", f"sender/{country}/{agency}")


def _sender_identity(sender: dict[str, Any]) -> stix2.v21.Identity:
    return stix2.v21.Identity(
        id=sender_identity_id(sender["country"], sender["agency"]),
        created=_IDENTITY_TIME,
        modified=_IDENTITY_TIME,
        name=sender["agency"],
        identity_class="organization",
        sectors=["government-national"],
        custom_properties={"x_enlace_country": sender["country"]},
    )


def _hex(digest: str) -> str:
    return digest.removeprefix("sha256:")


def _title(message: dict[str, Any]) -> str:
    try:
        title = REGISTRY.spec(message["type"], message["version"]).title
    except UnknownMessageType:  # a type this adapter does not know yet: its name is its title
        return str(message["type"])
    return title.split(":", 1)[0]


def _report_name(message: dict[str, Any], payload: dict[str, Any]) -> str:
    reference = next(
        (payload[f] for f in _REFERENCE_FIELDS if isinstance(payload.get(f), str)), None
    )
    return f"{_title(message)} {reference or message['id']}"


def _envelope_properties(delivery: Delivery, message: dict[str, Any]) -> dict[str, Any]:
    evaluation = message.get("evaluation") or {}
    props: dict[str, Any] = {
        "x_enlace_message_type": message["type"],
        "x_enlace_message_version": message["version"],
        "x_enlace_theme": message["theme"],
        "x_enlace_handling": message["handling"],
        "x_enlace_sender_country": message["sender"]["country"],
        "x_enlace_sender_poc": message["sender"]["poc"],
        "x_enlace_recipient": delivery.recipient,
        "x_enlace_view": delivery.view,
        "x_enlace_agreement": delivery.agreement,
        "x_enlace_source_reliability": evaluation.get("reliability"),
        "x_enlace_information_credibility": evaluation.get("credibility"),
        "x_enlace_to": message.get("to"),
        "x_enlace_correlation_id": message.get("correlation_id"),
        "x_enlace_in_reply_to": message.get("in_reply_to"),
    }
    return {k: v for k, v in props.items() if v is not None}


def _external_references(delivery: Delivery) -> list[dict[str, Any]]:
    return [
        {
            "source_name": "enlace",
            "external_id": delivery.message_id,
            "description": "the Enlace message, as its sender signed it (SHA-256 of its bytes)",
            "hashes": {"SHA-256": _hex(delivery.original_digest)},
        },
        {
            "source_name": "enlace-delivery",
            "external_id": f"{delivery.message_id}:{delivery.recipient}",
            "description": f"the bytes delivered to {delivery.recipient}, view {delivery.view} "
            "(SHA-256); kept with their signature beside this bundle",
            "hashes": {"SHA-256": _hex(delivery.digest)},
        },
    ]


def build_bundle(delivery: Delivery) -> stix2.v21.Bundle:
    """The STIX 2.1 bundle of ``delivery``: identity, marking, payload objects, report.

    Raises:
        KeyError, TypeError, ValueError, stix2.exceptions.STIXError: the delivered message
            cannot be expressed (the sink dead-letters it with a reason).
    """
    message = delivery.message
    issued = message["issued_at"]
    sender = _sender_identity(message["sender"])
    marking = TLP_MARKINGS[message["handling"]]
    evaluation = message.get("evaluation") or {}
    confidence = ADMIRALTY_CONFIDENCE.get(evaluation.get("credibility", 6))
    conditions = conditions_of(delivery)
    statements = condition_markings(conditions, sender.id)
    common: dict[str, Any] = {
        "created": issued,
        "modified": issued,
        "created_by_ref": sender.id,
        "object_marking_refs": [marking.id, *(s.id for s in statements)],
    }
    if confidence is not None:
        common["confidence"] = confidence
    payload = message.get("payload") or {}
    seed = f"{delivery.message_id}/{delivery.view}"
    made: PayloadObjects = payload_objects(payload, message["type"], seed, common)

    custom = _envelope_properties(delivery, message)
    custom["x_enlace_conditions"] = conditions
    for key, value in made.leftover.items():
        name = f"x_enlace_{_snake(key)}"
        custom[name if name not in custom else f"x_enlace_payload_{_snake(key)}"] = value
    report_kwargs: dict[str, Any] = {}
    if made.description is not None:
        report_kwargs["description"] = made.description
    report = stix2.v21.Report(
        id=object_id("report", f"{seed}/report"),
        name=_report_name(message, payload),
        published=issued,
        report_types=["threat-report"],
        labels=[message["theme"], message["type"]],
        object_refs=[sender.id, *(o.id for o in made.objects)],
        external_references=_external_references(delivery),
        custom_properties=custom,
        **common,
        **report_kwargs,
    )
    return stix2.v21.Bundle(
        id=object_id("bundle", f"{seed}/{delivery.recipient}/bundle"),
        objects=[marking, *statements, sender, *made.objects, report],
        allow_custom=True,
    )


def _snake(key: str) -> str:
    """A payload key as a STIX property name: CAP's ``msgType`` → ``msg_type``."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower()
