"""Size limits that the hub, the NATS server and the publishing clients must agree on.

A message body may be at most ``max_message_bytes`` (1 MiB by default; the hub refuses a
larger one as ``too_large`` with a notice, a quarantine copy and an audit entry). NATS
counts headers and body together against the server's ``max_payload``, and what the
server refuses there never reaches JetStream: the server closes the connection and the
hub sees no byte of it (``enlace up`` still notices and audits it from the server's
disconnect event, without a quarantine copy: ``hub.pipeline.oversize``). So the server's
``max_payload`` and every ingress stream's ``max_msg_size`` are both
:func:`wire_limit`: the body limit plus a fixed allowance for headers. Every message the
server lets through then reaches the hub, which refuses the too large ones itself; the
publishing clients refuse beyond :func:`wire_limit` before sending.

Each country's ingress stream holds at most :class:`IngressQuota` of what the country
published and the hub has not finished; beyond it JetStream refuses the country's
publishes (and only its own).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["HEADER_ALLOWANCE", "IngressQuota", "headers_size", "wire_limit"]

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


def headers_size(headers: dict[str, str]) -> int:
    """Bytes of ``headers`` on the wire (``NATS/1.0``, ``Key: value`` lines, a blank
    line), which the server counts against ``max_payload`` with the body."""
    return 12 + sum(len(k.encode()) + len(v.encode()) + 4 for k, v in headers.items())


@dataclass(frozen=True)
class IngressQuota:
    """How much of one country's publishing the hub may have in hand, not yet finished.

    The hub's ``streams.ingress_max_bytes_per_party`` / ``ingress_max_msgs_per_party``;
    the defaults are these.
    """

    max_bytes: int = 1024 * 1024 * 1024
    max_msgs: int = 100_000
