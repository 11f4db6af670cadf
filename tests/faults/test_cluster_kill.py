"""A 3-node cluster with two hub processes and nine sinks: kill -9 of the node leading
DELIVERY and of one hub process mid-stream, then both back; and a SIGSTOP of the node
leading DELIVERY for 20 s. Nothing accepted is lost or delivered twice (at each
recipient's sink and on DELIVERY), every refused message has its reason, the one audit log
verifies.

The nodes are those of ``enlace cluster init 3 --local`` (run by the test, not tied to a
hub); streams are R3 (``streams.replicas: 3``). GT publishes signed gang movements, which
the demo's agreements route to each of the eight other parties: the issue's 3,000 messages
(24,000 deliveries) in each row, in ``make test`` as in ``make faults``; the freeze lasts
20 s.
Hub 1 runs the nine parties' folder sinks (GT's gets nothing from GT), hub 2 no adapters; both
pull from the same ingress consumers and append to the same audit log. Hub 2 is the one
killed: what it held comes back to hub 1 after ack_wait. It is started again once, right
after the node's return, while the cluster elects: it must wait for it, not exit.

Both rows run on one cluster and its two hubs (started once for the module: about half a
minute saved); each counts its own messages only (at the sinks, in the audit log from
where the row began, and on DELIVERY what it added), and ``enlace audit verify`` checks
the whole log after each.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from hub.errors import NatsServerError
from hub.server.cluster import local_layout
from hub.server.local_cluster import LocalCluster
from hub.server.logins import HUB_USER, load_user
from hub.server.operator_access import connect_operator
from hub.up.cluster import deployment_authorization
from schemas.common import PARTIES
from schemas.limits import wire_limit
from tests.faults.harness import SCALE, FaultUp, fault_up, lasting
from tests.faults.scenario import Fault, NotRecovered, run_row
from tests.faults.table import Row
from tests.faults.tally import RECOVER_WITHIN, Verdicts, assert_sound, audit_end, read_verdicts
from tests.integration.demokit import signed_samples
from tests.integration.upkit import WAIT, Running, start_up

pytestmark = [
    pytest.mark.faults,
    pytest.mark.integration,
    # A hang guard, not a time budget: the first row also starts the module's cluster and
    # hubs, and on 2 cores shared with other runs (load 8-12) a row took 9 minutes (before
    # the sinks' ack fix; 1.5 minutes at load 8 since).
    pytest.mark.timeout(900),
]

ACK_WAIT = "10s"  # how soon a dead hub's unacked messages go to the other (default 30 s)
BACK_WITHIN = 30.0
KILL_COUNT, KILL_RATE = round(300 * max(10.0, SCALE)), 37.5
"""The issue's 3,000 messages, in ``make test`` as in ``make faults`` (``make test`` runs
in two processes since 2026-12-07: 14.5 min of CI's 30 with 1,200 and 500 here). Eight
deliveries per message, every write fsynced on three nodes, on 2 cores: a steady rate
(messages/s)."""
STOP_COUNT, STOP_RATE = KILL_COUNT, 30.0
"""The SIGSTOP row: the issue's 3,000 messages at a steady rate (messages/s), so that the
20 s freeze falls amid the traffic, a quarter through."""


@dataclass
class ClusterRun:
    """The module's cluster: its nodes, the deployment (hub 1 with the nine sinks) and
    hub 2 (no adapters; the kill row replaces it)."""

    fault: FaultUp
    nodes: LocalCluster
    hub2: Running

    def start_hub2(self) -> Running:
        """Hub 2 started (again), stopped with the rest."""
        self.hub2 = start_up(
            self.fault.dep, self.fault.env, "--no-adapters", "--no-console", adapter_log=None
        )
        self.fault.earlier.append(self.hub2)
        return self.hub2


@pytest.fixture(scope="module")
def cluster_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterRun]:
    with fault_up(tmp_path_factory.mktemp("cluster"), start=False, sinks=PARTIES) as fault:
        layout = local_layout(fault.dep.nats_dir.resolve() / "cluster-local", 3)
        nodes, _ = LocalCluster.prepare(
            fault.dep, layout, deployment_authorization(fault.dep), wire_limit(1024 * 1024)
        )
        nodes.start()
        try:
            options = dict(load_user(fault.dep, HUB_USER).connect_options())
            asyncio.run(nodes.jetstream_ready(options))
            fault.env.update(
                ENLACE_NATS_URL=nodes.url,
                ENLACE_STREAMS__REPLICAS="3",
                ENLACE_ACK_WAIT=ACK_WAIT,
            )
            fault.start()  # hub 1, with the nine sinks
            run = ClusterRun(fault, nodes, fault.running)
            run.start_hub2()
            yield run
        finally:
            fault.stop()  # the hubs first: without NATS they would wait to drain
            nodes.stop()


@dataclass
class GangRow:
    """A row's figures, its messages' ids and where its entries start in AUDIT."""

    row: Row
    ids: set[str]
    since: int


async def _gang_row(fault: FaultUp, name: str, count: int, spread: float, make: Fault) -> GangRow:
    """A row of ``count`` signed gang movements from GT, each to the eight other parties,
    over ``spread`` seconds, given as much longer to settle as it is larger than 300
    messages."""
    scale = count / 300
    batch = signed_samples(fault.dep, count, "gang_movement", "gt-gangs")
    since = await audit_end(fault) + 1
    row = await run_row(
        fault,
        name,
        count,
        spread,
        make,
        recover_within=RECOVER_WITHIN * scale,
        batch=batch,
        quarter_within=WAIT * scale,
        elsewhere=True,  # GT's system is a program of its own
    )
    return GangRow(row, {mid for mid, _, _ in batch}, since)


async def _delivery_leader(fault: FaultUp) -> str:
    nc = await connect_operator(fault.dep, fault.url, "enlace-fault-leader")
    try:
        cluster = (await nc.jetstream(timeout=5).stream_info("DELIVERY")).cluster
    finally:
        await nc.close()
    assert cluster is not None and cluster.leader is not None, "DELIVERY has no leader"
    return cluster.leader


async def _on_delivery(fault: FaultUp) -> Counter[str]:
    """How many deliveries DELIVERY holds for each counted sink's country (one per message
    routed to it)."""
    nc = await connect_operator(fault.dep, fault.url, "enlace-fault-delivery")
    held: Counter[str] = Counter()
    try:
        for cc in fault.sinks:
            info = await nc.jetstream(timeout=5).stream_info(
                "DELIVERY", subjects_filter=f"enlace.out.{cc}.>"
            )
            held[cc] = sum((info.state.subjects or {}).values())
    finally:
        await nc.close()
    return held


async def _assert_once_each(fault: FaultUp, gang: GangRow, before: Counter[str]) -> None:
    """The row is sound, and the row added each routed delivery once to DELIVERY (per
    recipient) to what it held ``before``."""
    row = gang.row
    assert_sound(row)
    verdicts: Verdicts = await read_verdicts(fault, gang.ids, gang.since)
    due = Counter(cc for cc, _ in verdicts.routed)
    assert len(due) == len(PARTIES) - 1, due  # every party but the sender, GT
    assert due == Counter({cc: row.accepted for cc in PARTIES if cc != "GT"}), due
    added = await _on_delivery(fault)
    added.subtract(before)
    assert +added == due, (added, due)  # none stored twice, none missing (GT's: none)


def _hub_again(run: ClusterRun) -> Running:
    """Hub 2 started again once, right after the node's return (the cluster electing
    leaders for the node's streams): its start waits for the cluster, it does not exit."""
    try:
        return run.start_hub2()
    except AssertionError as exited:  # start_up: it exited, or never said it was ready
        pytest.fail(f"hub 2 did not start while the cluster elected: {str(exited)[-600:]}")


