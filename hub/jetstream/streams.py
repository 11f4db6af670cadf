"""The hub's JetStream streams, key-value buckets and consumers, created or updated idempotently.

``enlace up`` (and every hub process) calls :func:`ensure_streams` at start; running it
again with the same settings changes nothing, with new limits it updates the streams.

===========  ========================  ================================================
stream       subjects                  what it holds
===========  ========================  ================================================
INGRESS_CC   ``enlace.in.CC.>``        what CC's POCs publish and the hub has not yet
                                       finished (work queue: acked = removed); dedup by
                                       ``Nats-Msg-Id`` = id; CC's quota: at most
                                       ``ingress_max_bytes_per_party`` /
                                       ``ingress_max_msgs_per_party``, then new
                                       publishes are refused (discard new), so one
                                       country cannot fill the disk the others need
DELIVERY     ``enlace.out.>``          one message per recipient; dedup ``id:cc``
REJECTED     ``enlace.rejected.>``     notices to senders (JSON)
QUARANTINE   ``enlace.quarantine.>``   raw refused bytes + headers + reason
RECEIPTS     ``enlace.receipt.>``      signed receipts from sink adapters
DEADLETTER_  ``enlace.deadletter.CC``  deliveries CC's sinks could not write (one
CC                                     stream per party, so CC's login may read and
                                       delete its own dead letters and no others)
OUTCOMES_CC  ``enlace.outcome.CC.>``   the last outcome of each of CC's messages, by id,
                                       for ``outcome_max_age`` (7 days), at most
                                       ``outcome_max_msgs_per_party`` (the oldest go);
                                       only CC's login may read it
AUDIT        ``enlace.audit``          the audit log's entries (:mod:`hub.audit.writer`)
AUDIT_CHECK  ``enlace.audit.           its signed checkpoints
POINTS       checkpoint``
AUDIT_WIT    ``enlace.witness.CC.      each party's cosignatures of checkpoints and its
NESS         cosigned|refused``        refusals (:mod:`hub.audit.witness`)
===========  ========================  ================================================

Every ingress stream (and the server's ``max_payload``) takes messages up to
:func:`schemas.limits.wire_limit`, so that a message over the hub's size limit still
reaches the hub and is refused with a notice (``too_large``). Earlier versions had one
INGRESS stream for all (``enlace.in.>``): :func:`ensure_streams` moves it out of the way
of the per-country streams (:func:`retire_legacy_ingress`) and the hub drains it.

The audit streams are append-only (:func:`audit_stream_configs`: deny delete and purge,
no limits) and never updated: :func:`ensure_audit_streams` creates them, or refuses to go
on when someone weakened them (:func:`hub.audit.streams.weaknesses`; the hub's login may not
change them). Key-value buckets: ``enlace_seen`` (ids claimed by earlier versions, read
at start, :mod:`hub.pipeline.replay`; TTL = window + skew),
``enlace_requests`` (who sent each request, for replies), ``enlace_onward`` (who sent each accepted
``no_onward`` message; TTL = ``onward_memory``) and ``enlace_receipts`` (receipts already on the
audit record, against recording a redelivery twice; TTL = the streams' max age).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

import structlog
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.errors import BadRequestError, NotFoundError

from hub.audit.streams import (
    AUDIT_STREAM,
    AUDIT_SUBJECT,
    CHECKPOINT_STREAM,
    CHECKPOINT_SUBJECT,
    WITNESS_STREAM,
    check_stream,
)
from hub.config import HubSettings
from hub.errors import ConfigError
from hub.jetstream.consumers import ConsumerRepair, ensure_consumer
from schemas.limits import wire_limit
from schemas.subjects import (
    STREAMS,
    deadletter_stream,
    deadletter_subject,
    ingress_filter,
    ingress_stream,
    outcome_filter,
    outcome_stream,
)

__all__ = [
    "HUB_CONSUMER",
    "HUB_STREAMS",
    "LEGACY_INGRESS",
    "ONWARD_BUCKET",
    "RECEIPTS_BUCKET",
    "RECEIPTS_CONSUMER",
    "REQUESTS_BUCKET",
    "SEEN_BUCKET",
    "audit_stream_configs",
    "ensure_audit_streams",
    "ensure_hub_consumer",
    "ensure_receipts_consumer",
    "ensure_streams",
    "legacy_ingress_drained",
    "retire_legacy_ingress",
    "stream_configs",
]

log = structlog.get_logger("enlace.hub.streams")

HUB_STREAMS = ("DELIVERY", "REJECTED", "QUARANTINE", "RECEIPTS")
"""The shared hub streams; each party also has its ingress stream (ingress_stream) and its
dead-letter stream (deadletter_stream)."""
_LEGACY_DEADLETTER = "DEADLETTER"  # one shared stream before per-country dead letters
LEGACY_INGRESS = "INGRESS"
"""The one ingress stream of earlier versions, drained by the hub after an upgrade."""
_RETIRED_SUBJECT = "enlace.retired.ingress"  # nobody may publish here: nothing new comes in
HUB_CONSUMER = "hub"
"""The durable pull consumer on each ingress stream that every hub worker and process
shares."""
SEEN_BUCKET = "enlace_seen"
REQUESTS_BUCKET = "enlace_requests"
ONWARD_BUCKET = "enlace_onward"
RECEIPTS_CONSUMER = "hub-receipts"
"""The durable pull consumer on RECEIPTS from which the hub records receipts
(:mod:`hub.pipeline.receipts`)."""
RECEIPTS_BUCKET = "enlace_receipts"
_STREAM_NAME_IN_USE = 10058  # JSStreamNameExistErr: exists with another configuration


def stream_configs(settings: HubSettings, parties: Iterable[str] = ()) -> list[StreamConfig]:
    """The configuration of every hub stream under ``settings``.

    Args:
        settings: the hub's limits.
        parties: the directory's party codes; each gets its ingress, dead-letter and outcome
            stream.
    """
    limits = settings.streams
    subjects = {name: list(STREAMS[name]) for name in HUB_STREAMS}
    for cc in sorted(set(parties)):
        subjects[deadletter_stream(cc)] = [deadletter_subject(cc)]
    configs = [_ingress_config(settings, cc) for cc in sorted(set(parties))]
    configs += [_outcome_config(settings, cc) for cc in sorted(set(parties))]
    for name, stream_subjects in subjects.items():
        window = limits.delivery_duplicate_window if name == "DELIVERY" else None
        configs.append(
            StreamConfig(
                name=name,
                subjects=stream_subjects,
                retention=RetentionPolicy.LIMITS,
                max_age=limits.max_age.total_seconds(),
                max_bytes=limits.max_bytes,
                **_common(settings, window),
            )
        )
    return configs


def _ingress_config(settings: HubSettings, cc: str) -> StreamConfig:
    """``cc``'s ingress stream: a work queue (what the hub acked is gone), so its limits
    count what the hub has not finished: that is ``cc``'s quota."""
    limits = settings.streams
    return StreamConfig(
        name=ingress_stream(cc),
        subjects=[ingress_filter(cc)],
        retention=RetentionPolicy.WORK_QUEUE,
        max_age=limits.max_age.total_seconds(),
        max_bytes=limits.ingress_max_bytes_per_party,
        max_msgs=limits.ingress_max_msgs_per_party,
        **_common(settings, None),
    )


