"""``enlace status``: streams, consumers and hub workers of the running exchange."""

from __future__ import annotations

import asyncio
from typing import Any

import click
import httpx
import nats
import nats.errors
from nats.js.api import StreamInfo
from nats.js.errors import NotFoundError, ServiceUnavailableError

from hub.cli.context import CliContext, fail, pass_cli, print_json
from hub.cli.exit_codes import ExitCode
from hub.config import HubSettings, load_settings
from hub.deployment import Deployment
from hub.errors import ConfigError
from hub.jetstream.streams import HUB_CONSUMER, LEGACY_INGRESS
from hub.server.operator_access import QUIET_CONNECT, operator_login
from schemas.subjects import STREAMS

__all__ = ["collect_status", "status"]

_AUDIT_STREAMS = ("AUDIT_CHECKPOINTS",)
_DEADLETTER_PREFIX = "DEADLETTER_"  # schemas.subjects.deadletter_stream
_INGRESS_PREFIX = "INGRESS_"  # schemas.subjects.ingress_stream
_HUB_CONNECTION = "enlace-hub"


async def _hub_connections(settings: HubSettings) -> int | None:
    """Hub processes connected, from the embedded server's monitoring port (if on)."""
    if not settings.embedded or settings.nats_http_port is None:
        return None
    url = f"http://{settings.nats_host}:{settings.nats_http_port}/connz?limit=4096"
    try:
        async with httpx.AsyncClient(timeout=3) as client:
            data = (await client.get(url)).json()
    except (httpx.HTTPError, ValueError):
        return None
    return sum(1 for c in data.get("connections", []) if c.get("name") == _HUB_CONNECTION)


def _replicas(info: StreamInfo) -> dict[str, Any] | None:
    """A replicated stream's leader and each other replica: current (caught up) or behind."""
    cluster = info.cluster
    if cluster is None or not cluster.replicas:
        return None  # one copy (a single server, or R1)
    peers = [
        {
            "name": peer.name,
            "current": bool(peer.current) and not peer.offline,
            "offline": bool(peer.offline),
            "lag": peer.lag or 0,
        }
        for peer in cluster.replicas
    ]
    return {"count": 1 + len(peers), "leader": cluster.leader, "peers": peers}


async def collect_status(deployment: Deployment, settings: HubSettings) -> dict[str, Any]:
    """Streams (messages, bytes), their consumers and the hub's workers.

    Raises:
        OSError / nats errors: NATS cannot be reached.
    """
    nc = await nats.connect(
        servers=settings.url.split(","),
        name="enlace-status",
        **QUIET_CONNECT,
        **operator_login(deployment, settings.url),
    )
    try:
        js = nc.jetstream(timeout=5)
        streams: list[dict[str, Any]] = []
        hub_waiting: int | None = None
        # One ingress and one dead-letter stream per party (and the INGRESS of earlier
        # versions while the hub drains it): list those that exist rather than load the
        # directory.
        names = sorted(i.config.name or "" for i in await js.streams_info())
        ingress = [n for n in names if n.startswith(_INGRESS_PREFIX) or n == LEGACY_INGRESS]
        dead = [n for n in names if n.startswith(_DEADLETTER_PREFIX)]
        for name in [*ingress, *STREAMS, *dead, *_AUDIT_STREAMS]:
            try:
                info = await js.stream_info(name)
                listed = await js.consumers_info(name)
            except NotFoundError:
                streams.append({"stream": name, "state": "missing"})
                continue
            except (nats.errors.TimeoutError, ServiceUnavailableError):
                # On a cluster: the stream has no leader this moment (an election after a
                # node died), or too few of its replicas are up to elect one.
                streams.append({"stream": name, "state": "unavailable"})
                continue
            consumers = []
            for c in listed:
                consumers.append(
                    {
                        "consumer": c.name,
                        "pending": c.num_pending or 0,
                        "ack_pending": c.num_ack_pending or 0,
                        "redelivered": c.num_redelivered or 0,
                        "waiting": c.num_waiting or 0,
                    }
                )
                if name in ingress and c.name == HUB_CONSUMER:
                    hub_waiting = (hub_waiting or 0) + (c.num_waiting or 0)
            streams.append(
                {
                    "stream": name,
                    "state": "ok",
                    "messages": info.state.messages,
                    "bytes": info.state.bytes,
                    "consumers": consumers,
                    "replicas": _replicas(info),
                }
            )
    finally:
        await nc.close()
    return {
        "nats_url": settings.url,
        "streams": streams,
        "hub": {
            "connections": await _hub_connections(settings),
            # Each hub process keeps one pull request waiting on each idle ingress stream.
            "waiting_pulls": hub_waiting,
        },
    }


def _peer_state(peer: dict[str, Any]) -> str:
    if peer["current"]:
        return "current"
    return "offline" if peer["offline"] else f"behind, lag {peer['lag']}"


def _human(report: dict[str, Any]) -> str:
    lines = [f"NATS {report['nats_url']}"]
    hub = report["hub"]
    connected = hub["connections"]
    lines.append(
        "hub: "
        + (f"{connected} process(es) connected, " if connected is not None else "")
        + (
            f"{hub['waiting_pulls']} worker pull(s) waiting"
            if hub["waiting_pulls"] is not None
            else "no hub consumer yet (has `enlace up` run?)"
        )
    )
    lines.append(f"{'stream':<18}{'messages':>10}{'bytes':>14}")
    for s in report["streams"]:
        if s["state"] != "ok":
            why = "missing" if s["state"] == "missing" else "no answer (no leader right now?)"
            lines.append(f"{s['stream']:<18}{why:>10}")
            continue
        line = f"{s['stream']:<18}{s['messages']:>10}{s['bytes']:>14}"
        if (r := s.get("replicas")) is not None:
            peers = ", ".join(f"{p['name']} ({_peer_state(p)})" for p in r["peers"])
            line += f"  R{r['count']} leader {r['leader'] or 'none (electing)'}; {peers}"
        lines.append(line)
        for c in s["consumers"]:
            lines.append(
                f"  {c['consumer']:<22} pending {c['pending']}, ack pending {c['ack_pending']}, "
                f"redelivered {c['redelivered']}"
            )
    return "\n".join(lines)


@click.command("status", help="Streams, consumers and hub workers (exit 6 if NATS is down).")
@click.option("--nats-url", default=None, help="NATS URL (else settings).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_cli
def status(cli: CliContext, nats_url: str | None, as_json: bool) -> None:
    deployment = cli.require_deployment()
    try:
        settings = load_settings(deployment.home, nats_url=nats_url)
        report = asyncio.run(collect_status(deployment, settings))
    except ConfigError as err:
        fail(str(err))
    except (OSError, nats.errors.Error, TimeoutError) as err:
        fail(
            f"cannot reach NATS ({type(err).__name__}); is `enlace up` running? "
            "pass --nats-url or set ENLACE_NATS_URL",
            ExitCode.UNAVAILABLE,
        )
    if as_json:
        print_json(report)
    else:
        click.echo(_human(report))
