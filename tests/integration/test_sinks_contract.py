"""One contract, every sink: the same tests run against each installed sink.

The sinks are those installed (entry point group ``enlace.sinks``), each with the far side
its setup in ``sink_backends`` makes; an installed sink the suite has no setup for fails.
Real nats-server, real crypto, a real HTTP server and a real PostgreSQL. The runner is the
production one; the only stand-in is :class:`Faulty`, a wrapper that makes a real sink
fail or crash on cue (the far side's behaviour is what is simulated, not NATS or the DB).
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError
from structlog.testing import capture_logs

from adapters.base import DeliveryResult, Sink, SinkContext
from adapters.client import EnlaceClient
from adapters.config import RetrySettings
from adapters.deadletters import HDR_DELIVERY_SEQ, HDR_SINK
from adapters.delivery import Delivery
from adapters.errors import (
    PermanentSinkError,
    StreamsMissing,
    TamperedDelivery,
    TransientSinkError,
)
from adapters.registry import build_sink, sink_names
from adapters.runner import Processed, RunnerSettings, SinkRunner, consumer_name
from adapters.sinks._standard_webhooks import new_secret
from schemas.countersign import sha256_digest
from schemas.receipts import ReceiptStatus
from schemas.subjects import HDR_MSG_ID, HDR_REASON, deadletter_stream, deadletter_subject
from schemas.testing import TestDirectory, make_directory
from tests.integration.sink_backends import SETUPS, Backend, backend_setup
from tests.integration.sinkkit import (
    HttpReceiver,
    SentDelivery,
    WrappedSink,
    fresh_streams,
    http_receiver,
    publish_delivery,
    read_receipts,
    receipt_signer,
    revoke_hub_key,
)

pytestmark = pytest.mark.integration

COUNTRY = "GT"


@pytest.fixture(scope="module")
def td() -> TestDirectory:
    return make_directory(parties=("GT", "SV", "US"), themes=("gangs",))


def test_every_installed_sink_has_a_setup_and_every_setup_a_sink() -> None:
    assert sorted(SETUPS) == sink_names()


def test_a_sink_without_a_setup_fails_the_suite() -> None:
    with pytest.raises(pytest.fail.Exception, match="'carrier-pigeon' is installed"):
        backend_setup("carrier-pigeon")


@dataclass
class Faulty(WrappedSink):
    """Wraps a real sink: fails the next ``transient`` calls, or every call permanently,
    or crashes (a non-sink exception) after ``crash_after_write`` real writes."""

    transient: int = 0
    permanent: bool = False
    crash_after_write: int = 0
    calls: int = 0
    on_deliver: list[Callable[[Delivery], Any]] = field(default_factory=list)

    async def deliver(self, delivery: Delivery) -> DeliveryResult:
        self.calls += 1
        for hook in self.on_deliver:
            await hook(delivery)
        if self.transient > 0:
            self.transient -= 1
            raise TransientSinkError("the national system is down")
        if self.permanent:
            raise PermanentSinkError("the national system refused it", reason="refused_test")
        result = await self.inner.deliver(delivery)
        if self.crash_after_write > 0:
            self.crash_after_write -= 1
            raise RuntimeError("power cut after the write, before the ack")
        return result


def runner_for(
    js: JetStreamContext, td: TestDirectory, sink: Sink, sink_name: str, attempts: int = 3
) -> SinkRunner:
    settings = RunnerSettings(
        country=COUNTRY,
        sink_name=sink_name,
        retry=RetrySettings(max_attempts=attempts, backoff_base=0.01, backoff_max=0.02),
        fetch_timeout=0.3,
        ack_wait=30,
    )
    return SinkRunner(
        js,
        sink,
        lambda: td.directory,
        receipt_signer(td, COUNTRY),
        settings,
        rng=random.Random(7),
    )


async def dead_letters(js: JetStreamContext) -> list[tuple[dict[str, str], bytes]]:
    stream = deadletter_stream(COUNTRY)
    info = await js.stream_info(stream)
    out = []
    if info.state.messages:
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            msg = await js.get_msg(stream, seq)
            out.append((dict(msg.headers or {}), msg.data or b""))
    return out


async def delivery_seqs(js: JetStreamContext) -> dict[str, int]:
    """Each message id on DELIVERY and its stream sequence (what a receipt must name)."""
    info = await js.stream_info("DELIVERY")
    out = {}
    if info.state.messages:
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            msg = await js.get_msg("DELIVERY", seq)
            out[(msg.headers or {})[HDR_MSG_ID].split(":")[0]] = seq
    return out


async def refused_by_the_far_side(
    js: JetStreamContext, td: TestDirectory, backend: Backend
) -> SentDelivery:
    """One delivery the national system refuses for good: dead-lettered, with its receipt."""
    sent = await publish_delivery(js, td)
    runner = runner_for(js, td, Faulty(backend.make(), permanent=True), backend.name)
    await runner.start()
    await runner.drain()
    await runner.stop()
    return sent


async def full_and_view_delivered(
    js: JetStreamContext, td: TestDirectory, backend: Backend
) -> tuple[SentDelivery, SentDelivery, int]:
    """A full view and a redacted one, through the backend's sink: both, and how many the
    runner handled."""
    full = await publish_delivery(js, td)
    view = await publish_delivery(js, td, view="no-payload")
    runner = runner_for(js, td, backend.make(), backend.name)
    await runner.start()
    handled = await runner.drain()
    await runner.stop()
    return full, view, handled


# -- the contract ------------------------------------------------------------------------------


async def test_delivers_verified_message_and_signed_receipt(
    js: JetStreamContext, td: TestDirectory, backend: Backend
) -> None:
    full, view, handled = await full_and_view_delivered(js, td, backend)
    assert handled == 2

    assert sorted(backend.written()) == sorted([full.message_id, view.message_id])
    receipts = await read_receipts(js, td)
    assert [r.message_id for r in receipts] == [full.message_id, view.message_id]
    assert all(r.status is ReceiptStatus.DELIVERED and r.sink == backend.name for r in receipts)
    assert receipts[0].digest == sha256_digest(full.body)
    assert receipts[1].view == "no-payload"
    seqs = await delivery_seqs(js)
    assert [r.delivery_seq for r in receipts] == [seqs[full.message_id], seqs[view.message_id]]
    assert await dead_letters(js) == []


async def test_redelivery_after_crash_writes_once(
    js: JetStreamContext, td: TestDirectory, backend: Backend
) -> None:
    sent = await publish_delivery(js, td)
    sink = Faulty(backend.make(), crash_after_write=1)
    runner = runner_for(js, td, sink, backend.name)
    await runner.start()
    await runner.drain()  # writes, crashes before the ack, is redelivered, finds it written
    await runner.stop()

    assert backend.written() == [sent.message_id]
    info = await js.consumer_info("DELIVERY", consumer_name(COUNTRY, backend.name))
    assert info.num_ack_pending == 0 and info.num_pending == 0
    receipts = await read_receipts(js, td)
    assert [r.message_id for r in receipts] == [sent.message_id]  # deduplicated by msg id


async def test_ack_only_after_durable_write(
    js: JetStreamContext, td: TestDirectory, backend: Backend
) -> None:
    sent = await publish_delivery(js, td)
    sink = Faulty(backend.make())
    seen: list[tuple[int, list[str]]] = []

    async def while_writing(_: Delivery) -> None:
        info = await js.consumer_info("DELIVERY", consumer_name(COUNTRY, backend.name))
        seen.append((info.ack_floor.stream_seq if info.ack_floor else 0, backend.written()))

    sink.on_deliver.append(while_writing)
    runner = runner_for(js, td, sink, backend.name)
    await runner.start()
    await runner.drain()
    await runner.stop()

    assert seen == [(0, [])]  # not acked, not yet written, while the sink works
    info = await js.consumer_info("DELIVERY", consumer_name(COUNTRY, backend.name))
    assert info.ack_floor is not None and info.ack_floor.stream_seq == 1
    assert backend.written() == [sent.message_id]


async def test_transient_failures_are_retried(
    js: JetStreamContext, td: TestDirectory, backend: Backend
) -> None:
    sent = await publish_delivery(js, td)
    sink = Faulty(backend.make(), transient=2)
    runner = runner_for(js, td, sink, backend.name, attempts=3)
    await runner.start()
    await runner.drain()
    await runner.stop()

    assert sink.calls == 3
    assert backend.written() == [sent.message_id]
    assert await dead_letters(js) == []


async def test_permanent_failure_and_exhausted_retries_go_to_dead_letter(
    js: JetStreamContext, td: TestDirectory, backend: Backend
) -> None:
    refused = await refused_by_the_far_side(js, td, backend)

    flaky = await publish_delivery(js, td)
    runner = runner_for(js, td, Faulty(backend.make(), transient=10), backend.name, attempts=2)
    await runner.start()
    await runner.drain()
    await runner.stop()

    assert backend.written() == []
    letters = await dead_letters(js)
    assert [(h[HDR_REASON], h[HDR_SINK]) for h, _ in letters] == [
        ("refused_test", backend.name),
        ("retries_exhausted", backend.name),
    ]
    assert [body for _, body in letters] == [refused.body, flaky.body]
    receipts = await read_receipts(js, td)
    assert [(r.message_id, r.status, r.reason) for r in receipts] == [
        (refused.message_id, ReceiptStatus.DEAD_LETTERED, "refused_test"),
        (flaky.message_id, ReceiptStatus.DEAD_LETTERED, "retries_exhausted"),
    ]
    # The refusal receipts and the letters name the DELIVERY message they came from.
    seqs = await delivery_seqs(js)
    expected = [seqs[refused.message_id], seqs[flaky.message_id]]
    assert [r.delivery_seq for r in receipts] == expected
    assert [int(h[HDR_DELIVERY_SEQ]) for h, _ in letters] == expected

    # The far side is fixed: replaying delivers them and empties the dead letters.
    runner = runner_for(js, td, backend.make(), backend.name)
    report = await runner.replay_dead_letters()
    await runner.stop()
    assert [outcome for _, outcome in report] == [Processed.DELIVERED, Processed.DELIVERED]
    assert sorted(backend.written()) == sorted([refused.message_id, flaky.message_id])
    assert await dead_letters(js) == []
    # A replay's receipt names the original delivery too, for the hub to check it.
    replayed = (await read_receipts(js, td))[2:]
    assert [(r.status, r.delivery_seq) for r in replayed] == [
        (ReceiptStatus.DELIVERED, seq) for seq in expected
    ]


async def test_an_older_dead_letter_without_its_delivery_seq_is_replayed_without_a_receipt(
    js: JetStreamContext, td: TestDirectory, backend: Backend
) -> None:
    sent = await refused_by_the_far_side(js, td, backend)
    [(headers, body)] = await dead_letters(js)
    # The same letter as an adapter from before Enlace-Delivery-Seq wrote it.
    stream = deadletter_stream(COUNTRY)
    await js.delete_msg(stream, (await js.stream_info(stream)).state.last_seq)
    older = {k: v for k, v in headers.items() if k != HDR_DELIVERY_SEQ}
    older[HDR_MSG_ID] = f"dl:{sent.message_id}:older"
    await js.publish(deadletter_subject(COUNTRY), body, headers=older)
    receipts = len(await read_receipts(js, td))  # the dead_lettered receipt

    runner = runner_for(js, td, backend.make(), backend.name)
    with capture_logs() as logs:
        report = await runner.replay_dead_letters()
    await runner.stop()
    assert [outcome for _, outcome in report] == [Processed.DELIVERED]
    assert backend.written() == [sent.message_id]
    assert await dead_letters(js) == []
    # No receipt the hub would refuse as receipt_unchecked; the runner says why.
    assert len(await read_receipts(js, td)) == receipts
    [warning] = [e for e in logs if e["event"] == "replayed_without_receipt"]
    assert warning["message_id"] == sent.message_id


@pytest.mark.parametrize("tamper", ["body", "countersignature"])
async def test_tampered_delivery_is_never_written(
    js: JetStreamContext, td: TestDirectory, backend: Backend, tamper: str
) -> None:
    view = "full" if tamper == "body" else "no-payload"
    bad = await publish_delivery(js, td, view=view, tamper=tamper)
    good = await publish_delivery(js, td)
    sink = Faulty(backend.make())
    runner = runner_for(js, td, sink, backend.name)
    await runner.start()
    await runner.drain()
    await runner.stop()

    assert backend.written() == [good.message_id]
    assert sink.calls == 1  # the sink never saw the tampered one
    [(headers, body)] = await dead_letters(js)
    assert headers[HDR_REASON] == "bad_signature"
    assert body == bad.body
    receipts = await read_receipts(js, td)
    assert (receipts[0].message_id, receipts[0].reason) == (bad.message_id, "bad_signature")


async def test_a_recipient_verifies_what_the_sink_kept(
    js: JetStreamContext, td: TestDirectory, backend: Backend
) -> None:
    full, view, _ = await full_and_view_delivered(js, td, backend)

    kept = {json.loads(body)["id"]: (body, fields) for body, fields in backend.kept()}
    checks = {
        mid: EnlaceClient.verify_delivery(body, fields, td.directory)
        for mid, (body, fields) in kept.items()
    }
    sender_poc = json.loads(full.body)["sender"]["poc"]
    assert (checks[full.message_id].checked, checks[full.message_id].signer) == (
        "signature",
        sender_poc,
    )
    assert checks[full.message_id].kid == td.poc_kid("SV", "gangs")
    assert (checks[view.message_id].checked, checks[view.message_id].view) == (
        "countersignature",
        "no-payload",
    )
    assert (checks[view.message_id].signer, checks[view.message_id].kid) == ("hub", td.hub_kid)
    assert checks[view.message_id].digest == sha256_digest(view.body)

    # The sink kept when the hub published each: a hub key revoked since still vouches.
    # (A second ahead: the directory keeps whole seconds.)
    revoked_at = datetime.now(UTC) + timedelta(seconds=1)
    revoked = revoke_hub_key(td, revoked_at)
    await asyncio.sleep((revoked_at - datetime.now(UTC)).total_seconds() + 0.1)
    body, fields = kept[view.message_id]
    assert EnlaceClient.verify_delivery(body, fields, revoked).kid == td.hub_kid
    with pytest.raises(TamperedDelivery) as now:
        EnlaceClient.verify_delivery(body, fields, revoked, at=datetime.now(UTC))
    assert now.value.reason == "key_revoked"

    # A byte changed after the sink wrote it does not verify, in either view.
    for mid, (body, fields) in kept.items():
        with pytest.raises(TamperedDelivery) as changed:
            EnlaceClient.verify_delivery(body + b" ", fields, td.directory)
        assert changed.value.reason in ("digest_mismatch", "bad_signature"), mid


async def test_offline_adapter_catches_up_in_order_exactly_once(
    js: JetStreamContext, td: TestDirectory, backend: Backend
) -> None:
    first = [await publish_delivery(js, td) for _ in range(12)]
    runner = runner_for(js, td, backend.make(), backend.name)
    await runner.start()
    await runner.drain()
    await runner.stop()

    # Offline again while more arrive; a new process (new sink object) picks up.
    second = [await publish_delivery(js, td) for _ in range(8)]
    runner = runner_for(js, td, backend.make(), backend.name)
    await runner.start()
    await runner.drain()
    await runner.stop()

    expected = [d.message_id for d in first + second]
    receipts = await read_receipts(js, td)
    assert [r.message_id for r in receipts] == expected  # in stream order
    written = backend.written()
    assert sorted(written) == sorted(expected)  # every one, none twice
    if backend.name in ("jsonl", "webhook"):
        assert written == expected  # these keep arrival order themselves


# -- what only the webhook has: the far side's own answers --------------------------------------


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    with http_receiver() as receiver:
        yield receiver


def webhook_runner(
    js: JetStreamContext, td: TestDirectory, receiver: HttpReceiver, tmp_path: Path
) -> SinkRunner:
    context = SinkContext(country=COUNTRY, state_dir=tmp_path / "state", base_dir=tmp_path)
    return runner_for(js, td, build_sink("webhook", {"url": receiver.url}, context), "webhook")


async def test_webhook_5xx_is_retried_and_4xx_dead_lettered(
    js: JetStreamContext, td: TestDirectory, receiver: HttpReceiver, tmp_path: Path
) -> None:
    flaky = await publish_delivery(js, td)
    refused = await publish_delivery(js, td)
    receiver.script = [503, 502, 200, 422]  # flaky: two 5xx then 200; refused: 422
    runner = webhook_runner(js, td, receiver, tmp_path)
    await runner.start()
    await runner.drain()
    await runner.stop()

    assert receiver.received == [flaky.message_id]
    [(headers, _)] = await dead_letters(js)
    assert headers[HDR_REASON] == "http_422"
    assert receiver.bodies == [flaky.body]  # the exact signed bytes
    # ... with the sender's signature beside them, as a file would have its .jws
    assert "Enlace-Signature" in receiver.headers[0]
    assert refused.message_id not in receiver.received


async def test_webhook_signs_the_standard_way_and_carries_cloudevents_attributes(
    js: JetStreamContext,
    td: TestDirectory,
    receiver: HttpReceiver,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secret = new_secret()
    monkeypatch.setenv("GT_WEBHOOK_SECRET", secret)
    full = await publish_delivery(js, td)
    view = await publish_delivery(js, td, view="no-payload")
    context = SinkContext(country=COUNTRY, state_dir=tmp_path / "state", base_dir=tmp_path)
    options = {"url": receiver.url, "signing_secret_env": "GT_WEBHOOK_SECRET"}
    runner = runner_for(js, td, build_sink("webhook", options, context), "webhook")
    await runner.start()
    await runner.drain()
    await runner.stop()

    webhook = Webhook(secret)  # the receiver's side: the standardwebhooks package
    for sent, body, headers in zip((full, view), receiver.bodies, receiver.headers, strict=True):
        assert webhook.verify(body, headers)["id"] == sent.message_id
        assert headers["webhook-id"] == sent.message_id
        message = json.loads(body)
        assert {k: v for k, v in headers.items() if k.lower().startswith("ce-")} == {
            "ce-specversion": "1.0",
            "ce-id": sent.message_id,
            "ce-source": f"urn:enlace:sender:SV:{message['sender']['poc']}",
            "ce-type": "enlace.gang_movement.v1",
            "ce-time": message["issued_at"],
            "ce-dataschema": "urn:enlace:message:gang_movement:v1",
            "ce-enlacenoonward": "false",  # the sender's handling conditions: none
            "ce-enlacenotforcourt": "false",
        }
        # Binary mode: the body is the delivered bytes, which the signatures still cover.
        assert body == sent.body
        assert EnlaceClient.verify_delivery(body, headers, td.directory).view == sent.view

    body, headers = receiver.bodies[0], receiver.headers[0]
    with pytest.raises(WebhookVerificationError):
        webhook.verify(body + b" ", headers)  # changed on the way
    replayed = dict(headers, **{"webhook-timestamp": str(int(time.time()) - 600)})
    with pytest.raises(WebhookVerificationError):
        webhook.verify(body, replayed)  # a replay with its old timestamp is refused
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(body, headers)  # not the shared secret


async def test_runner_refuses_to_start_without_the_hubs_streams(
    nc: NatsClient, td: TestDirectory, tmp_path: Path
) -> None:
    js = nc.jetstream()
    await fresh_streams(js)
    await js.delete_stream("DELIVERY")
    context = SinkContext(country=COUNTRY, state_dir=tmp_path, base_dir=tmp_path)
    runner = runner_for(js, td, build_sink("folder", {"path": "x"}, context), "folder")
    with pytest.raises(StreamsMissing, match="DELIVERY"):
        await runner.start()
