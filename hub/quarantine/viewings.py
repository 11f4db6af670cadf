"""Recording that an operator was shown a quarantined message's bytes, by the hub.

Only the hub appends to the audit log (one writer, signed checkpoints), and the
``operator`` login is read-only; so a tool that is about to show or export a quarantine
copy first asks the hub, on :func:`~schemas.subjects.quarantine_viewed_subject`, to record
it. The hub reads the copy itself, records a ``quarantine_viewed`` entry (who, the copy's
sequence, the digest **it** computed, ``shown``/``exported``) and answers with the entry's
index and that digest. The tool shows the bytes only when the answer came and the digest
is that of the bytes it holds: no record, no bytes.
"""

from __future__ import annotations

import json
from typing import Any

import nats.errors
import structlog
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from hub.audit import AuditWriter, kinds
from hub.audit.errors import AuditError
from hub.errors import ViewingRefused
from hub.quarantine.records import QuarantineCopy, copy_at
from schemas.subjects import quarantine_viewed_subject

__all__ = ["ViewingRefused", "record_viewing", "serve_viewings"]

log = structlog.get_logger("enlace.quarantine")
VIEWINGS_QUEUE = "hub-viewings"


async def serve_viewings(nc: NatsClient, writer: AuditWriter) -> Subscription:
    """Answer viewing requests on ``nc`` (the hub's) until it closes, recording in ``writer``."""
    js = nc.jetstream(timeout=10)

    async def answer(msg: Msg) -> None:
        reply: dict[str, Any]
        try:
            request = json.loads(msg.data)
            copy = await copy_at(js, int(request["seq"]))
            if copy is None:
                reply = {"error": "no quarantine copy at this sequence"}
            else:
                entry = kinds.quarantine_viewed(
                    str(request["operator"]),
                    copy.seq,
                    copy.digest,
                    str(request["action"]),
                    copy.country if len(copy.country) == 2 else None,
                )
                [index] = await writer.append([entry])
                reply = {"index": index, "digest": copy.digest}
        except (ValueError, KeyError, TypeError, AuditError, nats.errors.Error) as exc:
            log.warning("quarantine_viewing_not_recorded", why=str(exc)[:300])
            reply = {"error": f"not recorded: {exc}"[:300]}
        if msg.reply:
            await msg.respond(json.dumps(reply).encode())

    # One group: of several hubs on one cluster, one records each viewing.
    return await nc.subscribe(quarantine_viewed_subject(), queue=VIEWINGS_QUEUE, cb=answer)


async def record_viewing(nc: NatsClient, operator: str, copy: QuarantineCopy, action: str) -> int:
    """Ask the hub to record that ``operator`` is shown (or exports) ``copy``'s bytes.

    Args:
        nc: a connection allowed to send the request (the ``operator`` login).
        operator: who is viewing (an account name; the CLI's ``cli:<OS user>``).
        copy: the copy whose bytes are about to be shown.
        action: ``shown`` or ``exported``.

    Returns:
        The index of the ``quarantine_viewed`` entry in the audit log.

    Raises:
        ViewingRefused: no hub answered, it did not record the viewing, or it recorded
            other bytes than ``copy``'s: the bytes must not be shown.
    """
    request = {"operator": operator, "seq": copy.seq, "action": action}
    try:
        data = json.dumps(request).encode()
        msg = await nc.request(quarantine_viewed_subject(), data, timeout=10)
        answer = json.loads(msg.data)
    except (nats.errors.Error, ValueError) as exc:
        raise ViewingRefused(f"the hub did not record the viewing ({type(exc).__name__})") from None
    if not isinstance(answer, dict) or not isinstance(answer.get("index"), int):
        error = answer.get("error") if isinstance(answer, dict) else answer
        raise ViewingRefused(f"the hub did not record the viewing: {error}")
    if answer.get("digest") != copy.digest:
        raise ViewingRefused("the hub recorded the viewing of other bytes than those held")
    return int(answer["index"])
