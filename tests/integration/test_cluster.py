"""A real 3-node cluster from the configs of ``enlace cluster init --local``.

Three ``nats-server`` processes on loopback ports: they form one cluster over routes that
speak TLS with the deployment CA and give the route login; a node that lacks either is
refused; clients must speak TLS and trust the deployment CA; streams made with
``hub.streams.replicas: 3`` get a leader and two current replicas.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import ssl
import time
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import nats
import nats.errors
import nats.js.errors
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext

from hub.admin.init import init_deployment
from hub.audit import AuditReader, AuditWriter, CheckpointSigner, parse_entry, verify_log
from hub.audit.streams import AUDIT_STREAM
from hub.cli.status import collect_status
from hub.config import HubSettings, StreamSettings
from hub.deployment import Deployment
from hub.errors import NatsServerError
from hub.jetstream.streams import ensure_audit_streams, ensure_streams
from hub.server.cluster import ClusterLayout, ClusterNode, local_layout, node_config
from hub.server.local_cluster import LocalCluster
from hub.server.logins import HUB_USER, authorization_block, load_user
from hub.server.process import NatsServer, free_port, terminate
from hub.server.tls import init_tls, issue_node_cert
from hub.up.server import probe
from schemas.limits import wire_limit
from schemas.tls import client_context
from tests.integration.auditkit import received_entry
from tests.integration.conftest import plain_text_answer
from tests.integration.upkit import WAIT, start_up

MAX_PAYLOAD = wire_limit(1024 * 1024)
NAMES = {"enlace-n1", "enlace-n2", "enlace-n3"}


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Deployment:
    dep = Deployment(tmp_path_factory.mktemp("cluster") / "home")
    init_deployment(dep, ["GT"])
    return dep


@contextmanager
def _running_cluster(deployment: Deployment) -> Iterator[LocalCluster]:
    """Three nodes of ``deployment``'s cluster, started, their JetStream up; then stopped."""
    layout = local_layout(deployment.nats_dir.resolve() / "cluster", 3)
    nodes, _ = LocalCluster.prepare(
        deployment, layout, authorization_block(deployment), MAX_PAYLOAD
    )
    nodes.start()
    try:
        asyncio.run(nodes.jetstream_ready(dict(load_user(deployment, HUB_USER).connect_options())))
        yield nodes
    finally:
        nodes.stop()


@pytest.fixture(scope="module")
def cluster(deployment: Deployment) -> Iterator[LocalCluster]:
    with _running_cluster(deployment) as nodes:
        yield nodes


def _routes(node: ClusterNode) -> set[str]:
    """The server names node ``node`` has routes to (its monitoring port)."""
    data = httpx.get(f"http://127.0.0.1:{node.http_port}/routez", timeout=5).json()
    return {r["remote_name"] for r in data.get("routes") or []}


