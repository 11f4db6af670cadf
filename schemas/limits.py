"""Size limits that the hub, the NATS server and the publishing clients must agree on.

A message body may be at most ``max_message_bytes`` (1 MiB by default; the hub refuses a
larger one as ``too_large`` with a notice, a quarantine copy and an audit entry). NATS
counts headers and body together against the server's ``max_payload``, and what the
server refuses there never reaches JetStream, so nobody could tell the sender. So the
server's ``max_payload`` and every ingress stream's ``max_msg_size`` are both
:func:`wire_limit`: the body limit plus a fixed allowance for headers. Every message the
server lets through then reaches the hub, which refuses the too large ones itself; the
publishing clients refuse beyond :func:`wire_limit` before sending.
"""

from __future__ import annotations

__all__ = ["HEADER_ALLOWANCE", "wire_limit"]

HEADER_ALLOWANCE = 64 * 1024
"""Bytes of NATS headers allowed on top of the body limit (a JWS is ~250 bytes)."""


def wire_limit(max_message_bytes: int) -> int:
    """The largest NATS message (headers + body) for a body limit of ``max_message_bytes``.

    Args:
        max_message_bytes: the hub's body limit (``hub.max_message_bytes``).

    Returns:
        The server's ``max_payload`` and the ingress streams' ``max_msg_size``.
    """
    return max_message_bytes + HEADER_ALLOWANCE
