"""A message over the server's ``max_payload`` gets a notice and an audit entry.

A real ``enlace up`` of the demo (``upkit``): a client that skips nats-py's own size check
publishes, as GT's login, a message larger than the server takes. The server closes the
connection and the message never reaches JetStream; ``enlace up``, hearing the server's
disconnect event as the ``system`` login, audits the refusal and tells GT on
``enlace.rejected.GT``, and nobody else. The same event of a login that is no country's
is only logged. A server given by URL without the system account is said once, and the
hub runs on.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import nats
import nats.errors
import pytest
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg

from hub.audit import AuditEntry, EntryKind
from hub.deployment import Deployment
from hub.errors import ServerEventsUnheard
from hub.pipeline.oversize import OversizeWatcher
from hub.server.logins import HUB_USER, OPERATOR_USER, SYSTEM_USER, authorization_block, load_user
from hub.server.process import terminate
from tests.integration.conftest import start_nats_server
from tests.integration.demokit import ENLACE, TRACE_SUBJECT, up_command, wait_ready
from tests.integration.hubkit import stream_msgs
from tests.integration.receiptkit import audit_entries, wait_for_entries
from tests.integration.upkit import WAIT, Running, login, run_demo_with_hn_sink, spawn, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    yield from run_demo_with_hn_sink(tmp_path_factory)


async def _too_large(up: Running, name: str) -> int:
    """Publish, as login ``name``, one message over the server's ``max_payload`` with nats-py's
    own check bypassed (a foreign client); returns the limit. The server closes the
    connection."""
    nc = await nats.connect(
        up.url,
        allow_reconnect=False,
        max_reconnect_attempts=0,
        error_cb=_ignore,
        **load_user(up.dep, name).connect_options(),
    )
    limit = nc.max_payload
    nc._max_payload = 10 * limit  # what a client without the check sends
    try:
        await nc.publish(TRACE_SUBJECT, b"x" * (limit + 1))
        await nc.flush(timeout=5)
    except (nats.errors.Error, OSError, TimeoutError):
        pass  # the server has closed the connection: what the publisher sees
    finally:
        await nc.close()
    return limit


async def _ignore(_: Exception) -> None:
    """The closed connection is what the test expects; nats-py need not print it."""


@asynccontextmanager
async def _notices(up: Running, cc: str) -> AsyncIterator[list[Msg]]:
    """What ``cc``'s own login hears on ``enlace.rejected.<cc>`` meanwhile."""
    got: list[Msg] = []

    async def keep(msg: Msg) -> None:
        got.append(msg)

    nc = await login(up, cc, [])
    await nc.subscribe(f"enlace.rejected.{cc}", cb=keep)
    await nc.flush()
    try:
        yield got
    finally:
        await nc.close()


@asynccontextmanager
async def _as(up: Running, name: str) -> AsyncIterator[NatsClient]:
    """A connection with login ``name``: the operator reads the audit log, the hub the
    REJECTED stream."""
    nc = await login(up, name, [])
    try:
        yield nc
    finally:
        await nc.close()


def _server_refusals(entries: list[AuditEntry]) -> list[AuditEntry]:
    return [e for e in entries if e.kind is EntryKind.REJECTED and e.digest is None]


async def _one_more(op: NatsClient, before: int) -> list[AuditEntry]:
    """The audit log once it holds one more refusal by the server than ``before``."""
    return await wait_for_entries(
        op.jetstream(), lambda entries: len(_server_refusals(entries)) > before, WAIT
    )


async def _wait(condition: Callable[[], object], what: str) -> None:
    deadline = asyncio.get_running_loop().time() + WAIT
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"waited {WAIT} s for {what}")
        await asyncio.sleep(0.05)


async def test_gt_is_told_and_the_refusal_is_audited_and_nobody_else_hears(
    running: Running,
) -> None:
    async with (
        _as(running, OPERATOR_USER) as op,
        _notices(running, "GT") as to_gt,
        _notices(running, "HN") as to_hn,
    ):
        before = len(_server_refusals(await audit_entries(op.jetstream())))
        limit = await _too_large(running, "GT")
        await _wait(lambda: to_gt, "GT's notice")
        entries = _server_refusals(await _one_more(op, before))
        await asyncio.sleep(0.5)  # a notice to HN, were there one, would be in by now
    async with _as(running, HUB_USER) as hub:
        kept = await stream_msgs(hub.jetstream(), "REJECTED", "enlace.rejected.GT")

    notice = json.loads(to_gt[0].data)
    assert (notice["status"], notice["reason"], notice["message_id"]) == (
        "rejected",
        "too_large",
        "",
    )
    assert f"over its limit of {limit} bytes" in notice["description"]
    assert "closed the connection" in notice["description"]
    assert to_hn == []
    # The sender's REJECTED stream keeps it, as it keeps the hub's own notices.
    assert json.loads(kept[-1].data) == notice
    entry = entries[-1]
    assert (entry.kind, entry.reason, entry.country) == (EntryKind.REJECTED, "too_large", "GT")
    assert entry.message_id is None and entry.size is None
    assert entry.detail is not None and f"max_payload {limit} bytes" in entry.detail
    said = running.events("oversize_refused_by_server")
    assert {"country": "GT", "login": "GT", "max_payload": limit}.items() <= said[-1].items()


