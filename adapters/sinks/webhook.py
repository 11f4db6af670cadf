"""Webhook sink: HTTP POST of each delivery to the national system, with its signatures.

The request body is the delivered bytes, exactly; headers carry what vouches for them::

    Content-Type: application/json
    Enlace-Message-Id, Idempotency-Key: <id>      the receiver may drop a repeat
    Enlace-Signature: <sender's detached JWS>      verifies the body when the view is full
    Enlace-Countersignature: <hub's JWS>           for a redacted view
    Enlace-View, Enlace-Original-Digest, Enlace-Recipient, Enlace-Agreement
    Enlace-Published-At: <RFC 3339>                when the hub published it (the time its
                                                   signatures are checked at)
    Enlace-Amendment, Enlace-Amends, Enlace-Original-Id, Enlace-Version
                                                   a correction or retraction: what it amends
                                                   (its ce-type is its own event type)
    webhook-id, webhook-timestamp, webhook-signature
                                                   Standard Webhooks, when a signing secret
                                                   is configured: the receiver checks the
                                                   HMAC and refuses replays (old timestamps,
                                                   seen ids); see _standard_webhooks
    ce-specversion, ce-id, ce-source, ce-type, ce-time, ce-dataschema
                                                   CloudEvents binary mode (_cloudevents)
    Enlace-Hmac: sha256=<hex>                      (older receivers) with hmac_secret_env

Answer codes: 2xx delivered; 408/425/429 and 5xx, timeouts and connection errors are
transient (retried); any other 4xx is permanent (dead-lettered with ``http_<status>``).
Client certificates (mTLS) and a private CA are options.

Idempotency: a local SQLite ledger (``state/webhook-<cc>-<name>.sqlite``) records each id
once the receiver answered 2xx; a redelivery found there is not POSTed again. A crash
between the 2xx and the ledger write re-POSTs once, which is why ``Idempotency-Key``
travels too.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import sqlite3
import ssl
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import httpx
from pydantic import BaseModel, ConfigDict, Field, HttpUrl, model_validator

from adapters.base import DeliveryResult, SinkContext
from adapters.delivery import Delivery, instant
from adapters.errors import AdapterConfigError, PermanentSinkError, TransientSinkError
from adapters.received import HDR_PUBLISHED_AT
from adapters.sinks._amendments import amendment_of
from adapters.sinks._cloudevents import cloudevent_headers
from adapters.sinks._conditions import condition_headers
from adapters.sinks._options import parse_options, resolve_path
from adapters.sinks._standard_webhooks import decode_secret, signature_headers
from schemas.subjects import (
    HDR_AGREEMENT,
    HDR_COUNTERSIGNATURE,
    HDR_ORIGINAL_DIGEST,
    HDR_RECIPIENT,
    HDR_SIGNATURE,
    HDR_VIEW,
)

__all__ = ["HDR_HMAC", "HDR_MESSAGE_ID", "WebhookLedger", "WebhookSink", "hmac_header"]

HDR_HMAC = "Enlace-Hmac"
HDR_MESSAGE_ID = "Enlace-Message-Id"
_TRANSIENT_4XX = {408, 425, 429}


def hmac_header(secret: bytes, body: bytes) -> str:
    """The ``Enlace-Hmac`` value a receiver recomputes to check the body came from us."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


class WebhookOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: HttpUrl = Field(description="the national system's intake endpoint (POST)")
    timeout: float = Field(10.0, gt=0, description="seconds for the whole request")
    signing_secret_env: str | None = Field(
        None,
        description="environment variable holding the Standard Webhooks secret (whsec_…) "
        "shared with the receiver: signs webhook-signature",
    )
    signing_secret_file: Path | None = Field(
        None, description="or a file (mode 0600) holding that secret"
    )
    hmac_secret_env: str | None = Field(
        None, description="environment variable with a secret for Enlace-Hmac (older receivers)"
    )
    client_cert: Path | None = Field(None, description="PEM client certificate (mTLS)")
    client_key: Path | None = Field(None, description="PEM key of the client certificate")
    ca_file: Path | None = Field(None, description="CA bundle that signed the server's cert")
    ledger: Path | None = Field(None, description="idempotency ledger (SQLite)")

    @model_validator(mode="after")
    def _cert_pair(self) -> WebhookOptions:
        if self.client_key is not None and self.client_cert is None:
            raise ValueError("client_key needs client_cert")
        if self.signing_secret_env is not None and self.signing_secret_file is not None:
            raise ValueError("give one of signing_secret_env and signing_secret_file")
        return self


def _signing_key(opts: WebhookOptions, context: SinkContext) -> bytes | None:
    """The Standard Webhooks key from the sink's options (an env variable or a file)."""
    where = f"adapters.{context.country} (webhook)"
    if opts.signing_secret_env is not None:
        value = os.environ.get(opts.signing_secret_env)
        option = f"environment variable {opts.signing_secret_env} (signing_secret_env)"
        if not value:
            raise AdapterConfigError(f"{where}: {option} is not set")
    elif opts.signing_secret_file is not None:
        path = resolve_path(opts.signing_secret_file, context.base_dir)
        option = f"{path} (signing_secret_file)"
        try:
            value = path.read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError) as err:
            raise AdapterConfigError(f"{where}: cannot read {option}: {err}") from None
    else:
        return None
    try:
        return decode_secret(value)
    except ValueError as err:
        raise AdapterConfigError(f"{where}: the secret in {option} {err}") from None


