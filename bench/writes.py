"""The synced writes a run made: each stream's messages stored during it, per message.

With ``sync_interval: always`` every message a stream stores is a write synced to disk, so
the streams' last sequences before and after a run count the writes the hub made for each
message it handled (the INGRESS write of the publisher included), whatever the machine's
load: a count, where throughput and CPU time move from run to run.
"""

from __future__ import annotations

import re

import nats

__all__ = ["per_message", "stored_writes", "writes_line"]

_PER_COUNTRY = re.compile(r"(.+)_[A-Z]{2}")  # one stream per country: INGRESS_GT, OUTCOMES_GT…


async def stored_writes(url: str) -> dict[str, int]:
    """Each stream's last sequence: how many messages it has stored in its life."""
    nc = await nats.connect(url)
    try:
        return {i.config.name or "": i.state.last_seq for i in await nc.jetstream().streams_info()}
    finally:
        await nc.close()


def per_message(before: dict[str, int], after: dict[str, int], n: int) -> dict[str, float]:
    """The writes each stream stored between two readings, per message.

    Args:
        before: :func:`stored_writes` before the run.
        after: :func:`stored_writes` after it.
        n: the messages the run handled.
    """
    return {stream: (last - before.get(stream, 0)) / n for stream, last in after.items()}


def writes_line(writes: dict[str, float]) -> str:
    """Writes per message by stream (each country's streams counted together), and in all."""
    kinds: dict[str, float] = {}
    for stream, share in writes.items():
        if share:
            kind = m[1] if (m := _PER_COUNTRY.fullmatch(stream)) else stream
            kinds[kind] = kinds.get(kind, 0.0) + share
    parts = ", ".join(f"{kind} {w:.2f}" for kind, w in sorted(kinds.items(), key=lambda kv: -kv[1]))
    return f"{parts}; {sum(kinds.values()):.2f} in all (raw JetStream: 1)"
