"""CloudEvents 1.0 binary-mode attributes of a delivery, as HTTP headers.

In binary mode the event's data is the request body as it is (here: the delivered bytes
the signatures cover, untouched) and its attributes travel as ``ce-*`` headers, so an
integrator's CloudEvents tooling routes deliveries without parsing them::

    ce-specversion: 1.0
    ce-id: <message id>
    ce-source: urn:enlace:sender:<country>:<point of contact>
    ce-type: enlace.<message type>.v<version>            enlace.retraction.v1 for a retraction,
                                                   enlace.correction.<type>.v<version> for a
                                                   correction: their own event types
    ce-time: <issued_at>
    ce-dataschema: urn:enlace:message:<type>:v<version>   the $id of its JSON Schema
    Content-Type: application/json                        the event's datacontenttype
"""

from __future__ import annotations

from typing import Any

from adapters.delivery import Delivery
from schemas.export import schema_id

__all__ = ["cloudevent_headers"]


def cloudevent_headers(delivery: Delivery) -> dict[str, str]:
    """The ``ce-*`` headers of ``delivery`` (the envelope is never redacted: every view
    has them)."""
    message = delivery.message
    sender: Any = message.get("sender")
    sender = sender if isinstance(sender, dict) else {}
    version = message.get("version")
    headers = {
        "ce-specversion": "1.0",
        "ce-id": delivery.message_id,
        "ce-source": f"urn:enlace:sender:{sender.get('country')}:{sender.get('poc')}",
        "ce-type": f"enlace.{delivery.type}.v{version}",
    }
    if isinstance(message.get("corrects"), str):
        headers["ce-type"] = f"enlace.correction.{delivery.type}.v{version}"
    if isinstance(message.get("issued_at"), str):
        headers["ce-time"] = message["issued_at"]
    if isinstance(version, int):
        headers["ce-dataschema"] = schema_id(delivery.type, version)
    return headers
