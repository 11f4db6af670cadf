"""Shared pieces of the tests that run the demo deployment (``enlace init --demo``).

Signed firearm trace requests of the demo's GT point of contact (the demo agreements
route each to US only, full view), and ``enlace up`` as a hub beside others: on a given
server, without adapters, started and awaited until its ready line.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

from hub.app import HubApp, create_app
from hub.config import HubSettings
from hub.deployment import Deployment
from hub.governance import load_governance, load_signer
from hub.governance.keystore import KeyStore
from schemas.common import new_message_id
from schemas.govdoc import rfc3339
from schemas.jws import sign_detached
from schemas.trust import load_directory, load_trust_root

__all__ = [
    "ENLACE",
    "TRACE_SUBJECT",
    "demo_hub",
    "run_enlace",
    "signed_samples",
    "signed_trace_requests",
    "up_command",
    "wait_ready",
]

ENLACE = str(Path(sys.executable).parent / "enlace")
TRACE_SUBJECT = "enlace.in.GT.small_arms.firearm_trace_request"


def signed_trace_requests(demo: Deployment, count: int) -> list[tuple[str, bytes, str]]:
    """``count`` fresh firearm trace requests from GT: (id, exact bytes, detached JWS)."""
    return signed_samples(demo, count, "firearm_trace_request", "gt-small-arms")


def signed_samples(
    demo: Deployment, count: int, sample: str, poc: str
) -> list[tuple[str, bytes, str]]:
    """``count`` fresh copies of the demo's sample ``sample`` (its sender's), each with its
    own id, signed with ``poc``'s key: (id, exact bytes, detached JWS)."""
    directory = load_directory(demo.directory, load_trust_root(demo.trust_root))
    kid, key = KeyStore(demo.keys_dir).current_poc_key(directory, poc)
    template = json.loads((demo.samples_dir / f"{sample}.json").read_bytes())
    out = []
    for _ in range(count):
        message = dict(template, id=new_message_id(), issued_at=rfc3339(datetime.now(UTC)))
        raw = json.dumps(message).encode()
        out.append((message["id"], raw, sign_detached(raw, key, kid)))
    return out


@asynccontextmanager
async def demo_hub(demo: Deployment, url: str) -> AsyncIterator[HubApp]:
    """The demo's hub in this process, on the server at ``url``, until the block ends."""
    gov = load_governance(demo)
    app = create_app(HubSettings(nats_url=url), gov, load_signer(demo, gov))
    await app.start()
    try:
        yield app
    finally:
        await app.stop()


async def run_enlace(demo: Deployment, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``enlace --home <demo> ARGS --nats-url URL``, run in a thread: a hub may be running
    on this event loop, and the command must run beside it, not block it."""
    command = [ENLACE, "--home", str(demo.home), *args, "--nats-url", url]
    return await asyncio.to_thread(
        subprocess.run, command, capture_output=True, text=True, timeout=60
    )


def up_command(demo: Deployment, url: str) -> list[str]:
    """``enlace up`` of the demo on the server at ``url``: the hub and its audit writer only."""
    return [
        ENLACE,
        "--home",
        str(demo.home),
        "up",
        "--nats-url",
        url,
        "--no-adapters",
        "--json-logs",
    ]


def _printed(proc: subprocess.Popen[bytes], out: Path) -> str | None:
    text = out.read_text(errors="replace")
    if proc.poll() is not None:
        raise AssertionError(f"enlace up exited with {proc.returncode}: {text}")
    return text if "enlace up: ready" in text else None


async def wait_ready(proc: subprocess.Popen[bytes], out: Path, seconds: float = 60.0) -> str:
    """Wait for the ready line ``enlace up`` writes to ``out``; returns what it printed.

    ``seconds`` is an upper bound on a loaded machine, not a timing assertion.
    """
    deadline = asyncio.get_running_loop().time() + seconds
    while (text := _printed(proc, out)) is None:
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"enlace up not ready after {seconds} s (output: {out})")
        await asyncio.sleep(0.05)
    return text
