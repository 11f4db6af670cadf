"""Where a paced message's time goes in the hub: a timestamp at each step, per message.

``python -m bench.steps [LOAD ...]`` measures the hub's capacity (as ``bench_hub`` does:
64 messages in flight), then offers LOAD × that rate (default 0.25 0.5 0.75; a LOAD above
1 is a rate in msgs/s, the same for runs to compare), paced, and
prints for each step its median and p99 in ms, and the audit writer's batches (entries,
from its send to its answer, time between sends). The hub runs with the settings of the
environment (``ENLACE_SEEN_IDS=audit``; ``BENCH_AUDIT_DEPTH=1``: audit batches in flight;
``BENCH_ALWAYS_FETCH_REST=1``: the second fetch even when nothing is pending).
Bench only: the timestamps are taken by wrapping the hub's objects in this process.

Steps, each from the end of the one before::

    publish → INGRESS acked  the INGRESS write as the publisher sees it (alongside)
    publish → fetched        INGRESS write and the hub's fetch
    fetched → checked        the I/O-free checks of the fetched batch (signature, schema…)
    checked → claim          onward/amendment look-ups (none for these messages), policy
    claim                    the id's claim (KV create of the routing record, or its
                             audit batch)
    claim → writes           views, countersignature, request memory
    writes                   deliveries ∥ notice ∥ audit entries, all acknowledged
      of which: audit wait   the audit entries' batch (from submit to its ack)
    outcome store            OUTCOMES_<cc> write (the publisher hears it at its publish)
    outcome start → heard    the outcome from the hub to the publisher's subscription
"""

from __future__ import annotations

import contextvars
import itertools
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from bench.bench_hub import HUB_N, SIZE, bench_server, hub_end_to_end
from bench.publisher import Published
from hub.pipeline import ingress
from schemas.subjects import HDR_MSG_ID

__all__ = ["StepClock"]

_current: contextvars.ContextVar[dict[str, float] | None] = contextvars.ContextVar(
    "bench_step_marks", default=None
)


def _mark(name: str) -> None:
    marks = _current.get()
    if marks is not None and name not in marks:
        marks[name] = time.perf_counter()


def _timed(before: str, after: str, fn: Callable[..., Awaitable[Any]]) -> Callable[..., Any]:
    async def wrapped(*args: Any, **kwargs: Any) -> Any:
        _mark(before)
        try:
            return await fn(*args, **kwargs)
        finally:
            _mark(after)

    return wrapped


def _timed_writes(fn: Callable[..., Awaitable[Any]]) -> Callable[..., Any]:
    """The writer's ``write`` timed as the deliveries' round: not the claim's own write
    (with ``seen_ids: bucket`` the claim is a KV create through the same writer)."""
    timed = _timed("writes_start", "writes_end", fn)

    async def wrapped(*args: Any, **kwargs: Any) -> Any:
        marks = _current.get()
        if marks is not None and "claim_start" in marks and "claim_end" not in marks:
            return await fn(*args, **kwargs)
        return await timed(*args, **kwargs)

    return wrapped


_check_batch = vars(ingress)["check_batch"]  # patched below (a bench, not the hub)
_active: StepClock | None = None


def _fetched(msgs: Sequence[Any], *args: Any) -> Any:
    """``check_batch``, first marking each message of the batch as fetched now."""
    now = time.perf_counter()
    if _active is not None:
        for msg in msgs:
            mid = (msg.headers or {}).get(HDR_MSG_ID, "")
            _active.marks.setdefault(mid, {})["fetched"] = now
    return _check_batch(msgs, *args)


