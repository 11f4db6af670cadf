"""Shared pieces of the hub integration tests: a governance, a running hub, a listener.

The governance: parties GT, SV, HN, US (+ observer MX unused), one agreement ``gangs-ca``
signed by all (as statuses: signature checking is the loader's own test) with flows
GT → SV full view and GT → US a redacted ``no-persons`` view. HN receives nothing from GT.
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
from schemas.envelope import Sender
from schemas.message import new_message
from schemas.subjects import HDR_MSG_ID, HDR_SIGNATURE, ingress_subject
from tests.factories import TestDirectory, make_directory, poc_id
from tests.hub.policy.helpers import agreement, status, statuses

__all__ = [
    "Collector",
    "governance",
    "hub_running",
    "publish_signed",
    "signed_message",
]

PARTIES = ("GT", "HN", "SV", "US")
NO_PERSONS = {"drop": ["payload.persons"]}


def governance() -> tuple[TestDirectory, Governance, HubSigner]:
    td = make_directory(parties=PARTIES, themes=("gangs", "narcotics"))
    gangs = agreement(
        "gangs-ca",
        ["gangs"],
        ["gang_movement"],
        [
            {"from": "GT", "to": "SV"},
            {"from": "GT", "to": "US", "view": "no-persons"},
            {"from": "SV", "to": "GT"},
        ],
        parties=PARTIES,
        views={"no-persons": NO_PERSONS},
    )
    gov = Governance(directory=td.directory, agreements=statuses(status(gangs)))
    return td, gov, HubSigner(td.keys[td.hub_kid], td.hub_kid)


def signed_message(
    td: TestDirectory,
    cc: str = "GT",
    type_: str = "gang_movement",
    theme: str = "gangs",
    **fields: Any,
) -> tuple[dict[str, Any], bytes, str]:
    message = new_message(
        type_, Sender(country=cc, agency=f"Agency of {cc}", poc=poc_id(cc, theme)), theme, **fields
    )
    raw, jws = td.sign(message)
    return message, raw, jws


async def publish_signed(
    js: JetStreamContext, message: dict[str, Any], raw: bytes, jws: str, subject: str | None = None
) -> None:
    subject = subject or ingress_subject(
        message["sender"]["country"], message["theme"], message["type"]
    )
    await js.publish(subject, raw, headers={HDR_SIGNATURE: jws, HDR_MSG_ID: message["id"]})


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