def _outcome_config(settings: HubSettings, cc: str) -> StreamConfig:
    """``cc``'s outcomes: one per message id (the subject), read by a direct get of the
    subject's last message. Limited by age and count, dropping the oldest when full: an
    outcome is what a sender may still collect, never what the hub has yet to do, so a
    full stream must not refuse the hub's next write."""
    limits = settings.streams
    return StreamConfig(
        name=outcome_stream(cc),
        subjects=[outcome_filter(cc)],
        retention=RetentionPolicy.LIMITS,
        max_age=limits.outcome_max_age.total_seconds(),
        max_msgs=limits.outcome_max_msgs_per_party,
        max_msgs_per_subject=1,
        # No Nats-Msg-Id on outcomes; JetStream wants the window within the age anyway.
        **{
            **_common(settings, min(limits.outcome_max_age, limits.ingress_duplicate_window)),
            "discard": DiscardPolicy.OLD,
        },
    )


def _common(settings: HubSettings, window: timedelta | None) -> dict[str, Any]:
    """What every hub stream has in common."""
    limits = settings.streams
    return {
        "storage": StorageType.FILE,
        "num_replicas": limits.replicas,
        # Refuse new writes when full rather than silently dropping old messages that may
        # not have been handled or delivered yet.
        "discard": DiscardPolicy.NEW,
        "duplicate_window": (window or limits.ingress_duplicate_window).total_seconds(),
        # The server's max_payload too: what the server lets through, a stream stores.
        "max_msg_size": wire_limit(settings.max_message_bytes),
        "allow_direct": True,
    }


async def ensure_streams(
    js: JetStreamContext, settings: HubSettings, parties: Iterable[str] = ()
) -> list[str]:
    """Create the hub's streams, or update them to ``settings``; returns their names
    (with :data:`LEGACY_INGRESS` when the old stream is still to drain).

    Args:
        js: the hub's JetStream context.
        settings: the hub's limits.
        parties: the directory's party codes, whose ingress and dead-letter streams to
            create.
    """
    parties = tuple(parties)
    retired = await retire_legacy_ingress(js)
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
    return [*names, LEGACY_INGRESS] if retired else names


