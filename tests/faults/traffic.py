"""A diligent publisher: GT's system, logged in as GT, sending signed messages at a steady
rate and trying each again (same id) while the exchange cannot take it; in the test's
process, or (:func:`publish_elsewhere`) in a process of its own, this module run as a
program.

JetStream's de-duplication window and the hub's record of seen ids make a retry of a
message already stored harmless. ``ingress_full`` is the documented refusal of a full
quota ("try again later"): the publisher takes it as the answer for that message.
"""

from __future__ import annotations

import asyncio
import base64
import json
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import nats
import nats.errors
from nats.js.errors import APIError

from adapters.client import EnlaceClient
from adapters.errors import IngressFull
from hub.deployment import Deployment
from hub.server.logins import load_user
from tests.faults.harness import FaultUp
from tests.integration.demokit import signed_trace_requests

__all__ = ["Sent", "publish", "publish_elsewhere", "signed"]

SENDER = "GT"
_RETRY = 0.25
_ROOT = Path(__file__).resolve().parents[2]  # where ``python -m tests.faults.traffic`` runs


@dataclass
class Sent:
    """What the publisher was told.

    Attributes:
        ids: every message it sent, in order.
        stored: the ids JetStream acknowledged.
        refused: the ids refused for good, with the reason code it was given.
        errors: every failed attempt, by what the exchange said (retried or not).
    """

    ids: list[str] = field(default_factory=list)
    stored: set[str] = field(default_factory=set)
    refused: dict[str, str] = field(default_factory=dict)
    errors: Counter[str] = field(default_factory=Counter)


def signed(fault: FaultUp, count: int) -> list[tuple[str, bytes, str]]:
    """``count`` signed firearm trace requests from GT (routed to US)."""
    return signed_trace_requests(fault.dep, count)


async def publish(
    fault: FaultUp, batch: list[tuple[str, bytes, str]], rate: float, give_up: float = 60.0
) -> Sent:
    """Send ``batch`` at ``rate`` messages/s, each retried until stored or refused, for
    at most ``give_up`` seconds after the last one was due (what is left unanswered then
    counts as refused with no reason code: "")."""
    return await _publish(fault.dep, fault.url, batch, rate, give_up)


async def publish_elsewhere(
    fault: FaultUp, batch: list[tuple[str, bytes, str]], rate: float
) -> Sent:
    """:func:`publish`, from a process of its own (``python -m tests.faults.traffic``):
    GT's system as a separate program. Cancelled, it kills that process."""
    folder = fault.dep.home / "publisher"
    folder.mkdir(exist_ok=True)
    given, told = folder / "batch.json", folder / "sent.json"
    rows = [[mid, base64.b64encode(raw).decode(), jws] for mid, raw, jws in batch]
    given.write_text(json.dumps(rows), encoding="utf-8")
    argv = [str(fault.dep.home), fault.url, str(given), str(rate), str(told)]
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.faults.traffic", *argv, cwd=_ROOT
    )
    try:
        code = await process.wait()
    except asyncio.CancelledError:
        process.kill()
        await process.wait()
        raise
    assert code == 0, f"the publisher exited {code}"
    data = json.loads(told.read_text(encoding="utf-8"))
    return Sent(
        ids=data["ids"],
        stored=set(data["stored"]),
        refused=data["refused"],
        errors=Counter(data["errors"]),
    )


async def _publish(
    dep: Deployment, url: str, batch: list[tuple[str, bytes, str]], rate: float, give_up: float
) -> Sent:
    sent = Sent(ids=[mid for mid, _, _ in batch])
    nc = await nats.connect(
        url.split(","),
        max_reconnect_attempts=-1,
        reconnect_time_wait=_RETRY,
        connect_timeout=2,
        **load_user(dep, SENDER).connect_options(),
    )
    client = EnlaceClient(nc)
    started = time.monotonic()
    until = started + len(batch) / rate + give_up
    try:
        for n, (mid, raw, jws) in enumerate(batch):
            await asyncio.sleep(max(0.0, started + n / rate - time.monotonic()))
            await _one(client, sent, mid, raw, jws, until)
    finally:
        await nc.close()
    return sent


async def _one(
    client: EnlaceClient, sent: Sent, mid: str, raw: bytes, jws: str, deadline: float
) -> None:
    while True:
        try:
            await client.publish(raw, jws, wait=False)
        except IngressFull as refusal:
            sent.errors[refusal.code] += 1
            sent.refused[mid] = refusal.code
            return
        except (APIError, nats.errors.Error, TimeoutError, OSError) as err:
            said = err.description if isinstance(err, APIError) else type(err).__name__
            sent.errors[said or type(err).__name__] += 1
            if time.monotonic() > deadline:
                sent.refused[mid] = ""
                return
            await asyncio.sleep(_RETRY)
        else:
            sent.stored.add(mid)
            return


def _main(home: str, url: str, given: str, rate: str, told: str) -> None:
    """The publisher process: the batch from ``given``, what it was told into ``told``."""
    batch = [
        (mid, base64.b64decode(raw), jws) for mid, raw, jws in json.loads(Path(given).read_text())
    ]
    sent = asyncio.run(_publish(Deployment(Path(home)), url, batch, float(rate), 60.0))
    data = {
        "ids": sent.ids,
        "stored": sorted(sent.stored),
        "refused": sent.refused,
        "errors": dict(sent.errors),
    }
    Path(told).write_text(json.dumps(data), encoding="utf-8")


if __name__ == "__main__":
    _main(*sys.argv[1:6])