def _wait_for(check: Any, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


async def _quiet(_: Exception) -> None:
    pass


async def _connect(url: str, **options: Any) -> NatsClient:
    return await nats.connect(
        servers=url.split(","),
        connect_timeout=3,
        allow_reconnect=False,
        max_reconnect_attempts=1,
        error_cb=_quiet,
        **options,
    )


@pytest.fixture
async def hub_js(deployment: Deployment, cluster: LocalCluster) -> AsyncIterator[JetStreamContext]:
    nc = await nats.connect(
        servers=cluster.url.split(","),
        connect_timeout=3,
        error_cb=_quiet,
        **load_user(deployment, HUB_USER).connect_options(),
    )
    yield nc.jetstream(timeout=5)
    await nc.close()


def test_the_nodes_form_one_cluster(cluster: LocalCluster) -> None:
    for node in cluster.layout.nodes:
        _wait_for(lambda n=node: _routes(n) == NAMES - {n.server_name})


def _rogue(
    deployment: Deployment, cluster: LocalCluster, root: Path, password: str, issuer: Deployment
) -> NatsServer:
    """A fourth server with ``deployment``'s logins that dials node 1's route port with
    ``password``, its certificate issued by ``issuer``'s CA."""
    root.mkdir()
    tls = root / "tls"
    issue_node_cert(issuer, ("127.0.0.1",), tls / "node.pem", tls / "node-key.pem")
    (tls / "ca.pem").write_bytes((issuer.tls_dir / "ca.pem").read_bytes())
    (root / "users.conf").write_text(authorization_block(deployment))
    me = ClusterNode(4, "127.0.0.1", "127.0.0.1", free_port(), free_port(), root / "js")
    layout = ClusterLayout(root, (me, cluster.layout.nodes[0]))
    server = NatsServer(node_config(layout, me, password, MAX_PAYLOAD), root / "node-4.conf")
    server.start()
    return server


def _refused_route(cluster: LocalCluster, rogue: NatsServer, says: tuple[str, ...]) -> None:
    """The cluster keeps the rogue out, and the rogue's log says why."""
    try:
        _wait_for(lambda: any(s in rogue.log_path.read_text() for s in says))
        time.sleep(1.0)  # a route that got in would be listed by now
        for node in cluster.layout.nodes:
            assert "enlace-n4" not in _routes(node)
    finally:
        rogue.stop()


def test_a_route_without_the_route_login_is_refused(
    deployment: Deployment, cluster: LocalCluster, tmp_path: Path
) -> None:
    # A certificate of the deployment CA is not enough: the password is wrong.
    rogue = _rogue(deployment, cluster, tmp_path / "rogue", "not-the-route-password", deployment)
    _refused_route(cluster, rogue, ("Route Error 'Authorization Violation'",))


def test_a_route_with_a_certificate_of_another_ca_is_refused(
    deployment: Deployment, cluster: LocalCluster, tmp_path: Path
) -> None:
    other = Deployment(tmp_path / "other")
    init_tls(other, ("127.0.0.1",), "other")
    password = (cluster.layout.folder / "route.secret").read_text()
    rogue = _rogue(deployment, cluster, tmp_path / "rogue", password, other)
    _refused_route(cluster, rogue, ("certificate signed by unknown authority",))


async def test_a_client_that_does_not_trust_the_deployment_ca_is_refused(
    deployment: Deployment, cluster: LocalCluster, tmp_path: Path
) -> None:
    options = load_user(deployment, HUB_USER).connect_options()
    other_ca = init_tls(Deployment(tmp_path), ("127.0.0.1",), "other").files.ca_cert
    for node in cluster.layout.nodes:
        for untrusting in (client_context(other_ca), ssl.create_default_context()):
            with pytest.raises(ssl.SSLCertVerificationError):
                await _connect(node.url, **{**options, "tls": untrusting})
    nc = await _connect(cluster.url, **options)  # the deployment's own CA: let in
    await nc.flush()
    await nc.close()


def test_a_plain_text_client_is_refused(cluster: LocalCluster) -> None:
    for node in cluster.layout.nodes:
        info, answer = plain_text_answer("127.0.0.1", node.client_port)
        assert info["tls_required"] is True
        assert b"PONG" not in answer  # nothing taken in clear; the node hangs up


def test_a_users_block_the_nodes_refuse_is_taken_back(cluster: LocalCluster) -> None:
    users = cluster.layout.folder / "users.conf"
    before = users.read_bytes()
    with pytest.raises(NatsServerError, match="refused the new config"):
        cluster.reload("authorization {\n  users: [ { nkey: \n")
    assert users.read_bytes() == before
    offsets = [s.log_path.stat().st_size for s in cluster.servers]
    assert not cluster.reload(before.decode())  # the same block: no node is signalled
    assert [s.log_path.stat().st_size for s in cluster.servers] == offsets
    assert all(s.exited() is None for s in cluster.servers)


async def test_streams_get_three_replicas_each_with_a_leader_and_two_current_replicas(
    deployment: Deployment, cluster: LocalCluster, hub_js: JetStreamContext
) -> None:
    settings = HubSettings(nats_url=cluster.url, streams=StreamSettings(replicas=3))
    deadline = time.monotonic() + 20
    while True:  # the cluster's JetStream elects its meta leader after the routes are up
        try:
            names = await ensure_streams(hub_js, settings, ["GT"])
            break
        except (nats.errors.Error, nats.js.errors.Error):
            assert time.monotonic() < deadline
            await asyncio.sleep(0.5)
    await ensure_audit_streams(hub_js, settings)
    for name in [*names, "AUDIT", "AUDIT_CHECKPOINTS"]:
        info = await hub_js.stream_info(name)
        assert info.config.num_replicas == 3, name
    report: dict[str, Any] = {}
    for _ in range(40):  # replicas catch up within moments of a stream's creation
        report = await collect_status(deployment, settings)
        replicated = [s["replicas"] for s in report["streams"] if s["state"] == "ok"]
        if all(r and all(p["current"] for p in r["peers"]) for r in replicated):
            break
        await asyncio.sleep(0.5)
    listed = {s["stream"]: s for s in report["streams"]}
    for name in ["DELIVERY", "INGRESS_GT", "AUDIT_CHECKPOINTS"]:
        replicas = listed[name]["replicas"]
        assert replicas["count"] == 3
        assert replicas["leader"] in NAMES
        peers = {p["name"] for p in replicas["peers"]}
        assert peers == NAMES - {replicas["leader"]}
        assert all(p["current"] for p in replicas["peers"]), replicas


async def test_status_shows_a_dead_node_as_not_current_until_it_is_back(
    deployment: Deployment, cluster: LocalCluster, hub_js: JetStreamContext
) -> None:
    settings = HubSettings(nats_url=cluster.url, streams=StreamSettings(replicas=3))
    await ensure_streams(hub_js, settings, ["GT"])

    async def delivery() -> dict[str, Any]:
        try:
            report = await collect_status(deployment, settings)
        except (nats.errors.TimeoutError, nats.js.errors.ServiceUnavailableError):
            # The stream list: while the cluster elects its meta leader.
            return {"leader": None, "peers": []}
        found: dict[str, Any] = next(s for s in report["streams"] if s["stream"] == "DELIVERY")
        # While it elects a leader, the stream does not answer: shown "unavailable".
        return found.get("replicas") or {"leader": None, "peers": []}

    victim = cluster.servers[2]
    victim.kill()
    try:
        for _ in range(60):
            replicas = await delivery()
            states = {p["name"]: p["current"] for p in replicas["peers"]}
            if replicas["leader"] != "enlace-n3" and states.get("enlace-n3") is False:
                break
            await asyncio.sleep(0.5)
        else:
            pytest.fail(f"enlace-n3 still shown current after its death: {replicas}")
    finally:
        victim.spawn()
        victim.wait_ready()
    for _ in range(60):
        replicas = await delivery()
        if replicas["leader"] and all(p["current"] for p in replicas["peers"]):
            break
        await asyncio.sleep(0.5)
    else:
        pytest.fail(f"enlace-n3 did not catch up: {replicas}")


async def test_the_hubs_probe_goes_past_a_node_that_is_down_or_frozen(
    deployment: Deployment, cluster: LocalCluster
) -> None:
    """``enlace up``'s first check of a cluster's URLs tries each in turn: one refuses the
    connection (down), one takes it and never speaks (frozen: a socket nobody reads), then
    a node that answers lets the hub in. With none that answers it fails, saying why."""
    options = load_user(deployment, HUB_USER).connect_options()
    with socket.create_server(("127.0.0.1", 0)) as silent:
        down, frozen = (
            f"nats://127.0.0.1:{free_port()}",
            f"nats://127.0.0.1:{silent.getsockname()[1]}",
        )
        await probe(f"{down},{frozen},{cluster.layout.nodes[0].url}", options)
        with pytest.raises((OSError, nats.errors.Error, TimeoutError)):
            await probe(f"{down},{frozen}", options)


@pytest.fixture
def own_cluster(tmp_path: Path) -> Iterator[tuple[Deployment, LocalCluster]]:
    """A deployment and a cluster of its own (its log and its nodes are the test's alone)."""
    dep = Deployment(tmp_path / "home")
    init_deployment(dep, ["GT"])
    with _running_cluster(dep) as nodes:
        yield dep, nodes


def test_a_hub_started_while_the_cluster_has_no_majority_waits_and_starts(
    own_cluster: tuple[Deployment, LocalCluster],
) -> None:
    """``enlace up`` on a cluster two of whose three nodes are frozen (SIGSTOP): no stream
    can elect a leader, no JetStream request is answered. The hub does not exit: it asks
    again (``start_retry``, within its 60 s) and is ready once the nodes are back and the
    cluster has elected. (Before, its first such request gave up after 10 s: exit 6.)"""
    deployment, cluster = own_cluster
    env = dict(os.environ, ENLACE_NATS_URL=cluster.url, ENLACE_STREAMS__REPLICAS="3")
    err = deployment.home / "up.err"
    frozen = [pid for server in cluster.servers[1:] if (pid := server.pid) is not None]
    assert len(frozen) == 2
    for pid in frozen:
        os.kill(pid, signal.SIGSTOP)
    try:
        with ThreadPoolExecutor(1) as pool:
            starting = pool.submit(
                start_up, deployment, env, "--no-adapters", "--no-console", adapter_log=None
            )
            # Its first tries go unanswered (or it exits: starting.result() says how).
            _wait_for(
                lambda: starting.done() or (err.is_file() and "start_retry" in err.read_text()),
                45.0,
            )
            for pid in frozen:  # thawed: the cluster elects, the hub's next try is answered
                os.kill(pid, signal.SIGCONT)
            frozen = []
            up = starting.result()  # it exited, or never said ready: AssertionError
    finally:
        for pid in frozen:
            os.kill(pid, signal.SIGCONT)
    try:
        retries = up.events("start_retry")
        assert retries, "the hub never had to ask again: the test froze nothing that mattered"
        assert up.process.poll() is None
        assert up.events("hub_started")
        print(f"\nstart: {len(retries)} request(s) asked again while two nodes were frozen")
    finally:
        terminate(up.process, WAIT)


async def test_two_audit_writers_go_on_through_the_death_of_the_audit_leader(
    deployment: Deployment, cluster: LocalCluster
) -> None:
    """Two hub processes' writers append while the node leading AUDIT is killed: every
    append returns (retried through the election), the log is one linear, verified log."""
    options = load_user(deployment, HUB_USER).connect_options()
    clients = [
        await nats.connect(servers=cluster.url.split(","), error_cb=_quiet, **options)
        for _ in range(2)
    ]
    signer = CheckpointSigner(Ed25519PrivateKey.generate(), "enlace.cluster-test")
    settings = HubSettings(nats_url=cluster.url, streams=StreamSettings(replicas=3))
    try:
        js = [c.jetstream(timeout=5) for c in clients]
        await ensure_audit_streams(js[0], settings)
        writers = [
            await AuditWriter.open(j, signer, signer.name, checkpoint_every=20, replicas=3)
            for j in js
        ]
        leader = (await js[0].stream_info(AUDIT_STREAM)).cluster
        assert leader is not None and leader.leader in NAMES
        victim = cluster.servers[int(leader.leader[-1]) - 1]
        killed = asyncio.Event()

        async def write(w: AuditWriter, base: int) -> list[int]:
            out: list[int] = []
            for i in range(40):
                if base == 0 and i == 10:
                    victim.kill()  # mid-run, while both write
                    killed.set()
                out += await w.append([received_entry(f"m{base + i}", "gangs", "GT")])
                await asyncio.sleep(0.02)
            return out

        started = time.monotonic()
        got = await asyncio.gather(write(writers[0], 0), write(writers[1], 1000))
        took = time.monotonic() - started
        assert killed.is_set()
        for w in writers:
            await w.close()
        indexes = sorted(i for r in got for i in r)
        assert indexes == list(range(80))  # none twice, none skipped
        reader = AuditReader(js[0])
        entries = await reader.read_all()
        report = verify_log(entries, await reader.checkpoints(), [signer.verifier()])
        assert report.ok, report.problem
        assert report.size == 80
        new_leader = (await js[0].stream_info(AUDIT_STREAM)).cluster
        assert new_leader is not None and new_leader.leader != leader.leader
        print(f"\naudit: 80 entries by 2 writers through the AUDIT leader's death in {took:.1f} s")
    finally:
        for c in clients:
            await c.close()
        for server in cluster.servers:
            if server.exited() is not None:
                server.spawn()
                server.wait_ready()


async def test_a_replicated_audit_log_keeps_one_batch_in_flight(
    deployment: Deployment, cluster: LocalCluster
) -> None:
    """With three replicas the writer does not pipeline (hub.audit.inflight says why): a
    writer behind another has its first batch refused and appended again after the other's,
    and its second batch goes after that, never refused."""
    options = load_user(deployment, HUB_USER).connect_options()
    clients = [
        await nats.connect(servers=cluster.url.split(","), error_cb=_quiet, **options)
        for _ in range(2)
    ]
    signer = CheckpointSigner(Ed25519PrivateKey.generate(), "enlace.cluster-inflight")
    settings = HubSettings(nats_url=cluster.url, streams=StreamSettings(replicas=3))
    try:
        js = [c.jetstream(timeout=5) for c in clients]
        await ensure_audit_streams(js[0], settings)
        a, b = [
            await AuditWriter.open(j, signer, signer.name, max_batch=1, replicas=3, depth=2)
            for j in js
        ]
        assert (a.in_flight.depth, b.in_flight.depth) == (1, 1)
        size = b.size
        await b.append([received_entry("other", "gangs", "GT")])  # a is behind now
        first = a.submit([received_entry("one", "gangs", "GT")])
        second = a.submit([received_entry("two", "gangs", "GT")])
        assert (await first, await second) == ([size + 1], [size + 2])
        assert a.in_flight.again == 1
        await a.close()
        await b.close()
        entries = [parse_entry(raw) for raw in await AuditReader(js[0]).read_all()]
        assert [e.index for e in entries] == list(range(len(entries)))  # one linear log
        assert [e.message_id for e in entries[-3:]] == ["other", "one", "two"]
    finally:
        for c in clients:
            await c.close()
