"""``enlace up --cluster 3``: the demo on three local nodes, R3 streams, ``enlace status``;
``enlace reload`` gives every node a new party's login and a new sink's permissions.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from datetime import UTC, datetime

import nats
import nats.errors
import pytest

from hub.cli.exit_codes import ExitCode
from hub.server.logins import ensure_credentials, load_user
from hub.server.process import free_port, terminate
from schemas.common import new_message_id
from tests.integration.upkit import (
    WAIT,
    Running,
    add_sink,
    agree,
    applied,
    demo_with_hn_sink,
    join_party,
    own_subjects_only,
    start_up,
    wait_for,
)

NODES = {"enlace-n1", "enlace-n2", "enlace-n3"}
NEW = "MX"


def _three_free_ports() -> int:
    """A port p with p + 1 and p + 2 free as well (the nodes' client ports)."""
    while True:
        port = free_port()
        if port + 2 > 65535:
            continue
        try:
            for p in (port + 1, port + 2):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", p))
        except OSError:
            continue
        return port


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    dep, env = demo_with_hn_sink(tmp_path_factory.mktemp("upcluster"))
    env["ENLACE_NATS_PORT"] = str(_three_free_ports())
    running = start_up(dep, env, "--cluster", "3", "--no-console")
    try:
        yield running
    finally:
        terminate(running.process, WAIT)


def test_it_runs_on_three_nodes_with_r3_streams(up: Running) -> None:
    port = int(up.env["ENLACE_NATS_PORT"])
    ready = (up.dep.home / "up.out").read_text()
    assert ",".join(f"nats://127.0.0.1:{port + i}" for i in range(3)) in ready

    def status() -> dict[str, object]:
        result = up.enlace("status", "--json")  # node 1's URL, as settings say
        assert result.returncode == 0, result.stderr
        report: dict[str, object] = json.loads(result.stdout)
        return report

    def all_current() -> bool:
        streams = status()["streams"]
        assert isinstance(streams, list)
        return all(
            s["state"] == "ok"
            and s["replicas"]["count"] == 3
            and s["replicas"]["leader"] in NODES
            and {p["name"] for p in s["replicas"]["peers"]} == NODES - {s["replicas"]["leader"]}
            and all(p["current"] for p in s["replicas"]["peers"])
            for s in streams
        )

    wait_for(all_current, "R3 streams with a leader and two current replicas")
    human = up.enlace("status")
    assert "R3 leader enlace-n" in human.stdout


def test_a_message_goes_through_the_cluster(up: Running) -> None:
    message = json.loads((up.dep.samples_dir / "gang_movement.json").read_text())
    message["id"] = new_message_id()
    message["issued_at"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    path = up.dep.home / f"{message['id']}.json"
    path.write_text(json.dumps(message))
    result = up.enlace("publish", str(path), "--poc", "gt-gangs", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["status"] == "accepted"


def test_it_refuses_a_cluster_beside_a_server_url(up: Running) -> None:
    result = up.enlace("up", "--cluster", "3", "--nats-url", "nats://127.0.0.1:1")
    assert result.returncode == ExitCode.USAGE
    assert "--cluster runs its own nodes" in result.stderr


async def test_a_reload_gives_every_node_the_new_party_and_its_sink(up: Running) -> None:
    folder = up.dep.nats_dir / "cluster-local"
    logs = sorted(folder.glob("node-*.log"))
    offsets = [p.stat().st_size for p in logs]
    join_party(up.dep, NEW)
    agree(up.dep, NEW, "HN")
    add_sink(up.dep, NEW)
    # MX's login made ahead (the reload keeps it): the nodes refuse it until the reload.
    ensure_credentials(up.dep, (NEW,))
    port = int(up.env["ENLACE_NATS_PORT"])
    with pytest.raises((nats.errors.Error, OSError)):
        await nats.connect(
            f"nats://127.0.0.1:{port + 2}",
            allow_reconnect=False,
            **load_user(up.dep, NEW).connect_options(),
        )

    up.reload()

    wait_for(lambda: applied(up, NEW), "the reload applied to NATS")
    users = folder / "users.conf"
    assert f"# {NEW}" in users.read_text()
    assert users.stat().st_mode & 0o777 == 0o600
    for path, offset in zip(logs, offsets, strict=True):
        assert "Reloaded server configuration" in path.read_text()[offset:], path
    reloaded = up.events("nats_config_reloaded")[-1]
    assert reloaded["new_logins"] == [NEW]
    assert f"{NEW}/folder" in str(reloaded["sinks"])
    assert not up.events("nats_access_needed")  # the nodes are ours: nothing left to add
    assert up.events("reload_applied")[-1]["adapters_started"] == [f"{NEW}/folder"]
    for i in range(3):  # each node alone: its own ingress stream, GT's subject refused
        url = f"nats://127.0.0.1:{port + i}"
        assert await own_subjects_only(up, NEW, url) == f"INGRESS_{NEW}", url
    # The new sink's adapter logs in with its consumer's permissions and stays up.
    log_file = up.dep.state_dir / "logs" / f"adapter-{NEW}-folder.log"
    wait_for(lambda: log_file.is_file() and "consuming" in log_file.read_text(), "MX's sink")
    assert not [e for e in up.events("adapter_exited") if e["country"] == NEW]


def test_its_nodes_stop_with_it(up: Running) -> None:
    # Last in this module: it stops the fixture's `enlace up`.
    terminate(up.process, WAIT)
    assert up.process.returncode == 0, up.err.read_text()[-2000:]
    logs = sorted((up.dep.nats_dir / "cluster-local").glob("node-*.log"))
    assert len(logs) == 3
    wait_for(lambda: all("Server Exiting" in p.read_text() for p in logs), "the nodes to stop")
