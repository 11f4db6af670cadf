"""Every durable consumer is the hub's: it makes each one, and mends or refuses a changed one.

nats-server treats a ``CONSUMER.CREATE`` of an existing durable as an update of it, so
whoever may create consumers on a stream may re-point anyone's consumer there (change its
filter so that it skips, or reads, other subjects). Countries may therefore not create,
update or delete consumers at all (:mod:`hub.server.logins`). The hub makes every durable
consumer of the exchange:

=============  ==========================  ============================================
stream         consumer                    who reads it
=============  ==========================  ============================================
INGRESS_CC     ``hub``                     every hub process (one per country's stream)
RECEIPTS       ``hub-receipts``            the hub's receipt recorder
DELIVERY       ``sink-<CC>-<sink>``        country CC's sink of that name (one per sink
                                           of ``enlace.yaml``'s ``adapters:``); CC's login
                                           may only fetch from, read and ack it
=============  ==========================  ============================================

At every start (and for new sinks on reload) :func:`ensure_consumer` compares an existing
consumer with what it must be. What the server lets the hub update in place (filter,
ack wait, redelivery and pending limits, inactivity threshold, headers only) is put back
and reported as a :class:`ConsumerRepair` (the caller logs and audits it). What cannot be
updated in place (deliver, ack or replay policy, push instead of pull) stops the hub with
:class:`~hub.errors.ConsumerTampered`: recreating the consumer would redeliver or skip
messages, so the operator decides (the error says how).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import structlog
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, ReplayPolicy
from nats.js.errors import NotFoundError

from hub.errors import ConsumerTampered
from schemas.subjects import delivery_filter, sink_consumer

__all__ = [
    "SINK_ACK_WAIT",
    "SINK_MAX_ACK_PENDING",
    "ConsumerRepair",
    "ensure_consumer",
    "ensure_sink_consumers",
    "sink_consumer_config",
]

log = structlog.get_logger("enlace.hub.consumers")

SINK_ACK_WAIT = 10.0
"""Seconds a sink has to settle a delivery before it is redelivered. Short, so that after
a NATS restart the deliveries whose fetch or ack the restart lost are redelivered within
seconds instead of holding the ``max_ack_pending`` window (at 120 s, sinks crawled for two
minutes after a restart); the sink runner keeps the deadline of the batch in hand pushed
out (in-progress every third of it) while it writes, retries and receipts, however long."""
SINK_MAX_ACK_PENDING = 128
"""Deliveries a sink may hold unacked: the most one fetched batch takes (the runner settles
a batch before the next fetch, which keeps stream order)."""

# Fields the server updates in place on a CONSUMER.CREATE of an existing durable, and
# whose change would make a consumer skip, starve or lose messages.
_UPDATABLE = (
    "filter_subject",
    "filter_subjects",
    "ack_wait",
    "max_deliver",
    "max_ack_pending",
    "inactive_threshold",
    "headers_only",
)
# Fields the server refuses to update ("deliver policy can not be updated").
_FIXED = ("deliver_policy", "ack_policy", "replay_policy", "deliver_subject", "opt_start_seq")
# What an unset field of the wanted config reads as on the server.
_SERVER_DEFAULTS: dict[str, Any] = {
    "filter_subjects": None,
    "inactive_threshold": None,
    "headers_only": None,
    "replay_policy": ReplayPolicy.INSTANT,
    "deliver_subject": None,
    "opt_start_seq": None,
}


@dataclass(frozen=True)
class ConsumerRepair:
    """A consumer the hub found changed and put back.

    Attributes:
        stream: the stream of the consumer.
        consumer: its durable name.
        changed: field → (what the server had, what the hub set).
    """

    stream: str
    consumer: str
    changed: Mapping[str, tuple[Any, Any]]

    def describe(self) -> str:
        """One line for people and the audit entry's detail (no payload, config only)."""
        return "; ".join(f"{k} was {a!r}, set to {w!r}" for k, (a, w) in self.changed.items())


def sink_consumer_config(country: str, sink_name: str) -> ConsumerConfig:
    """The DELIVERY consumer of ``country``'s sink ``sink_name``: all of the country's
    deliveries, in order, each acked explicitly after a durable write, never given up on."""
    name = sink_consumer(country, sink_name)
    return ConsumerConfig(
        durable_name=name,
        name=name,
        deliver_policy=DeliverPolicy.ALL,
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=SINK_ACK_WAIT,
        max_deliver=-1,
        max_ack_pending=SINK_MAX_ACK_PENDING,
        filter_subject=delivery_filter(country),
    )


def _normal(field: str, value: Any) -> Any:
    if value in (None, [], 0, False) and field in _SERVER_DEFAULTS:
        return _SERVER_DEFAULTS[field]
    if isinstance(value, float):
        return round(value, 3)
    return value


def _drift(actual: ConsumerConfig, wanted: ConsumerConfig) -> dict[str, tuple[Any, Any]]:
    changed = {}
    for name in (*_FIXED, *_UPDATABLE):
        have = _normal(name, getattr(actual, name, None))
        want = _normal(name, getattr(wanted, name, None))
        if want is None and name not in _SERVER_DEFAULTS:
            continue  # the hub leaves it to the server's default
        if have != want:
            changed[name] = (have, want)
    return changed


async def ensure_consumer(
    js: JetStreamContext, stream: str, wanted: ConsumerConfig
) -> ConsumerRepair | None:
    """Create durable ``wanted`` on ``stream``, or check the existing one and mend it.

    Args:
        js: the hub's JetStream context (only the hub's login may create consumers).
        stream: the stream the consumer reads.
        wanted: its configuration (``durable_name`` set).

    Returns:
        What was put back when the existing consumer had been changed, else None.

    Raises:
        ConsumerTampered: a field the server cannot update in place differs.
    """
    name = wanted.durable_name
    assert name is not None  # every consumer of the hub is durable
    try:
        info = await js.consumer_info(stream, name)
    except NotFoundError:
        await js.add_consumer(stream, wanted)
        return None
    changed = _drift(info.config, wanted)
    if not changed:
        return None
    fixed = {k: v for k, v in changed.items() if k in _FIXED}
    if fixed:
        raise ConsumerTampered(stream, name, fixed)
    await js.add_consumer(stream, wanted)
    repair = ConsumerRepair(stream, name, changed)
    log.warning("consumer_repaired", stream=stream, consumer=name, changed=repair.describe())
    return repair


def sink_consumer_configs(sinks: Mapping[str, Sequence[str]]) -> list[ConsumerConfig]:
    """The DELIVERY consumer of every configured sink (country → sink names), in order."""
    return [sink_consumer_config(cc, name) for cc, names in sorted(sinks.items()) for name in names]


async def ensure_sink_consumers(
    js: JetStreamContext, sinks: Mapping[str, Sequence[str]]
) -> list[ConsumerRepair]:
    """The DELIVERY consumer of every configured sink (country → sink names), checked."""
    repairs = [await ensure_consumer(js, "DELIVERY", c) for c in sink_consumer_configs(sinks)]
    return [repair for repair in repairs if repair is not None]
