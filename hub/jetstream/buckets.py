"""The hub's key-value buckets: created, or opened and brought to the settings."""

from __future__ import annotations

from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StorageType
from nats.js.errors import BadRequestError
from nats.js.kv import KeyValue

__all__ = ["ensure_kv"]


async def ensure_kv(
    js: JetStreamContext, bucket: str, ttl_seconds: float, replicas: int
) -> KeyValue:
    """Create (or open and update) a key-value bucket whose entries expire after a while.

    Args:
        js: the hub's JetStream context.
        bucket: its name.
        ttl_seconds: how long an entry lives.
        replicas: the bucket's replicas (``streams.replicas``).

    Returns:
        The bucket; an existing one keeps its data and takes the new TTL.
    """
    config = KeyValueConfig(
        bucket=bucket,
        history=1,
        ttl=ttl_seconds,
        storage=StorageType.FILE,
        replicas=replicas,
        # No direct gets: on a cluster any replica answers those, and one just back from a
        # freeze or a restart may not hold a key yet. The hub decides by these reads (is
        # this id claimed, and by which ingress message; what a request or a message was
        # routed to), so they go to the stream's leader, which holds every acknowledged write.
        direct=False,
    )
    try:
        return await js.create_key_value(config)
    except BadRequestError:
        # Exists with other limits (or direct gets, before 2026-12): align, keep the data.
        info = await js.stream_info(f"KV_{bucket}")
        info.config.max_age = ttl_seconds
        info.config.allow_direct = False
        await js.update_stream(info.config)
        return await js.key_value(bucket)
