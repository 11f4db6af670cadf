"""A 3-node cluster with two hub processes: kill -9 of the node leading DELIVERY and of one
hub process mid-stream, then both back; and (``make faults``) a SIGSTOP of the node leading
DELIVERY for 20 s. Nothing accepted is lost or delivered twice (at US's sink and on
DELIVERY), the one audit log verifies.

The nodes are those of ``enlace cluster init 3 --local`` (run by the test, not tied to a
hub); streams are R3 (``streams.replicas: 3``). Hub 1 runs US's folder sink (the harness's
recipient), hub 2 no adapters; both pull from the same ingress consumers and append to the
same audit log. Hub 2 is the one killed: what it held comes back to hub 1 after ack_wait.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.errors import NatsServerError
from hub.server.cluster import local_layout
from hub.server.local_cluster import LocalCluster
from hub.server.logins import HUB_USER, load_user
from hub.server.operator_access import connect_operator
from hub.up.cluster import deployment_authorization
from schemas.limits import wire_limit
from tests.faults.harness import RECIPIENT, SCALE, FaultUp, fault_up, lasting, scaled
from tests.faults.scenario import NotRecovered, run_row
from tests.faults.tally import assert_sound
from tests.integration.upkit import Running, start_up

pytestmark = [pytest.mark.faults, pytest.mark.integration]

ACK_WAIT = "10s"  # how soon a dead hub's unacked messages go to the other (default 30 s)
BACK_WITHIN = 30.0


@pytest.fixture
def cluster_fault(tmp_path: Path) -> Iterator[tuple[FaultUp, LocalCluster]]:
    with fault_up(tmp_path, start=False) as fault:
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
            fault.start()  # hub 1, with US's sink
            yield fault, nodes
        finally:
            fault.stop()  # the hubs first: without NATS they would wait to drain
            nodes.stop()


async def _delivery_leader(fault: FaultUp) -> str:
    nc = await connect_operator(fault.dep, fault.url, "enlace-fault-leader")
    try:
        cluster = (await nc.jetstream(timeout=5).stream_info("DELIVERY")).cluster
    finally:
        await nc.close()
    assert cluster is not None and cluster.leader is not None, "DELIVERY has no leader"
    return cluster.leader


async def _on_delivery(fault: FaultUp, recipient: str) -> int:
    """How many deliveries to ``recipient`` DELIVERY holds (one per accepted message)."""
    nc = await connect_operator(fault.dep, fault.url, "enlace-fault-delivery")
    try:
        info = await nc.jetstream(timeout=5).stream_info(
            "DELIVERY", subjects_filter=f"enlace.out.{recipient}.>"
        )
    finally:
        await nc.close()
    return sum((info.state.subjects or {}).values())


async def test_kill_9_of_a_node_and_a_hub_on_a_cluster(
    cluster_fault: tuple[FaultUp, LocalCluster],
) -> None:
    fault, nodes = cluster_fault
    hub2: Running = await asyncio.to_thread(
        start_up, fault.dep, fault.env, "--no-adapters", "--no-console", adapter_log=None
    )

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
        back.append(
            asyncio.ensure_future(
                asyncio.to_thread(
                    start_up,
                    fault.dep,
                    fault.env,
                    "--no-adapters",
                    "--no-console",
                    adapter_log=None,
                )
            )
        )
        return f"{leader} (DELIVERY's leader) and hub 2; hub 2 restarted after"

    fault.earlier.append(hub2)  # stopped with the rest
    row = await run_row(fault, "cluster: kill -9 of a node and a hub", scaled(300), 8, kill)
    for again in back:
        fault.earlier.append(await again)  # it started (else start_up raised)
    assert_sound(row)
    assert await _on_delivery(fault, RECIPIENT) == row.accepted  # none stored twice


@pytest.mark.skipif(SCALE <= 1, reason="make faults runs this row (a 20 s freeze)")
async def test_sigstop_of_the_delivery_leader_node_for_20_s(
    cluster_fault: tuple[FaultUp, LocalCluster],
) -> None:
    fault, nodes = cluster_fault
    pause = lasting(20.0)

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

    row = await run_row(fault, f"cluster: SIGSTOP of a node {pause:g} s", scaled(300), 10, freeze)
    assert_sound(row)
    assert await _on_delivery(fault, RECIPIENT) == row.accepted
