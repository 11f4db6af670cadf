"""Outcomes a publisher can always collect: kept by the hub, read by the sender's login only.

On the demo deployment and a real nats-server with its logins and permissions: a publisher
that stopped waiting, or published while the hub was down, collects the outcome later
(``enlace outcome ID``, :meth:`EnlaceClient.outcome`), after a hub restart too; another
country's login cannot; a refusal of the same id never hides an accepted outcome; an
outcome older than ``outcome_max_age`` is gone.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.aio.client import Client as NatsClient

from adapters.client import EnlaceClient
from adapters.errors import OutcomeNotPermitted, OutcomeTimeout
from hub.app import HubApp, create_app
from hub.cli.exit_codes import ExitCode
from hub.config import HubSettings, StreamSettings
from hub.deployment import Deployment
from hub.governance import load_governance, load_signer
from hub.server.logins import HUB_USER, authorization_block, load_user
from hub.server.process import NatsServer
from schemas.common import new_message_id
from schemas.outcomes import Outcome, OutcomeStatus
from schemas.subjects import HDR_MSG_ID, HDR_SIGNATURE, outcome_subject
from tests.integration.conftest import start_nats_server, tls_for
from tests.integration.demokit import run_enlace, signed_trace_requests
from tests.integration.hubkit import Collector

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server(demo: Deployment) -> Iterator[NatsServer]:
    """The demo's server with its logins: each country may read its own outcomes only."""
    srv = start_nats_server(
        demo.home / "nats", authorization=authorization_block(demo), tls=tls_for(demo)
    )
    yield srv
    srv.stop()


@asynccontextmanager
async def hub(demo: Deployment, server: NatsServer, **streams: Any) -> AsyncIterator[HubApp]:
    """The demo's hub on ``server`` with its own login (``streams``: its stream settings)."""
    gov = load_governance(demo)
    settings = HubSettings(nats_url=server.url, streams=StreamSettings(**streams))
    options = load_user(demo, HUB_USER).connect_options()
    app = create_app(settings, gov, load_signer(demo, gov), connect_options=options)
    await app.start()
    try:
        yield app
    finally:
        await app.stop()


async def login(demo: Deployment, server: NatsServer, name: str) -> NatsClient:
    return await nats.connect(server.url, **load_user(demo, name).connect_options())


async def run_cli(
    demo: Deployment, server: NatsServer, *args: str
) -> subprocess.CompletedProcess[str]:
    return await run_enlace(demo, server.url, *args)


async def kept(client: EnlaceClient, message_id: str, country: str = "GT") -> Outcome:
    """The kept outcome, once the hub has stored it."""
    for _ in range(200):
        said = await client.outcome(message_id, country)
        if said is not None:
            return said
        await asyncio.sleep(0.05)
    raise AssertionError(f"no outcome of {message_id} kept")


async def test_a_publisher_that_gave_up_while_the_hub_was_down_collects_it_after_restarts(
    demo: Deployment, server: NatsServer, tmp_path: Path
) -> None:
    [(message_id, raw, jws)] = signed_trace_requests(demo, 1)
    (tmp_path / "m.json").write_bytes(raw)
    (tmp_path / "m.json.jws").write_text(jws)
    async with hub(demo, server):
        pass  # the streams exist; nobody handles what comes in now
    gave_up = await run_cli(demo, server, "publish", str(tmp_path / "m.json"), "--timeout", "1")
    assert gave_up.returncode == ExitCode.TIMEOUT, gave_up.stderr
    nothing_yet = await run_cli(demo, server, "outcome", message_id, "--country", "GT")
    assert nothing_yet.returncode == ExitCode.NO_OUTCOME, nothing_yet.stderr
    assert "no such outcome" in nothing_yet.stderr

    async with hub(demo, server):
        gt = await login(demo, server, "GT")
        try:
            said = await kept(EnlaceClient(gt), message_id)
        finally:
            await gt.close()
    assert said.status is OutcomeStatus.ACCEPTED
    async with hub(demo, server):
        pass  # another restart: the outcome stays
    done = await run_cli(demo, server, "outcome", message_id, "--country", "GT", "--json")
    assert done.returncode == ExitCode.OK, done.stderr
    answer = json.loads(done.stdout)
    assert (answer["status"], answer["outcome"]) == ("accepted", said.to_dict())
    assert [r["country"] for r in answer["outcome"]["recipients"]] == ["US"]
    text = await run_cli(demo, server, "outcome", message_id, "--country", "GT")
    assert text.stdout.startswith(f"accepted {message_id} → US (full)")


async def test_the_client_collects_what_it_did_not_wait_for_and_no_other_country_can(
    demo: Deployment, server: NatsServer
) -> None:
    [(message_id, raw, jws)] = signed_trace_requests(demo, 1)
    async with hub(demo, server):
        gt = await login(demo, server, "GT")
        try:
            published = await EnlaceClient(gt).publish(raw, jws, wait=False)
        finally:
            await gt.close()  # the publisher is gone before the hub decides
        gt = await login(demo, server, "GT")
        hn = await login(demo, server, "HN")
        try:
            said = await kept(EnlaceClient(gt), message_id)
            with pytest.raises(OutcomeNotPermitted) as refused:
                await EnlaceClient(hn).outcome(message_id, "GT")
            assert await EnlaceClient(hn).outcome(message_id, "HN") is None
        finally:
            await gt.close()
            await hn.close()
    assert (published.outcome, said.message_id, said.accepted) == (None, message_id, True)
    assert (refused.value.code, refused.value.country) == ("outcome_not_permitted", "GT")
    other = await run_cli(demo, server, "outcome", message_id, "--country", "HN", "--json")
    assert other.returncode == ExitCode.NO_OUTCOME
    assert json.loads(other.stdout) == {
        "message_id": message_id,
        "status": "no_such_outcome",
        "outcome": None,
    }


