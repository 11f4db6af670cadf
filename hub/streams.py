"""The hub's JetStream streams, key-value buckets and consumers, created or updated idempotently.

``enlace up`` (and every hub process) calls :func:`ensure_streams` at start; running it
again with the same settings changes nothing, with new limits it updates the streams.

=============  ========================  ==============================================
stream         subjects                  what it holds
=============  ========================  ==============================================
INGRESS        ``enlace.in.>``           what POCs publish; dedup by ``Nats-Msg-Id`` = id
DELIVERY       ``enlace.out.>``          one message per recipient; dedup ``id:cc``
REJECTED       ``enlace.rejected.>``     notices to senders (JSON)
QUARANTINE     ``enlace.quarantine.>``   raw refused bytes + headers + reason
RECEIPTS       ``enlace.receipt.>``      signed receipts from sink adapters
DEADLETTER     ``enlace.deadletter.>``   deliveries a sink could not write
=============  ========================  ==============================================

AUDIT belongs to the audit writer (:mod:`hub.audit`), which creates it with its own
guarantees (deny delete and purge). Key-value buckets: ``enlace_seen`` (message ids
accepted, for replay refusal; TTL = acceptance window + skew), ``enlace_requests``
(who sent each request, for replies) and ``enlace_receipts`` (receipts already on the
audit record, against recording a redelivery twice; TTL = the streams' max age).
"""

from __future__ import annotations

from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    KeyValueConfig,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.errors import BadRequestError, NotFoundError
from nats.js.kv import KeyValue

from hub.config import HubSettings
from schemas.subjects import STREAMS

__all__ = [
    "HUB_CONSUMER",
    "HUB_STREAMS",
    "RECEIPTS_BUCKET",
    "RECEIPTS_CONSUMER",
    "REQUESTS_BUCKET",
    "SEEN_BUCKET",
    "ensure_hub_consumer",
    "ensure_kv",
    "ensure_receipts_consumer",
    "ensure_streams",
    "stream_configs",
]

HUB_STREAMS = ("INGRESS", "DELIVERY", "REJECTED", "QUARANTINE", "RECEIPTS", "DEADLETTER")
HUB_CONSUMER = "hub"
"""The durable pull consumer on INGRESS that every hub worker and process shares."""
SEEN_BUCKET = "enlace_seen"
REQUESTS_BUCKET = "enlace_requests"
RECEIPTS_CONSUMER = "hub-receipts"
"""The durable pull consumer on RECEIPTS from which the hub records receipts (hub.receipts)."""
RECEIPTS_BUCKET = "enlace_receipts"


def stream_configs(settings: HubSettings) -> list[StreamConfig]:
    """The configuration of every hub stream under ``settings``."""
    limits = settings.streams
    configs = []
    for name in HUB_STREAMS:
        window = {
            "INGRESS": limits.ingress_duplicate_window,
            "DELIVERY": limits.delivery_duplicate_window,
        }.get(name, limits.ingress_duplicate_window)
        configs.append(
            StreamConfig(
                name=name,
                subjects=list(STREAMS[name]),
                retention=RetentionPolicy.LIMITS,
                storage=StorageType.FILE,
                num_replicas=limits.replicas,
                max_age=limits.max_age.total_seconds(),
                max_bytes=limits.max_bytes,
                # Refuse new writes when full rather than silently dropping old messages
                # that may not have been delivered yet.
                discard=DiscardPolicy.NEW,
                duplicate_window=window.total_seconds(),
                max_msg_size=settings.max_message_bytes + 64 * 1024,
                allow_direct=True,
            )
        )
    return configs


async def ensure_streams(js: JetStreamContext, settings: HubSettings) -> list[str]:
    """Create the hub's streams, or update them to ``settings``; returns their names."""
    names = []
    for config in stream_configs(settings):
        assert config.name is not None  # set above; for the type checker
        try:
            await js.stream_info(config.name)
        except NotFoundError:
            await js.add_stream(config)
        else:
            await js.update_stream(config)
        names.append(config.name)
    return names


async def ensure_kv(
    js: JetStreamContext, bucket: str, ttl_seconds: float, replicas: int
) -> KeyValue:
    """Create (or open and update) a key-value bucket whose entries expire after ``ttl``."""
    config = KeyValueConfig(
        bucket=bucket,
        history=1,
        ttl=ttl_seconds,
        storage=StorageType.FILE,
        replicas=replicas,
        # Direct gets: a lookup per message is served without the JetStream API leader.
        direct=True,
    )
    try:
        return await js.create_key_value(config)
    except BadRequestError:
        # Exists with other limits: align the TTL, keep the data.
        info = await js.stream_info(f"KV_{bucket}")
        info.config.max_age = ttl_seconds
        await js.update_stream(info.config)
        return await js.key_value(bucket)


async def ensure_hub_consumer(js: JetStreamContext, settings: HubSettings) -> None:
    """The durable pull consumer of INGRESS the hub workers share (explicit acks)."""
    config = ConsumerConfig(
        durable_name=HUB_CONSUMER,
        name=HUB_CONSUMER,
        deliver_policy=DeliverPolicy.ALL,
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=settings.ack_wait.total_seconds(),
        max_deliver=settings.max_deliver,
        max_ack_pending=max(1024, settings.fetch_batch * settings.workers * 4),
        filter_subject=STREAMS["INGRESS"][0],
    )
    await js.add_consumer("INGRESS", config)


async def ensure_receipts_consumer(js: JetStreamContext, settings: HubSettings) -> None:
    """The durable pull consumer of RECEIPTS the hub's receipt recorder reads (explicit acks)."""
    config = ConsumerConfig(
        durable_name=RECEIPTS_CONSUMER,
        name=RECEIPTS_CONSUMER,
        deliver_policy=DeliverPolicy.ALL,
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=settings.ack_wait.total_seconds(),
        max_ack_pending=max(1024, settings.fetch_batch * 4),
        filter_subject=STREAMS["RECEIPTS"][0],
    )
    await js.add_consumer("RECEIPTS", config)