def audit_stream_configs(settings: HubSettings) -> list[StreamConfig]:
    """AUDIT, AUDIT_CHECKPOINTS and AUDIT_WITNESS: nothing ever leaves them.

    ``deny_delete`` and ``deny_purge`` (the server refuses to remove an entry, whoever
    asks), limits retention without limits (no entry ages out) and no roll-up or TTL
    headers; what :func:`hub.audit.streams.weaknesses` finds none of.
    """
    return [
        StreamConfig(
            name=name,
            subjects=subjects,
            storage=StorageType.FILE,
            retention=RetentionPolicy.LIMITS,
            num_replicas=settings.streams.replicas,
            deny_delete=True,
            deny_purge=True,
            allow_direct=True,
        )
        for name, subjects in (
            (AUDIT_STREAM, [AUDIT_SUBJECT]),
            (CHECKPOINT_STREAM, [CHECKPOINT_SUBJECT]),
            (WITNESS_STREAM, STREAMS[WITNESS_STREAM]),
        )
    ]


async def ensure_audit_streams(js: JetStreamContext, settings: HubSettings) -> None:
    """Create the audit streams, or check that they still keep every entry.

    Never an update: the hub's login may not change them (:mod:`hub.server.logins`), and
    what could lose entries is refused, not repaired.

    Args:
        js: the hub's JetStream context.
        settings: ``streams.replicas``: the replicas a new stream gets and an existing
            one must have at least.

    Raises:
        AuditStreamWeakened: an existing stream may drop, delete or roll up entries.
    """
    for config in audit_stream_configs(settings):
        assert config.name is not None  # set above; for the type checker
        try:
            await js.add_stream(config)  # the same configuration again: nothing changes
            continue
        except BadRequestError as exc:
            if exc.err_code != _STREAM_NAME_IN_USE:
                raise
        await check_stream(js, config.name, settings.streams.replicas)


async def retire_legacy_ingress(js: JetStreamContext) -> bool:
    """Move the INGRESS stream of earlier versions out of the per-country streams' way.

    Its subjects (``enlace.in.>``) overlap theirs, which could not be created beside it.
    Its messages keep their subjects and its consumer ``hub`` keeps its place, so the hub
    drains what was left unhandled exactly once (:mod:`hub.pipeline.intake`), then
    deletes it. Nothing new comes in: nobody may publish on its new subject.

    Returns:
        Whether the old stream is there (still to drain).
    """
    try:
        info = await js.stream_info(LEGACY_INGRESS)
    except NotFoundError:
        return False
    if info.config.subjects != [_RETIRED_SUBJECT]:
        info.config.subjects = [_RETIRED_SUBJECT]
        await js.update_stream(info.config)
    return True


async def legacy_ingress_drained(js: JetStreamContext) -> bool:
    """Whether the old INGRESS is done with (nothing pending, nothing in hand anywhere);
    then it is deleted. A hub process that finds it gone is done with it too.

    A failure to ask (NATS away) answers False: the next idle poll asks again.
    """
    try:
        info = await js.consumer_info(LEGACY_INGRESS, HUB_CONSUMER)
        if info.num_pending or info.num_ack_pending:
            return False
        await js.delete_stream(LEGACY_INGRESS)
    except NotFoundError:
        return True
    except Exception as exc:  # NATS away: try again at the next idle poll
        log.warning("legacy_ingress_check_failed", error=type(exc).__name__)
        return False
    log.info("legacy_ingress_drained", stream=LEGACY_INGRESS)
    return True


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


async def ensure_hub_consumer(
    js: JetStreamContext, settings: HubSettings, stream: str
) -> ConsumerRepair | None:
    """The durable pull consumer of an ingress stream the hub workers share (explicit acks).

    Args:
        js: the hub's JetStream context.
        settings: the hub's ack wait, redeliveries and batch sizes.
        stream: a party's :func:`~schemas.subjects.ingress_stream`, or
            :data:`LEGACY_INGRESS` (whose existing consumer is kept as it is).
    """
    if stream == LEGACY_INGRESS:
        try:
            await js.consumer_info(stream, HUB_CONSUMER)
        except NotFoundError:
            pass  # the old hub never ran: read it all from the start, as it would have
        else:
            return None  # its place in the old stream is what makes the drain exactly once
    config = ConsumerConfig(
        durable_name=HUB_CONSUMER,
        name=HUB_CONSUMER,
        deliver_policy=DeliverPolicy.ALL,
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=settings.ack_wait.total_seconds(),
        max_deliver=settings.max_deliver,
        max_ack_pending=max(1024, settings.fetch_batch * settings.workers * 4),
    )
    return await ensure_consumer(js, stream, config)


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
