"""Reading what a stream keeps under many subjects at once: JetStream's batched direct get.

A sender's login may read its own ``OUTCOMES_<cc>`` only by direct get (no consumer): the
ledger of one message is the last message of each subject under
:func:`~schemas.subjects.ledger_filter`, which one request to ``$JS.API.DIRECT.GET.<stream>``
with ``multi_last`` answers (nats-server 2.11+): one reply per subject, then a status
``204 EOB``; ``404`` when nothing matches. nats-py has no call for it, so this is the
request by hand.
"""

from __future__ import annotations

import json

from nats.aio.client import Client as NatsClient
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.errors import APIError

from adapters.errors import StreamsMissing

__all__ = ["last_per_subject"]

_STATUS = "Status"
_END = "204"  # end of batch
_NOTHING = "404"  # no message matches
_NO_RESPONDERS = "503"  # no such stream (or direct get not allowed on it)
_MAX_BATCH = 1000


async def last_per_subject(
    nc: NatsClient, stream: str, subjects: str, reply_within: float = 5.0
) -> list[bytes]:
    """The last message of each subject matching ``subjects`` in ``stream``, in stream order.

    Args:
        nc: a connection whose login may direct-get from ``stream``.
        stream: the stream's name.
        subjects: a subject filter (wildcards allowed).
        reply_within: seconds to wait for each reply.

    Raises:
        StreamsMissing: no such stream (503: nobody answers for it).
        nats.js.errors.APIError: the server answered with another error status.
        nats.errors.TimeoutError: no (further) reply in time — also what a login refused
            by the server's permissions sees (the refusal comes as an async error).
    """
    inbox = nc.new_inbox()
    sub = await nc.subscribe(inbox)
    request = {"multi_last": [subjects], "batch": _MAX_BATCH}
    try:
        await nc.publish(f"$JS.API.DIRECT.GET.{stream}", json.dumps(request).encode(), reply=inbox)
        bodies: list[bytes] = []
        while True:
            try:
                msg = await sub.next_msg(timeout=reply_within)
            except TimeoutError:
                raise NatsTimeoutError from None
            status = (msg.headers or {}).get(_STATUS)
            if status in (_END, _NOTHING):
                return bodies
            if status == _NO_RESPONDERS:
                raise StreamsMissing(f"no stream {stream} on this NATS (the hub never ran here?)")
            if status is not None:
                described = (msg.headers or {}).get("Description", "")
                raise APIError(code=int(status), description=f"{stream}: {described}")
            bodies.append(msg.data)
    finally:
        await sub.unsubscribe()