async def test_kill_9_of_a_node_and_a_hub_on_a_cluster(cluster_run: ClusterRun) -> None:
    fault, nodes, hub2 = cluster_run.fault, cluster_run.nodes, cluster_run.hub2
    before = await _on_delivery(fault)
    back: list[asyncio.Future[Running]] = []

    async def kill() -> str:
        leader = await _delivery_leader(fault)
        node = nodes.servers[int(leader.removeprefix("enlace-n")) - 1]
        node.kill()
        hub2.process.send_signal(signal.SIGKILL)
        await asyncio.to_thread(hub2.process.wait)
        await asyncio.sleep(lasting(8.0))
        try:
            node.spawn()
            await asyncio.to_thread(node.wait_ready, BACK_WITHIN)
        except NatsServerError as failed:
            raise NotRecovered(f"{leader} not back: {failed}") from None
        # Hub 2 comes back while the row counts (the fault ends with the node's return).
        back.append(asyncio.ensure_future(asyncio.to_thread(_hub_again, cluster_run)))
        return f"{leader} (DELIVERY's leader) and hub 2; hub 2 started again after"

    name = "cluster: kill -9 of a node and a hub"
    gang = await _gang_row(fault, name, KILL_COUNT, KILL_COUNT / KILL_RATE, kill)
    for again in back:
        waited = len((await again).events("start_retry"))  # it started, once
        gang.row.note += f"; hub 2 started once ({waited} start request(s) asked again)"
    await _assert_once_each(fault, gang, before)


async def test_sigstop_of_the_delivery_leader_node_for_20_s(cluster_run: ClusterRun) -> None:
    fault, nodes = cluster_run.fault, cluster_run.nodes
    before = await _on_delivery(fault)
    pause = 20.0  # the frozen member, at every scale

    async def freeze() -> str:
        leader = await _delivery_leader(fault)
        pid = nodes.servers[int(leader.removeprefix("enlace-n")) - 1].pid
        assert pid is not None
        os.kill(pid, signal.SIGSTOP)  # frozen, not dead: its peers must elect past it
        try:
            await asyncio.sleep(pause)
        finally:
            os.kill(pid, signal.SIGCONT)
        return f"{leader}, DELIVERY's leader"

    name = f"cluster: SIGSTOP of a node {pause:g} s"
    gang = await _gang_row(fault, name, STOP_COUNT, STOP_COUNT / STOP_RATE, freeze)
    await _assert_once_each(fault, gang, before)
