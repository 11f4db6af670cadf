"""``enlace up`` owns its children: they are recorded, die with it, are restarted, and
what a dead one left is stopped by the next one (strangers on a reused pid are not).

Real processes throughout: ``enlace up`` as a subprocess on a demo deployment with HN's
folder sink, its nats-server and adapter, SIGKILL as an operator's ``kill -9`` sends it.
The tests run in order on one deployment: a killed nats-server comes back and the hub
resumes; then ``enlace up`` itself is killed and leaves nothing; then leftovers of a run
without death signals are planted and the next ``enlace up`` stops them, and only them.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import nats
import nats.errors
import pytest

from hub.deployment import Deployment
from hub.server.logins import authorization_block
from hub.server.operator_access import QUIET_CONNECT
from hub.server.process import NatsServer, NatsServerConfig, terminate
from hub.up.pidfiles import ProcessRecord, read_record
from hub.up.sinks import delivery_consumers
from tests.integration.upkit import WAIT, Running, demo_with_hn_sink, start_up, wait_for

pytestmark = pytest.mark.integration

GONE_WITHIN = 20.0  # "within a few seconds": SIGTERM lets the adapter finish a write


@dataclass
class Scene:
    dep: Deployment
    env: dict[str, str]
    up: Running
    others: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def children(self) -> Path:
        return self.dep.state_dir / "children"

    def records(self) -> dict[str, ProcessRecord]:
        found = {p.stem: read_record(p) for p in sorted(self.children.glob("*.json"))}
        return {name: r for name, r in found.items() if r is not None}


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scene]:
    dep, env = demo_with_hn_sink(tmp_path_factory.mktemp("supervisor"))
    here = Scene(dep, env, start_up(dep, env))
    try:
        yield here
    finally:
        terminate(here.up.process, WAIT)
        for proc in here.others:
            terminate(proc, WAIT)


def _kinds(up: Running) -> list[str]:
    tail = up.enlace("audit", "tail", "--json", "-n", "200")
    assert tail.returncode == 0, tail.stderr
    return [json.loads(line)["kind"] for line in tail.stdout.splitlines() if line.startswith("{")]


def test_children_are_recorded_with_their_start_times(scene: Scene) -> None:
    records = scene.records()
    assert set(records) == {"nats-server", "adapter-HN-folder"}
    assert records["nats-server"].role == "nats-server"
    assert any("nats-server" in arg for arg in records["nats-server"].cmdline)
    assert all(r.runs() for r in records.values())
    me = read_record(scene.dep.state_dir / "ups" / f"{scene.up.process.pid}.json")
    assert me is not None and me.pid == scene.up.process.pid


def test_a_killed_nats_server_is_started_again_and_the_hub_resumes(scene: Scene) -> None:
    up = scene.up
    old = scene.records()["nats-server"]
    os.kill(old.pid, signal.SIGKILL)
    wait_for(lambda: up.events("nats_restarted"), "the server's restart")
    new = scene.records()["nats-server"]
    assert new.pid != old.pid and new.runs()
    restarted = up.events("nats_restarted")[-1]
    assert (restarted["code"], restarted["pid"]) == (-9, new.pid)
    # The hub, its audit writer and HN's adapter reconnect: a message published now lands.
    sample = up.dep.home / "samples" / "gang_movement.json"
    message = json.loads(sample.read_text())
    published = up.enlace("publish", str(sample), "--poc", message["sender"]["poc"], "--json")
    assert published.returncode == 0, published.stderr
    delivered = up.dep.home / "inbox" / "HN" / f"{message['id']}.json"
    wait_for(delivered.exists, f"{delivered}")
    wait_for(lambda: "server_restarted" in _kinds(up), "the restart on the audit record")
    verified = up.enlace("audit", "verify", "--json")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert up.process.poll() is None


def test_kill_9_of_enlace_up_leaves_no_child_running(scene: Scene) -> None:
    records = scene.records()
    assert len(records) == 2
    scene.up.process.send_signal(signal.SIGKILL)
    scene.up.process.wait(WAIT)
    deadline = time.monotonic() + GONE_WITHIN
    while any(r.runs() for r in records.values()) and time.monotonic() < deadline:
        time.sleep(0.1)
    alive = {name: r.pid for name, r in records.items() if r.runs()}
    assert alive == {}, f"children of a killed `enlace up` still run: {alive}"
    # The next start needs no manual step: same ports, the pid file of the dead one replaced.
    again = start_up(scene.dep, scene.env)
    scene.up = again
    assert (scene.dep.state_dir / "hub.pid").read_text().strip() == str(again.process.pid)
    assert not again.events("leftover_stopped")  # nothing was left to stop
    assert {n: r.runs() for n, r in scene.records().items()} == {
        "nats-server": True,
        "adapter-HN-folder": True,
    }
    terminate(again.process, WAIT)
    assert again.process.returncode == 0
    assert scene.records() == {}  # a clean stop forgets its children


def _sleeper(scene: Scene) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(["sleep", "300"], start_new_session=True)
    scene.others.append(proc)
    return proc


def _record(proc: subprocess.Popen[bytes], role: str) -> ProcessRecord:
    record = ProcessRecord.of(proc.pid, role)
    assert record is not None
    return record


def test_leftovers_without_death_signal_are_stopped_and_strangers_left_alone(
    scene: Scene, tmp_path: Path
) -> None:
    # A nats-server on the deployment's port, recorded as a previous `enlace up` records
    # its own; not tied to any parent, as one started before death signals existed.
    port = int(scene.env["ENLACE_NATS_PORT"])
    leftover = NatsServer(
        NatsServerConfig(store_dir=tmp_path / "js", port=port), tmp_path / "nats-server.conf"
    )
    leftover.start()
    assert leftover.process is not None
    scene.others.append(leftover.process)
    scene.children.mkdir(parents=True, exist_ok=True)
    _record(leftover.process, "nats-server").write(scene.children / "nats-server.json")
    # Two records whose pids now belong to other programs: another start time, another
    # command line. They must survive the cleanup.
    stranger, other = _sleeper(scene), _sleeper(scene)
    late = _record(stranger, "adapter")
    replace(late, started=late.started + 100).write(scene.children / "adapter-HN-folder.json")
    renamed = _record(other, "adapter")
    replace(renamed, cmdline=("enlace", "adapter", "run")).write(
        scene.children / "adapter-GT-folder.json"
    )
    # And the pid file of the dead `enlace up` that left all this.
    (scene.dep.state_dir / "hub.pid").write_text("999999999\n")

    up = start_up(scene.dep, scene.env)
    scene.up = up
    assert leftover.process.wait(WAIT) is not None
    stopped = up.events("leftover_stopped")
    assert [(e["role"], e["pid"]) for e in stopped] == [("nats-server", leftover.process.pid)]
    assert stranger.poll() is None and other.poll() is None
    assert up.events("stale_pid_file")
    assert (scene.dep.state_dir / "hub.pid").read_text().strip() == str(up.process.pid)
    new = scene.records()["nats-server"]
    assert new.pid != leftover.process.pid and new.runs()


async def test_on_a_server_with_the_deployments_logins_up_by_url_starts(tmp_path: Path) -> None:
    dep, env = demo_with_hn_sink(tmp_path)
    port = int(env["ENLACE_NATS_PORT"])
    block = authorization_block(dep, delivery_consumers([("HN", "folder")]))
    server = NatsServer(
        NatsServerConfig(store_dir=tmp_path / "js", port=port, authorization=block),
        tmp_path / "nats-server.conf",
    )
    server.start()
    try:
        with pytest.raises(nats.errors.Error):  # the server lets no one in anonymously
            await nats.connect(server.url, **QUIET_CONNECT)
        # The start-up probe logs in as the hub; the adapter as HN: both let in.
        up = await asyncio.to_thread(start_up, dep, env, "--nats-url", server.url)
        try:
            assert up.events("ready")
            assert not (dep.state_dir / "children" / "nats-server.json").exists()
        finally:
            terminate(up.process, WAIT)
        assert up.process.returncode == 0, up.err.read_text()
    finally:
        server.stop()


def test_a_server_that_keeps_dying_stops_up_with_a_clear_error(tmp_path: Path) -> None:
    dep, env = demo_with_hn_sink(tmp_path)
    up = start_up(dep, env, "--no-adapters")
    try:
        record = read_record(dep.state_dir / "children" / "nats-server.json")
        assert record is not None
        # Its store made unusable under it (a file where the folder was): every restart
        # fails, and the budget runs out.
        store = dep.nats_dir / "jetstream"
        store.rename(tmp_path / "moved-store")
        store.write_text("not a folder")
        os.kill(record.pid, signal.SIGKILL)
        code = up.process.wait(WAIT * 3)  # a hang guard: five failed restarts, slow under load
    finally:
        terminate(up.process, WAIT)
    assert code == 6, up.err.read_text()
    assert len(up.events("nats_not_restarted")) == 5
    err = up.err.read_text()
    assert "gave up starting it again" in err
    assert not (dep.state_dir / "ups" / f"{up.process.pid}.json").exists()  # a clean stop