class StepClock:
    """Timestamps per message id, and the audit writer's batches, of one hub in this process."""

    def __init__(self) -> None:
        self.marks: dict[str, dict[str, float]] = {}
        self.batches: list[tuple[float, float, int]] = []  # (start, end, entries)

    def install(self, hub: Any) -> None:
        """Wrap the pipeline and the audit writer of ``hub`` (a ``bench_hub._Hub``)."""
        global _active
        _active = self
        if vars(ingress)["check_batch"] is _check_batch:
            # The pull loop holds the bound handle_batch: its first call is timed instead.
            vars(ingress)["check_batch"] = _fetched
        pipeline = hub.app.pipeline
        handle_safely = pipeline.handle_safely

        async def on_item(item: Any, gov: Any) -> Any:
            marks = self.marks.setdefault(item.message_id, {})
            _current.set(marks)
            _mark("checked")
            return await handle_safely(item, gov)

        pipeline.handle_safely = on_item
        pipeline.seen.admit = _timed("claim_start", "claim_end", pipeline.seen.admit)
        pipeline.writer.write = _timed_writes(pipeline.writer.write)
        pipeline.outcomes.store = _timed("outcome_start", "outcome_end", pipeline.outcomes.store)
        audit = pipeline.audit
        record = audit.record

        def on_record(context: Any) -> Any:
            marks = _current.get()
            future = record(context)
            if marks is not None:
                marks["audit_submit"] = time.perf_counter()
                future.add_done_callback(
                    lambda _: marks.setdefault("audit_done", time.perf_counter())
                )
            return future

        audit.record = on_record
        in_flight = hub.writer.in_flight
        send = in_flight.send

        async def on_send(parts: list[Any], *args: Any) -> None:
            start = time.perf_counter()
            await send(parts, *args)
            count = sum(len(p.entries) for p in parts)

            def answered(_: Any) -> None:
                self.batches.append((start, time.perf_counter(), count))

            if parts:
                parts[-1].future.add_done_callback(answered)

        in_flight.send = on_send

    def report(self, published: Published) -> str:
        """The steps' medians and p99s (ms) and the audit batches, for ``published``."""
        steps: dict[str, list[float]] = {}

        def add(name: str, a: float | None, b: float | None) -> None:
            if a is not None and b is not None:
                steps.setdefault(name, []).append((b - a) * 1000)

        for mid, sent in published.sent.items():
            m = self.marks.get(mid, {})
            heard = published.outcomes.get(mid)
            add("publish → INGRESS acked", sent, published.acked.get(mid))
            add("publish → fetched", sent, m.get("fetched"))
            add("fetched → checked", m.get("fetched"), m.get("checked"))
            add("checked → claim", m.get("checked"), m.get("claim_start"))
            add("claim", m.get("claim_start"), m.get("claim_end"))
            add("claim → writes", m.get("claim_end"), m.get("writes_start"))
            add("writes", m.get("writes_start"), m.get("writes_end"))
            add("  of which: audit wait", m.get("audit_submit"), m.get("audit_done"))
            add("writes → outcome store", m.get("writes_end"), m.get("outcome_start"))
            add("outcome store", m.get("outcome_start"), m.get("outcome_end"))
            add("outcome store start → heard", m.get("outcome_start"), heard)
            add("total: publish → heard", sent, heard)
        lines = [f"  {'step':<26} {'p50 ms':>8} {'p99 ms':>8} {'n':>6}"]
        if not steps:  # a burst: the publisher times each message only when paced
            lines = ["  (steps are timed for paced runs only)"]
        for name, values in steps.items():
            values.sort()
            p99 = values[max(0, int(len(values) * 0.99) - 1)]
            lines.append(
                f"  {name:<26} {statistics.median(values):8.2f} {p99:8.2f} {len(values):6d}"
            )
        if self.batches:
            sizes = [n for _, _, n in self.batches]
            wire = sorted((end - start) * 1000 for start, end, _ in self.batches)
            starts = sorted(s for s, _, _ in self.batches)
            gaps = sorted((b - a) * 1000 for a, b in itertools.pairwise(starts))
            lines.append(
                f"  audit batches: {len(sizes)}, entries p50 {statistics.median(sizes):.0f} "
                f"max {max(sizes)}; sent → answered p50 {statistics.median(wire):.2f} ms "
                f"p99 {wire[max(0, int(len(wire) * 0.99) - 1)]:.2f} ms; between sends "
                f"p50 {statistics.median(gaps) if gaps else 0:.2f} ms"
            )
        return "\n".join(lines)


async def main(loads: Sequence[float]) -> None:
    """Capacity at 64 in flight, then each load paced, with the step table of each."""
    with bench_server() as server:
        clock = StepClock()
        full = await hub_end_to_end(server.url, HUB_N // 2, instrument=clock.install)
        print(f"capacity (64 in flight, {SIZE} B): {full.throughput:,.0f} msgs/s")
        print(clock.report(full.published))
        for load in loads:
            clock = StepClock()
            rate = full.throughput * load if load <= 1 else load
            n = max(int(rate * 4), 50)
            run = await hub_end_to_end(server.url, n, rate=rate, instrument=clock.install)
            cpu = run.cpu_ms.get("this process (hub)", float("nan"))
            print(
                f"paced at {rate / full.throughput:.0%} ({rate:,.0f} msgs/s offered, "
                f"{n} messages; hub CPU {cpu:.2f} ms per message):"
            )
            print(clock.report(run.published))


if __name__ == "__main__":
    from hub.config import HubSettings
    from hub.up.loop import run

    chosen = [float(a) for a in sys.argv[1:] if not a.startswith("-")] or [0.25, 0.5, 0.75]
    if {"-h", "--help"} & set(sys.argv[1:]):
        print(__doc__)
    else:
        run(main(chosen), use_uvloop=HubSettings().uvloop)
