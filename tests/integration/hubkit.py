"""Shared pieces of the hub integration tests: a running hub, a listener, a reader.

The governance (:func:`hub.testing.governance`) and signed messages
(:func:`schemas.testing.signed_message`) are shared with ``bench/``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig

from hub.app import HubApp, create_app
from hub.config import HubSettings
from hub.governance import Governance, HubSigner
from hub.jetstream.streams import ensure_streams
from hub.testing import GOVERNANCE_PARTIES as PARTIES
from hub.testing import governance
from schemas.subjects import HDR_MSG_ID, HDR_SIGNATURE, ingress_subject
from schemas.testing import TestDirectory, signed_message

__all__ = [
    "PARTIES",
    "Collector",
    "governance",
    "hub_running",
    "outcome_of_sent",
    "publish_signed",
    "retraction_of",
    "signed_message",
]


def retraction_of(
    td: TestDirectory, message_id: str, cc: str = "GT", theme: str = "gangs"
) -> tuple[dict[str, Any], bytes, str]:
    """``cc``'s signed retraction of message ``message_id``, under ``theme``."""
    payload = {"original_id": message_id, "reason": "error", "detail": "sent twice"}
    return signed_message(td, cc, "retraction", theme, payload=payload)


async def publish_signed(
    js: JetStreamContext, message: dict[str, Any], raw: bytes, jws: str, subject: str | None = None
) -> None:
    subject = subject or ingress_subject(
        message["sender"]["country"], message["theme"], message["type"]
    )
    await js.publish(subject, raw, headers={HDR_SIGNATURE: jws, HDR_MSG_ID: message["id"]})


async def outcome_of_sent(
    nc: NatsClient, js: JetStreamContext, sent: tuple[dict[str, Any], bytes, str]
) -> dict[str, Any]:
    """Publish ``sent`` (a message, its bytes, its JWS) and wait for the hub's outcome."""
    message, raw, jws = sent
    got = Collector()
    sub = await nc.subscribe(f"enlace.outcome.{message['sender']['country']}.>", cb=got.handler)
    await publish_signed(js, message, raw, jws)
    try:
        for _ in range(500):
            for doc in got.json():
                if doc["message_id"] == message["id"]:
                    return doc
            await asyncio.sleep(0.02)
    finally:
        await sub.unsubscribe()
    raise AssertionError(f"no outcome for {message['id']}")


@dataclass
class Collector:
    """Everything seen on a subject filter, by message."""

    msgs: list[Msg] = field(default_factory=list)

    async def handler(self, msg: Msg) -> None:
        self.msgs.append(msg)

    def json(self) -> list[dict[str, Any]]:
        return [json.loads(m.data) for m in self.msgs]

    async def wait(self, count: int, seconds: float = 10.0) -> None:
        deadline = asyncio.get_running_loop().time() + seconds
        while len(self.msgs) < count:
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"expected {count} messages, got {len(self.msgs)}")
            await asyncio.sleep(0.02)


@asynccontextmanager
async def hub_running(
    url: str,
    gov: Governance,
    signer: HubSigner,
    sinks: dict[str, list[str]] | None = None,
    **settings: Any,
) -> AsyncIterator[HubApp]:
    """A started hub app; ``sinks`` (country → sink names) get their consumers from it."""
    hub_settings = HubSettings(nats_url=url, **settings)
    app = create_app(hub_settings, gov, signer, sinks=sinks)
    await app.start()
    try:
        yield app
    finally:
        await app.stop()


async def stream_msgs(js: JetStreamContext, stream: str, subject: str) -> list[Msg]:
    """Every message of ``stream`` on ``subject`` (an ephemeral ordered read)."""
    sub = await js.pull_subscribe(
        subject, stream=stream, config=ConsumerConfig(ack_policy=AckPolicy.NONE)
    )
    out: list[Msg] = []
    while True:
        try:
            got = await sub.fetch(256, timeout=0.5)
        except TimeoutError:  # nats-py raises asyncio.TimeoutError = TimeoutError
            break
        out.extend(got)
    await sub.unsubscribe()
    return out


async def ensure(nc: NatsClient) -> JetStreamContext:
    js = nc.jetstream()
    await ensure_streams(js, HubSettings(nats_url="nats://unused"), PARTIES)
    return js