class WebhookLedger:
    """Ids the receiver acknowledged (2xx), in a SQLite file (WAL, synchronous=FULL)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS delivered (id TEXT PRIMARY KEY, at TEXT NOT NULL)"
        )

    def has(self, message_id: str) -> bool:
        row = self._db.execute("SELECT 1 FROM delivered WHERE id = ?", (message_id,)).fetchone()
        return row is not None

    def add(self, message_id: str) -> None:
        self._db.execute(
            "INSERT OR IGNORE INTO delivered (id, at) VALUES (?, ?)",
            (message_id, datetime.now(UTC).isoformat()),
        )

    def close(self) -> None:
        self._db.close()


class WebhookSink:
    """POSTs each delivery to ``url``."""

    name: ClassVar[str] = "webhook"
    options_model: ClassVar[type[BaseModel]] = WebhookOptions

    def __init__(
        self,
        url: str,
        ledger_path: Path,
        *,
        timeout: float = 10.0,
        hmac_secret: bytes | None = None,
        client: httpx.AsyncClient | None = None,
        signing_key: bytes | None = None,
    ) -> None:
        self.url = url
        # What logs and dead letters show: a query string may carry an access key.
        self.shown_url = str(httpx.URL(url).copy_with(query=None, fragment=None))
        self.ledger_path = ledger_path
        self._hmac_secret = hmac_secret
        self._signing_key = signing_key
        self._client = client or httpx.AsyncClient(timeout=timeout)
        self._ledger: WebhookLedger | None = None

    @classmethod
    def from_options(cls, options: Mapping[str, Any], context: SinkContext) -> WebhookSink:
        opts = parse_options(WebhookOptions, options, cls.name, context.country)
        secret = None
        if opts.hmac_secret_env:
            value = os.environ.get(opts.hmac_secret_env)
            if not value:
                raise AdapterConfigError(
                    f"adapters.{context.country} (webhook): environment variable "
                    f"{opts.hmac_secret_env} (hmac_secret_env) is not set"
                )
            secret = value.encode()
        verify: ssl.SSLContext | bool = True
        if opts.ca_file or opts.client_cert:
            ca = str(resolve_path(opts.ca_file, context.base_dir)) if opts.ca_file else None
            verify = ssl.create_default_context(cafile=ca)
            if opts.client_cert:
                key = opts.client_key and str(resolve_path(opts.client_key, context.base_dir))
                verify.load_cert_chain(str(resolve_path(opts.client_cert, context.base_dir)), key)
        ledger = opts.ledger or context.state_dir / f"webhook-{context.country}.sqlite"
        client = httpx.AsyncClient(timeout=opts.timeout, verify=verify)
        return cls(
            str(opts.url),
            resolve_path(ledger, context.base_dir),
            hmac_secret=secret,
            client=client,
            signing_key=_signing_key(opts, context),
        )

    async def open(self) -> None:
        self._ledger = await asyncio.to_thread(WebhookLedger, self.ledger_path)

    @property
    def ledger(self) -> WebhookLedger:
        if self._ledger is None:
            raise RuntimeError("WebhookSink.open() was not called")
        return self._ledger

    async def already_delivered(self, message_id: str) -> bool:
        return await asyncio.to_thread(self.ledger.has, message_id)

    def _headers(self, delivery: Delivery) -> dict[str, str]:
        headers = {
            "Content-Type": "application/json",
            HDR_MESSAGE_ID: delivery.message_id,
            "Idempotency-Key": delivery.message_id,
            HDR_SIGNATURE: delivery.signature,
            HDR_VIEW: delivery.view,
            HDR_ORIGINAL_DIGEST: delivery.original_digest,
            HDR_RECIPIENT: delivery.recipient,
        }
        if delivery.countersignature:
            headers[HDR_COUNTERSIGNATURE] = delivery.countersignature
        if delivery.agreement:
            headers[HDR_AGREEMENT] = delivery.agreement
        if delivery.published_at is not None:
            headers[HDR_PUBLISHED_AT] = instant(delivery.published_at)
        if self._hmac_secret is not None:
            headers[HDR_HMAC] = hmac_header(self._hmac_secret, delivery.body)
        headers.update(cloudevent_headers(delivery))
        headers.update(condition_headers(delivery))
        amendment = amendment_of(delivery)
        if amendment is not None:
            headers.update(amendment.headers())
        if self._signing_key is not None:
            # Signed per attempt: a retry carries a fresh timestamp, the same webhook-id.
            headers.update(
                signature_headers(
                    self._signing_key, delivery.message_id, delivery.body, datetime.now(UTC)
                )
            )
        return headers

    async def deliver(self, delivery: Delivery) -> DeliveryResult:
        if await self.already_delivered(delivery.message_id):
            return DeliveryResult(self.shown_url, duplicate=True)
        try:
            response = await self._client.post(
                self.url, content=delivery.body, headers=self._headers(delivery)
            )
        except (httpx.HTTPError, ssl.SSLError, OSError) as err:
            # Timeouts, refused connections, TLS hiccups: the far side may come back. Under
            # TLS 1.3 a server's "certificate required" alert arrives while reading the
            # response, where httpx can let the raw ssl.SSLError through.
            raise TransientSinkError(
                f"POST {self.shown_url} for {delivery.message_id} failed: {type(err).__name__}"
            ) from None
        status = response.status_code
        if 200 <= status < 300:
            await asyncio.to_thread(self.ledger.add, delivery.message_id)
            return DeliveryResult(self.shown_url)
        if status >= 500 or status in _TRANSIENT_4XX:
            raise TransientSinkError(
                f"POST {self.shown_url} for {delivery.message_id}: HTTP {status}"
            )
        raise PermanentSinkError(
            f"POST {self.shown_url} refused {delivery.message_id} with HTTP {status}",
            reason=f"http_{status}",
        )

    async def close(self) -> None:
        await self._client.aclose()
        if self._ledger is not None:
            self._ledger.close()