async def test_audit_tail_shows_the_servers_refusal_for_the_country(running: Running) -> None:
    async with _as(running, OPERATOR_USER) as op:
        before = len(_server_refusals(await audit_entries(op.jetstream())))
        limit = await _too_large(running, "GT")
        await _one_more(op, before)
    command = [ENLACE, "--home", str(running.dep.home), "audit", "tail", "--country", "GT"]
    wide = {**running.env, "COLUMNS": "250"}  # one line per entry, as on a wide terminal
    shown = await asyncio.to_thread(
        subprocess.run, command, env=wide, capture_output=True, text=True, timeout=WAIT
    )
    assert shown.returncode == 0, shown.stderr
    line = shown.stdout.splitlines()[-1]
    assert "rejected" in line
    assert (
        f"from GT: too_large (refused by the NATS server (enlace): over max_payload {limit} "
        "bytes; connection closed)"
    ) in line


async def test_a_login_that_is_no_country_s_is_only_logged(running: Running) -> None:
    async with _as(running, OPERATOR_USER) as op, _notices(running, "GT") as to_gt:
        before = await audit_entries(op.jetstream())
        await _too_large(running, OPERATOR_USER)
        await _wait(
            lambda: any(e.get("login") == OPERATOR_USER for e in _said(running)), "the log line"
        )
        await asyncio.sleep(0.5)  # an entry or notice, were there one, would be in by now
        after = await audit_entries(op.jetstream())
    assert _server_refusals(after) == _server_refusals(before)
    assert to_gt == []
    said = [e for e in _said(running) if e.get("login") == OPERATOR_USER]
    assert said[-1]["country"] is None


def _said(up: Running) -> list[dict[str, object]]:
    return up.events("oversize_refused_by_server")


async def test_the_system_login_cannot_publish_or_read_jetstream(running: Running) -> None:
    errors: list[str] = []
    nc = await login(running, SYSTEM_USER, errors)
    try:
        with pytest.raises((nats.errors.Error, TimeoutError)):
            await nc.jetstream(timeout=2).account_info()
        await nc.publish("enlace.in.GT.small_arms.firearm_trace_request", b"{}")
        await nc.subscribe("enlace.>")
        await nc.flush()
        await asyncio.sleep(0.2)
    finally:
        await nc.close()
    text = " ".join(errors)
    assert 'permissions violation for publish to "$js.api.info"' in text
    assert 'permissions violation for publish to "enlace.in.gt.' in text
    assert 'permissions violation for subscription to "enlace.>"' in text


def test_a_rotated_system_login_still_hears_the_server(running: Running) -> None:
    result = running.enlace("nats", "rotate", SYSTEM_USER, "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["applied"] is True
    wait_for(
        lambda: any(
            e.get("logins_rotated") == [SYSTEM_USER] for e in running.events("reload_applied")
        ),
        "the rotation applied",
    )

    async def refused_after_rotation() -> list[Msg]:
        async with _notices(running, "GT") as to_gt:
            await _too_large(running, "GT")
            await _wait(lambda: to_gt, "GT's notice after the rotation")
            return to_gt

    got = asyncio.run(refused_after_rotation())
    assert json.loads(got[0].data)["reason"] == "too_large"


async def test_a_server_without_the_system_account_is_said_once_and_the_hub_runs(
    demo: Deployment, tmp_path: Path
) -> None:
    # The block of a server set up before the system login: no SYS account.
    block = authorization_block(demo).split("\n# The system account", 1)[0]
    assert "system_account" not in block
    server = start_nats_server(tmp_path / "nats", authorization=block)
    out, err = tmp_path / "up.out", tmp_path / "up.err"
    env = {k: v for k, v in os.environ.items() if k != "ENLACE_NATS_PORT"}
    proc = spawn(up_command(demo, server.url), env, out, err)
    try:
        await wait_ready(proc, out)
        said = [
            json.loads(ln) for ln in err.read_text().splitlines() if "oversize_not_recorded" in ln
        ]
    finally:
        terminate(proc, WAIT)
        server.stop()
    assert len(said) == 1
    assert "enlace nats authorization" in said[0]["hint"]
    assert proc.returncode == 0


async def _start_watcher(dep: Deployment, url: str) -> None:
    watcher = OversizeWatcher(
        url,
        lambda: load_user(dep, SYSTEM_USER),
        audit=_Nowhere(),
        publish=_nowhere,
        logins=lambda: {},
        max_message_bytes=1024 * 1024,
        check_seconds=1.0,
    )
    await watcher.start()
    await watcher.stop()


class _Nowhere:
    async def append(self, entries: Sequence[AuditEntry]) -> list[int]:
        raise AssertionError("nothing is recorded in these tests")


async def _nowhere(subject: str, payload: bytes, *, headers: dict[str, str]) -> object:
    raise AssertionError("nothing is published in these tests")


@pytest.mark.parametrize("where", ["the global account", "an open server"])
async def test_a_system_login_the_server_sends_no_events_is_found_out(
    demo: Deployment, tmp_path: Path, where: str
) -> None:
    """Let in, but not as the user of the server's system account: it would hear nothing."""
    block = ""
    if where == "the global account":
        users = authorization_block(demo).split("\n# The system account", 1)[0]
        key = load_user(demo, SYSTEM_USER).public_key
        block = users.replace("  users = [\n", f'  users = [\n    {{"nkey": "{key}"}}\n', 1)
    server = start_nats_server(tmp_path / "nats", authorization=block)
    try:
        with pytest.raises(ServerEventsUnheard, match="enlace nats authorization") as unheard:
            await _start_watcher(demo, server.url)
    finally:
        server.stop()
    assert unheard.value.url == server.url


async def test_the_rendered_system_account_passes_the_watchers_check(
    demo: Deployment, tmp_path: Path
) -> None:
    server = start_nats_server(tmp_path / "nats", authorization=authorization_block(demo))
    try:
        await _start_watcher(demo, server.url)  # no error: it heard its own check
    finally:
        server.stop()
