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
DEADLETTER_CC  ``enlace.deadletter.CC``  deliveries CC's sinks could not write (one
                                         stream per party, so CC's login may read and
                                         delete its own dead letters and no others)
=============  ========================  ==============================================

AUDIT belongs to the audit writer (:mod:`hub.audit`), which creates it with its own
guarantees (deny delete and purge). Key-value buckets: ``enlace_seen`` (message ids
accepted, for replay refusal; TTL = acceptance window + skew), ``enlace_requests``
(who sent each request, for replies) and ``enlace_receipts`` (receipts already on the
audit record, against recording a redelivery twice; TTL = the streams' max age).
"""

from __future__ import annotations

from collections.abc import Iterable

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
from hub.consumers import ConsumerRepair, ensure_consumer
from hub.errors import ConfigError
from schemas.subjects import STREAMS, deadletter_stream, deadletter_subject

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

HUB_STREAMS = ("INGRESS", "DELIVERY", "REJECTED", "QUARANTINE", "RECEIPTS")
"""The shared hub streams; each party also has its dead-letter stream (deadletter_stream)."""
_LEGACY_DEADLETTER = "DEADLETTER"  # one shared stream before per-country dead letters
HUB_CONSUMER = "hub"
"""The durable pull consumer on INGRESS that every hub worker and process shares."""
SEEN_BUCKET = "enlace_seen"
REQUESTS_BUCKET = "enlace_requests"
RECEIPTS_CONSUMER = "hub-receipts"
"""The durable pull consumer on RECEIPTS from which the hub records receipts (hub.receipts)."""
RECEIPTS_BUCKET = "enlace_receipts"


def stream_configs(settings: HubSettings, parties: Iterable[str] = ()) -> list[StreamConfig]:
    """The configuration of every hub stream under ``settings``.

    Args:
        settings: the hub's limits.
        parties: the directory's party codes; each gets its dead-letter stream.
    """
    limits = settings.streams
    subjects = {name: list(STREAMS[name]) for name in HUB_STREAMS}
    for cc in sorted(set(parties)):
        subjects[deadletter_stream(cc)] = [deadletter_subject(cc)]
    configs = []
    for name, stream_subjects in subjects.items():
        window = {
            "INGRESS": limits.ingress_duplicate_window,
            "DELIVERY": limits.delivery_duplicate_window,
        }.get(name, limits.ingress_duplicate_window)
        configs.append(
            StreamConfig(
                name=name,
                subjects=stream_subjects,
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


async def ensure_streams(
    js: JetStreamContext, settings: HubSettings, parties: Iterable[str] = ()
) -> list[str]:
    """Create the hub's streams, or update them to ``settings``; returns their names.

    Args:
        js: the hub's JetStream context.
        settings: the hub's limits.
        parties: the directory's party codes, whose dead-letter streams to create.
    """
    parties = tuple(parties)
    legacy = await _take_legacy_dead_letters(js, {deadletter_subject(cc) for cc in parties})
    names = []
    for config in stream_configs(settings, parties):
        assert config.name is not None  # set above; for the type checker
        try:
            await js.stream_info(config.name)
        except NotFoundError:
            await js.add_stream(config)
        else:
            await js.update_stream(config)
        names.append(config.name)
    for subject, data, headers in legacy:
        await js.publish(subject, data, headers=headers)
    return names


async def _take_legacy_dead_letters(
    js: JetStreamContext, subjects: set[str]
) -> list[tuple[str, bytes, dict[str, str] | None]]:
    """Empty and remove the shared DEADLETTER stream of earlier versions; returns its letters.

    Its subjects overlap the per-country streams, which could not be created beside it.
    The letters are republished (same headers, so same ``Nats-Msg-Id``) into the
    per-country streams once those exist; a letter of a country without a stream stops
    the hub here, before anything is removed.

    Raises:
        ConfigError: a letter is addressed to a party the directory does not list.
    """
    try:
        info = await js.stream_info(_LEGACY_DEADLETTER)
    except NotFoundError:
        return []
    letters = []
    if info.state.messages:
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            try:
                msg = await js.get_msg(_LEGACY_DEADLETTER, seq)
            except NotFoundError:
                continue  # deleted (a replayed letter)
            assert msg.subject is not None  # a stored message has one
            if msg.subject not in subjects:
                raise ConfigError(
                    f"stream {_LEGACY_DEADLETTER} holds a dead letter on {msg.subject} (seq "
                    f"{seq}), of a party not in the directory: move or delete it (`nats "
                    f"stream rmm {_LEGACY_DEADLETTER} {seq}`), then start the hub again"
                )
            letters.append((msg.subject, msg.data or b"", dict(msg.headers or {}) or None))
    await js.delete_stream(_LEGACY_DEADLETTER)
    return letters


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


async def ensure_hub_consumer(js: JetStreamContext, settings: HubSettings) -> ConsumerRepair | None:
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
    return await ensure_consumer(js, "INGRESS", config)


async def ensure_receipts_consumer(
    js: JetStreamContext, settings: HubSettings
) -> ConsumerRepair | None:
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
    return await ensure_consumer(js, "RECEIPTS", config)