async def test_a_refusal_of_the_same_id_never_hides_the_accepted_outcome(
    demo: Deployment, server: NatsServer
) -> None:
    [(message_id, raw, jws)] = signed_trace_requests(demo, 1)
    [(_, other_raw, other_jws)] = signed_trace_requests(demo, 1)
    subject = "enlace.in.GT.small_arms.firearm_trace_request"
    async with hub(demo, server):
        gt = await login(demo, server, "GT")
        live = Collector()
        await gt.subscribe(outcome_subject("GT", message_id), cb=live.handler)
        client = EnlaceClient(gt)
        try:
            js = gt.jetstream()
            # First a copy with another message's signature under this id: rejected...
            await js.publish(subject, raw, headers={HDR_SIGNATURE: other_jws, HDR_MSG_ID: "x1"})
            await live.wait(1)
            first = await kept(client, message_id)
            # ...then without a signature: rejected again, the newer refusal is kept...
            await js.publish(subject, raw, headers={HDR_MSG_ID: "x2"})
            await live.wait(2)
            second = await client.outcome(message_id, "GT")
            # ...then the message itself: accepted, and that is what stays...
            await js.publish(subject, raw, headers={HDR_SIGNATURE: jws, HDR_MSG_ID: "x3"})
            await live.wait(3)
            # ...through a replay of the same id (past JetStream's window: the hub's record)
            await js.publish(subject, raw, headers={HDR_SIGNATURE: jws, HDR_MSG_ID: "x4"})
            await live.wait(4)
            last = await client.outcome(message_id, "GT")
        finally:
            await gt.close()
    assert other_raw != raw
    told = [Outcome.from_json(m.data) for m in live.msgs]
    assert [(o.status.value, o.reason) for o in told] == [
        ("rejected", "bad_signature"),
        ("rejected", "malformed_signature"),
        ("accepted", ""),
        ("rejected", "duplicate"),  # the waiting publisher hears it all the same
    ]
    assert (first.status, first.reason) == (OutcomeStatus.REJECTED, "bad_signature")
    assert second == told[1]
    assert last == told[2]


async def test_a_publisher_that_missed_the_live_outcome_finds_the_kept_one(
    demo: Deployment, server: NatsServer
) -> None:
    """Its connection was away when the outcome went out (a reconnect): the wait looks
    among the kept outcomes too, instead of timing out."""
    [(message_id, raw, jws)] = signed_trace_requests(demo, 1)
    async with hub(demo, server):
        gt = await login(demo, server, "GT")
        try:
            client = EnlaceClient(gt)
            await client.publish(raw, jws, wait=False)
            await kept(client, message_id)
            never: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
            found = await client._wait(never, message_id, "GT", 1.0)
            missing = await client._wait(never, new_message_id(), "GT", 0.2)
        finally:
            await gt.close()
    assert found is not None and found.message_id == message_id
    assert missing is None  # publish raises OutcomeTimeout then
    assert OutcomeTimeout.code == "outcome_timeout"


async def test_an_outcome_older_than_its_max_age_is_gone(
    demo: Deployment, server: NatsServer
) -> None:
    [(message_id, raw, jws)] = signed_trace_requests(demo, 1)
    async with hub(demo, server, outcome_max_age="1s"):
        gt = await login(demo, server, "GT")
        try:
            client = EnlaceClient(gt)
            said = (await client.publish(raw, jws)).outcome
            gone = None
            for _ in range(100):  # the server removes it within about a second
                gone = await client.outcome(message_id, "GT")
                if gone is None:
                    break
                await asyncio.sleep(0.1)
        finally:
            await gt.close()
    assert said is not None and said.accepted
    assert gone is None
    async with hub(demo, server):  # the default age again, for whatever runs next
        pass


async def test_the_ledger_is_read_with_the_senders_login_only(
    demo: Deployment, server: NatsServer
) -> None:
    [(message_id, raw, jws)] = signed_trace_requests(demo, 1)
    async with hub(demo, server):  # no sink runs here: US has not receipted it
        gt = await login(demo, server, "GT")
        hn = await login(demo, server, "HN")
        try:
            await EnlaceClient(gt).publish(raw, jws)
            ledger = await EnlaceClient(gt).ledger(message_id, "GT")
            with pytest.raises(OutcomeNotPermitted):
                await EnlaceClient(hn).ledger(message_id, "GT")
        finally:
            await gt.close()
            await hn.close()
        shown = await run_cli(demo, server, "ledger", message_id, "--country", "GT", "--json")
        waited = await run_cli(
            demo, server, "ledger", message_id, "--country", "GT", "--wait", "0.6"
        )
        other = await run_cli(demo, server, "ledger", message_id, "--country", "HN")
    assert ledger is not None
    assert [(r.country, r.state, r.view) for r in ledger.rows()] == [
        ("US", "awaiting_receipt", "full")
    ]
    assert shown.returncode == ExitCode.TIMEOUT, shown.stderr  # a party has not receipted
    parties = json.loads(shown.stdout)["parties"]
    assert [(p["country"], p["state"]) for p in parties] == [("US", "awaiting_receipt")]
    assert waited.returncode == ExitCode.TIMEOUT
    assert "US  awaiting_receipt  view full" in waited.stdout
    assert other.returncode == ExitCode.NO_OUTCOME
