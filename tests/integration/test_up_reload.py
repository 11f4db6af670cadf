"""``enlace reload`` while ``enlace up`` runs: a party and a sink added are usable at once.

The demo deployment runs with one sink (HN). Mexico then joins: its commission key in
the trust root, a new directory version signed by all ten parties (every commission key
is on this machine in the demo), an agreement with HN for its gang reports and a folder
sink for it in ``enlace.yaml``. After ``enlace reload`` it has a login on the embedded
server with its own permissions, its dead-letter stream and its sink adapter, and its
reports reach HN, without a restart. A refused reload changes
nothing, not even the server config file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import nats
import pytest

from hub.admin.init import init_demo
from hub.deployment import Deployment
from hub.server.logins import public_keys_path, seed_path
from hub.server.process import NatsServer, terminate
from schemas.common import new_message_id
from schemas.govdoc import rfc3339
from tests.integration.demokit import up_command, wait_ready
from tests.integration.upkit import (
    WAIT,
    Running,
    add_sink,
    agree,
    applied,
    join_party,
    login,
    own_subjects_only,
    run_demo_with_hn_sink,
    spawn,
    wait_for,
)

pytestmark = pytest.mark.integration

NEW = "MX"


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    yield from run_demo_with_hn_sink(tmp_path_factory)


def test_a_refused_reload_changes_neither_the_server_config_nor_the_logins(
    running: Running,
) -> None:
    config, logins = running.config.read_bytes(), public_keys_path(running.dep).read_bytes()
    good = running.dep.directory.read_bytes()
    running.dep.directory.write_text("version: [unclosed\n", encoding="utf-8")
    try:
        running.reload()
        wait_for(lambda: running.events("governance_refused"), "the refusal")
    finally:
        running.dep.directory.write_bytes(good)
    assert running.config.read_bytes() == config
    assert public_keys_path(running.dep).read_bytes() == logins
    assert not running.events("nats_config_reloaded")


@pytest.fixture(scope="module")
def joined(running: Running) -> Iterator[Running]:
    """Mexico added to the directory and given a sink, then ``enlace reload``."""
    join_party(running.dep, NEW)
    agree(running.dep, NEW, "HN")
    add_sink(running.dep, NEW)
    running.reload()
    wait_for(lambda: applied(running, NEW), "the reload applied to NATS")
    yield running


def test_the_new_party_gets_a_private_login(joined: Running) -> None:
    seed = seed_path(joined.dep, NEW)
    assert seed.is_file()
    assert seed.stat().st_mode & 0o777 == 0o600
    reloaded = joined.events("nats_config_reloaded")[-1]
    assert reloaded["new_logins"] == [NEW]
    assert joined.events("reload_applied")[-1]["streams"] is True
    rendered = joined.config.read_text()
    assert f"# {NEW}" in rendered
    assert seed.read_text().strip() not in rendered
    assert seed.read_text().strip() not in joined.err.read_text()


async def test_the_new_login_publishes_on_its_own_subjects_only(joined: Running) -> None:
    # Its own ingress stream, made on reload; GT's subject is refused.
    assert await own_subjects_only(joined, NEW) == f"INGRESS_{NEW}"


async def test_the_new_party_has_its_dead_letter_stream(joined: Running) -> None:
    # Through its own login: it may look at its own dead-letter stream (and no other).
    nc = await login(joined, NEW, [])
    try:
        info = await nc.jetstream(timeout=5).stream_info(f"DEADLETTER_{NEW}")
    finally:
        await nc.close()
    assert info.config.subjects == [f"enlace.deadletter.{NEW}"]


def test_a_signed_report_of_the_new_party_is_routed_by_its_agreement(joined: Running) -> None:
    sample = json.loads((joined.dep.samples_dir / "gang_movement.json").read_text())
    message = dict(
        sample,
        id=new_message_id(),
        issued_at=rfc3339(datetime.now(UTC)),
        sender={"country": NEW, "agency": "Guardia Nacional", "poc": f"{NEW.lower()}-gangs"},
    )
    message.pop("to", None)
    path = joined.dep.home / "mx-gang-movement.json"
    path.write_text(json.dumps(message), encoding="utf-8")

    # Signed with MX's POC key (kept here) and published with MX's login.
    result = joined.enlace("publish", str(path), "--poc", f"{NEW.lower()}-gangs", "--json")

    assert result.returncode == 0, (result.stdout, result.stderr)
    published = json.loads(result.stdout)
    assert published["status"] == "accepted", published
    assert [r["country"] for r in published["outcome"]["recipients"]] == ["HN"]
    delivered = joined.dep.home / "inbox" / "HN" / f"{message['id']}.json"
    wait_for(delivered.exists, f"{delivered}")


def test_the_new_sink_runs_with_its_consumer(joined: Running) -> None:
    started = joined.events("adapter_started")
    assert any(e["country"] == NEW and e["sink"] == "folder" for e in started)
    assert joined.events("reload_applied")[-1]["adapters_started"] == [f"{NEW}/folder"]

    def consumers() -> set[str]:
        status = joined.enlace("status", "--json")
        assert status.returncode == 0, status.stderr
        streams = {s["stream"]: s for s in json.loads(status.stdout)["streams"]}
        return {c["consumer"] for c in streams["DELIVERY"]["consumers"]}

    wait_for(lambda: f"sink-{NEW}-folder" in consumers(), "MX's sink consumer")
    assert not [e for e in joined.events("adapter_exited") if e["country"] == NEW]


async def test_on_a_server_of_its_own_the_operator_is_told_what_to_add(
    tmp_path: Path, server: NatsServer
) -> None:
    dep = Deployment(tmp_path / "dep")
    init_demo(dep)
    out, err = tmp_path / "up.out", tmp_path / "up.err"
    env = dict(os.environ)
    process = spawn(up_command(dep, server.url), env, out, err)
    up = Running(dep, env, process, err)
    try:
        await wait_ready(process, out)
        join_party(dep, NEW)
        up.reload()
        wait_for(lambda: applied(up, NEW), "the reload applied to NATS")
        needed = up.events("nats_access_needed")[-1]
        nc = await nats.connect(server.url)
        try:
            await nc.jetstream(timeout=5).stream_info(f"DEADLETTER_{NEW}")
        finally:
            await nc.close()
    finally:
        terminate(process, WAIT)
    assert needed["login"] == NEW
    public_key = json.loads(public_keys_path(dep).read_text())[NEW]
    assert needed["public_key"] == public_key
    assert f"enlace.in.{NEW}.>" in json.dumps(needed["permissions"])
    # The server is not ours: nothing was written for it, and no seed went to the log.
    assert not up.events("nats_config_reloaded")
    assert not (dep.nats_dir / "nats-server.conf").exists()
    assert seed_path(dep, NEW).read_text().strip() not in err.read_text()
