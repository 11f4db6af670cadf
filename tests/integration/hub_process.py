"""A hub process for crash tests: ``python -m tests.integration.hub_process HOME URL``.

Runs the hub app of the deployment at HOME against the server at URL until SIGTERM
(clean stop) or SIGKILL (the crash under test). Settings come from ENLACE_* variables.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

from hub.app import create_app
from hub.config import load_settings
from hub.deployment import Deployment
from hub.governance import load_governance, load_signer


async def main(home: str, url: str) -> None:
    dep = Deployment(Path(home))
    gov = load_governance(dep)
    app = create_app(load_settings(None, nats_url=url), gov, load_signer(dep, gov))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await app.start()
    print("ready", flush=True)
    await stop.wait()
    await app.stop()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
