"""Helpers for the sink contract tests: streams, signed deliveries, real backends."""

from __future__ import annotations

import asyncio
import json
import random
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from nats.js import JetStreamContext
from nats.js.api import StreamConfig
from nats.js.errors import APIError, NotFoundError

from adapters.base import SinkContext
from adapters.config import RetrySettings
from adapters.keys import Signer
from adapters.registry import build_sink, sink_names
from adapters.runner import RunnerSettings, SinkRunner
from hub.jetstream.consumers import ensure_sink_consumers
from schemas.common import PARTIES
from schemas.countersign import countersign_view, sha256_digest
from schemas.receipts import Receipt, verify_receipt
from schemas.subjects import (
    HDR_AGREEMENT,
    HDR_COUNTERSIGNATURE,
    HDR_MSG_ID,
    HDR_ORIGINAL_DIGEST,
    HDR_RECIPIENT,
    HDR_SIGNATURE,
    HDR_VIEW,
    STREAMS,
    deadletter_stream,
    deadletter_subject,
    delivery_subject,
)
from tests.factories import TestDirectory

__all__ = [
    "HttpReceiver",
    "SentDelivery",
    "fresh_streams",
    "http_receiver",
    "publish_delivery",
    "read_receipts",
    "receipt_signer",
    "system_runner",
]

ADAPTER_STREAMS = ("DELIVERY", "RECEIPTS")
_STORE_NOT_CREATED = 10049  # JSStreamStoreFailedF: "error creating store for stream"


async def fresh_streams(js: JetStreamContext) -> None:
    """DELIVERY, RECEIPTS and every party's DEADLETTER_<cc>, empty, and a DELIVERY consumer
    for every party's sink of every installed kind (the hub makes them all; a country's
    login may not)."""
    configs = [StreamConfig(name=name, subjects=list(STREAMS[name])) for name in ADAPTER_STREAMS]
    configs += [
        StreamConfig(name=deadletter_stream(cc), subjects=[deadletter_subject(cc)])
        for cc in PARTIES
    ]
    for config in configs:
        assert config.name is not None  # set above; for the type checker
        with suppress(NotFoundError):
            await js.delete_stream(config.name)
        await _add_again(js, config)
    await ensure_sink_consumers(js, {cc: sink_names() for cc in PARTIES})


async def _add_again(js: JetStreamContext, config: StreamConfig) -> None:
    """Add a stream just deleted: nats-server may still be removing the old store."""
    for attempt in range(20):
        try:
            await js.add_stream(config)
            return
        except APIError as err:
            if err.err_code != _STORE_NOT_CREATED or attempt == 19:
                raise
            await asyncio.sleep(0.05)


def receipt_signer(td: TestDirectory, country: str) -> Signer:
    kid = f"{country.lower()}-system-k1"
    return Signer(kid, td.keys[kid])


def system_runner(
    js: JetStreamContext,
    td: TestDirectory,
    base_dir: Path,
    country: str,
    sink: str,
    options: dict[str, Any],
) -> SinkRunner:
    """A runner for ``country``'s ``sink`` that signs receipts with its test system key."""
    context = SinkContext(country=country, state_dir=base_dir / country, base_dir=base_dir)
    return SinkRunner(
        js,
        build_sink(sink, options, context),
        lambda: td.directory,
        receipt_signer(td, country),
        RunnerSettings(country, sink, RetrySettings(), fetch_timeout=2.0),
        rng=random.Random(1),
    )


@dataclass(frozen=True)
class SentDelivery:
    message_id: str
    body: bytes
    view: str


async def publish_delivery(
    js: JetStreamContext,
    td: TestDirectory,
    recipient: str = "GT",
    sender: str = "SV",
    view: str = "full",
    tamper: str | None = None,
) -> SentDelivery:
    """Publish a delivery as the hub would; ``tamper`` = "body" or "countersignature"."""
    message = td.envelope(sender, "gangs", "gang_movement", {"note": "test"})
    raw, jws = td.sign(message)
    digest = sha256_digest(raw)
    headers = {
        HDR_MSG_ID: f"{message['id']}:{recipient}",
        HDR_VIEW: view,
        HDR_AGREEMENT: "test-agreement",
        HDR_RECIPIENT: recipient,
        HDR_ORIGINAL_DIGEST: digest,
        HDR_SIGNATURE: jws,
    }
    body = raw
    if view != "full":
        redacted = {k: v for k, v in message.items() if k != "payload"} | {"payload": {}}
        body = json.dumps(redacted).encode()
        headers[HDR_COUNTERSIGNATURE] = countersign_view(
            message["id"], digest, recipient, view, body, td.keys[td.hub_kid], td.hub_kid
        )
        if tamper == "countersignature":
            body = body.replace(b'"payload": {}', b'"payload": {"x": 1}')
    if tamper == "body":
        body = body.replace(b'"note": "test"', b'"note": "TEST"')
        assert body != raw
        if view == "full":  # a careful forger fixes the digest too: the signature still fails
            headers[HDR_ORIGINAL_DIGEST] = sha256_digest(body)
    subject = delivery_subject(recipient, "gangs", "gang_movement")
    await js.publish(subject, body, headers=headers)
    return SentDelivery(message["id"], body, view)


async def read_receipts(js: JetStreamContext, td: TestDirectory) -> list[Receipt]:
    """Every receipt on RECEIPTS, in order, each checked against its party's key."""
    info = await js.stream_info("RECEIPTS")
    receipts = []
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        if info.state.messages == 0:
            break
        msg = await js.get_msg("RECEIPTS", seq)
        assert msg.headers is not None and msg.data is not None
        receipts.append(verify_receipt(td.directory, msg.data, msg.headers[HDR_SIGNATURE]))
    return receipts


@dataclass
class HttpReceiver:
    """A real HTTP server standing for a national system's intake endpoint."""

    url: str = ""
    script: list[int] = field(default_factory=list)  # statuses to answer first, then 200
    received: list[str] = field(default_factory=list)  # ids answered 2xx, in order
    headers: list[dict[str, str]] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)


@contextmanager
def http_receiver() -> Iterator[HttpReceiver]:
    state = HttpReceiver()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with lock:
                status = state.script.pop(0) if state.script else 200
                if 200 <= status < 300:
                    state.received.append(json.loads(body)["id"])
                    state.headers.append(dict(self.headers.items()))
                    state.bodies.append(body)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/intake"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
