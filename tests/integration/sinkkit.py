"""Helpers for the sink contract tests: streams, signed deliveries, real backends."""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from nats.js import JetStreamContext

from adapters.base import Sink, SinkContext
from adapters.config import RetrySettings
from adapters.registry import build_sink, sink_names
from adapters.runner import RunnerSettings, SinkRunner
from adapters.testing import SentDelivery, fresh_adapter_streams, publish_delivery, receipt_signer
from hub.jetstream.consumers import ensure_sink_consumers
from schemas.common import PARTIES
from schemas.directory import Directory
from schemas.envelope import DEFAULT_MAX_BYTES
from schemas.govdoc import rfc3339
from schemas.receipts import Receipt, unpack_receipts, verify_receipt
from schemas.subjects import HDR_RECEIPT_BATCH, HDR_SIGNATURE
from schemas.testing import TestDirectory

__all__ = [
    "HttpReceiver",
    "SentDelivery",
    "WrappedSink",
    "fresh_streams",
    "http_receiver",
    "publish_delivery",
    "read_receipts",
    "receipt_signer",
    "revoke_hub_key",
    "signed_receipts",
    "system_runner",
]


@dataclass
class WrappedSink:
    """A real sink behind a test's wrapper: all but the writes go straight to it."""

    inner: Sink

    @property
    def name(self) -> str:
        return self.inner.name

    async def open(self) -> None:
        await self.inner.open()

    async def already_delivered(self, message_id: str) -> bool:
        return await self.inner.already_delivered(message_id)

    async def close(self) -> None:
        await self.inner.close()


async def fresh_streams(js: JetStreamContext) -> None:
    """DELIVERY, RECEIPTS and every party's DEADLETTER_<cc>, empty, and a DELIVERY consumer
    for every party's sink of every installed kind (the hub makes them all; a country's
    login may not)."""
    await fresh_adapter_streams(js)
    await ensure_sink_consumers(js, {cc: sink_names() for cc in PARTIES})


def revoke_hub_key(td: TestDirectory, at: datetime) -> Directory:
    """``td``'s directory with the hub's keys revoked at ``at`` (a fresh model: no cached
    key table of the original carries over)."""
    data = td.directory.model_dump(mode="json")
    for key in data["hub"]["keys"]:
        key["revoked_at"] = rfc3339(at)
    return Directory.model_validate(data)


def system_runner(
    js: JetStreamContext,
    td: TestDirectory,
    base_dir: Path,
    country: str,
    sink: str,
    options: dict[str, Any],
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> SinkRunner:
    """A runner for ``country``'s ``sink`` that signs receipts with its test system key
    (``max_bytes``: the deployment's ``hub.max_message_bytes``)."""
    context = SinkContext(country=country, state_dir=base_dir / country, base_dir=base_dir)
    return SinkRunner(
        js,
        build_sink(sink, options, context),
        lambda: td.directory,
        receipt_signer(td, country),
        RunnerSettings(country, sink, RetrySettings(), fetch_timeout=2.0, max_bytes=max_bytes),
        rng=random.Random(1),
    )


async def read_receipts(js: JetStreamContext, td: TestDirectory | Directory) -> list[Receipt]:
    """Every receipt on RECEIPTS, in order, each checked against its party's key: those
    published alone and each of a batch (:func:`signed_receipts`)."""
    directory = td.directory if isinstance(td, TestDirectory) else td
    info = await js.stream_info("RECEIPTS")
    receipts = []
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        if info.state.messages == 0:
            break
        msg = await js.get_msg("RECEIPTS", seq)
        assert msg.data is not None
        for raw, jws in signed_receipts(msg.headers or {}, msg.data):
            receipts.append(verify_receipt(directory, raw, jws))
    return receipts


def signed_receipts(headers: dict[str, str], data: bytes) -> list[tuple[bytes, str]]:
    """The receipts a RECEIPTS message carries (bytes, JWS): itself or a batch's."""
    count = headers.get(HDR_RECEIPT_BATCH)
    if count is None:
        return [(data, headers[HDR_SIGNATURE])]
    return unpack_receipts(data, count)


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
