"""The hub's Prometheus endpoint, scraped over HTTP as Prometheus would, on a real hub.

Two ways in: the public API (``create_app(metrics=HubMetrics())`` + ``HubMetrics.serve``)
with the hubkit governance (GT → SV full view, GT → US redacted view, nothing from HN),
and ``enlace up`` with ``ENLACE_METRICS_PORT`` (the ``hub.metrics_port`` setting; the
endpoint is off unless it is set, and the ready line prints its URL).
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
from pathlib import Path

import httpx
import nats
import pytest
from nats.js import JetStreamContext
from prometheus_client.parser import text_string_to_metric_families

from hub.app import create_app
from hub.config import HubSettings
from hub.deployment import Deployment
from hub.metrics import HubMetrics
from hub.server.process import NatsServer, free_port, terminate
from schemas.subjects import HDR_MSG_ID, HDR_SIGNATURE
from tests.integration.demokit import TRACE_SUBJECT, signed_trace_requests, up_command, wait_ready
from tests.integration.hubkit import ensure, governance, publish_signed, signed_message

pytestmark = pytest.mark.integration

WAIT = 30.0  # an upper bound on a loaded CI machine; never a timing assertion

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    """The samples of a scrape by name and labels, parsed as Prometheus parses them."""
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    """One sample's value; 0 when the series does not exist (yet)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


async def scrape(url: str) -> tuple[httpx.Response, Samples]:
    async with httpx.AsyncClient(timeout=5) as client:
        response = await client.get(url)
    return response, parse(response.text)


async def scrape_when_handled(url: str, handled: int) -> tuple[httpx.Response, Samples]:
    """Scrape until the hub counts ``handled`` messages (it counts after the ack)."""
    deadline = asyncio.get_running_loop().time() + WAIT
    while True:
        response, samples = await scrape(url)
        count = value(samples, "enlace_handle_seconds_count")
        if count >= handled:
            return response, samples
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{count} of {handled} messages counted after {WAIT} s")
        await asyncio.sleep(0.05)


# -- the public API: create_app(metrics=...) and HubMetrics.serve ------------------------------


async def test_scrape_counts_accepted_refused_deliveries_and_handling_time(
    nats_server: NatsServer,
) -> None:
    td, gov, signer = governance()
    metrics = HubMetrics()
    port = free_port()
    # A daemon thread of prometheus_client; it ends with the test process.
    metrics.serve(port, host="127.0.0.1")
    url = f"http://127.0.0.1:{port}/metrics"
    app = create_app(HubSettings(nats_url=nats_server.url), gov, signer, metrics=metrics)
    await app.start()
    nc = await nats.connect(nats_server.url)
    try:
        js = await ensure(nc)
        response, samples = await scrape(url)
        assert response.status_code == 200
        assert value(samples, "enlace_handle_seconds_count") == 0  # fresh registry

        for _ in range(3):  # accepted: SV gets the full view, US the no-persons view
            await publish_signed(js, *signed_message(td))
        message, raw, jws = signed_message(td)
        await publish_signed(js, message, raw.replace(b"Barrio 18", b"Barrio 19"), jws)
        await publish_signed(js, *signed_message(td, cc="HN"))  # no flow from HN
        response, samples = await scrape_when_handled(url, 5)
    finally:
        await nc.close()
        await app.stop()

    assert response.headers["content-type"].startswith("text/plain")
    messages = "enlace_messages_total"
    assert value(samples, messages, status="accepted", reason="") == 3
    assert value(samples, messages, status="rejected", reason="bad_signature") == 1
    assert value(samples, messages, status="undeliverable", reason="undeliverable") == 1
    deliveries = "enlace_deliveries_total"
    assert value(samples, deliveries, recipient="SV", view="full") == 3
    assert value(samples, deliveries, recipient="US", view="view") == 3
    assert value(samples, deliveries, recipient="HN", view="full") == 0
    assert value(samples, "enlace_handle_seconds_count") == 5
    assert value(samples, "enlace_handle_seconds_bucket", le="+Inf") == 5
    assert value(samples, "enlace_handle_seconds_sum") > 0
    assert value(samples, "enlace_pipeline_errors_total", error="TimeoutError") == 0


# -- enlace up with hub.metrics_port -----------------------------------------------------------


def run_up(demo: Deployment, url: str, metrics_port: int, out: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ, ENLACE_METRICS_PORT=str(metrics_port))
    with out.open("wb") as stdout:
        return subprocess.Popen(
            up_command(demo, url), stdout=stdout, stderr=subprocess.STDOUT, env=env
        )


async def publish(js: JetStreamContext, raw: bytes, jws: str, msg_id: str) -> None:
    await js.publish(TRACE_SUBJECT, raw, headers={HDR_SIGNATURE: jws, HDR_MSG_ID: msg_id})


async def test_enlace_up_serves_metrics_on_the_configured_port_and_prints_the_url(
    demo: Deployment, server: NatsServer, tmp_path: Path
) -> None:
    port = free_port()
    out = tmp_path / "up.out"
    proc = run_up(demo, server.url, port, out)
    nc = await nats.connect(server.url)
    try:
        text = await wait_ready(proc, out)
        url = f"http://127.0.0.1:{port}/metrics"
        assert f"metrics:     {url}" in text
        js = nc.jetstream()
        (mid, raw, jws), (other, other_raw, other_jws) = signed_trace_requests(demo, 2)
        await publish(js, raw, jws, mid)
        # Other NATS message ids: JetStream's de-duplication lets these reach the hub.
        await publish(js, raw + b" ", jws, f"{mid}-changed")  # bytes changed: bad signature
        await publish(js, raw, jws, f"{mid}-replayed")  # the same message again: duplicate
        await publish(js, other_raw, other_jws, other)
        _, samples = await scrape_when_handled(url, 4)
    finally:
        await nc.close()
        await asyncio.to_thread(terminate, proc, WAIT)
    assert proc.returncode == 0
    messages = "enlace_messages_total"
    assert value(samples, messages, status="accepted", reason="") == 2
    assert value(samples, messages, status="rejected", reason="bad_signature") == 1
    assert value(samples, messages, status="rejected", reason="duplicate") == 1
    assert value(samples, "enlace_deliveries_total", recipient="US", view="full") == 2
    assert value(samples, "enlace_handle_seconds_count") == 4


def busy_port() -> socket.socket:
    """A listening socket on a loopback port, so that nobody else can bind it."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock


def test_enlace_up_says_when_the_metrics_port_is_taken(
    demo: Deployment, server: NatsServer
) -> None:
    with busy_port() as sock:
        port = sock.getsockname()[1]
        env = dict(os.environ, ENLACE_METRICS_PORT=str(port))
        result = subprocess.run(
            up_command(demo, server.url),
            env=env,
            capture_output=True,
            text=True,
            timeout=WAIT * 2,
            check=False,
        )
    error = result.stderr.strip().splitlines()[-1]
    assert result.returncode == 1, error  # a setting to fix, not NATS unreachable (6)
    assert "metrics" in error and str(port) in error and "hub.metrics_port" in error, error
