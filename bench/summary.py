"""What a run of ``bench_hub`` yields and its summary: each result against issue 17's goals."""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from bench.publisher import Published
from hub.testing import FANOUT_RECIPIENTS

__all__ = ["HubRun", "Round", "cpu_line", "summary"]

# Goals (issue 17), each printed met / NOT met in the summary.
HUB_OF_FLOOR = 0.85
FLOOR_OF_RAW = 0.6
HUB_CPU_MS = 0.6
P99_AT_HALF_MS = 50.0


@dataclass
class HubRun:
    """One measured run of the hub: what the publisher saw and the CPU spent per message."""

    published: Published
    cpu_ms: dict[str, float]
    writes: dict[str, float]
    """Messages stored per message handled, by stream (each one a synced write)."""

    @property
    def throughput(self) -> float:
        seen = self.published
        return len(seen.outcomes) / max(seen.last_outcome - seen.started, 1e-9)

    def latency_ms(self) -> tuple[float, float]:
        """p50 and p99 of publish → outcome, in ms."""
        seen = self.published
        lat = sorted(
            (seen.outcomes[m] - t) * 1000 for m, t in seen.sent.items() if m in seen.outcomes
        )
        return statistics.median(lat), lat[int(len(lat) * 0.99) - 1]


@dataclass(frozen=True)
class Round:
    """Raw JetStream, the floor and the hub, measured back to back."""

    raw: float
    floor: float
    hub: HubRun
    split: float
    """The floor with a delivery stream per recipient (``hub_floor(split=True)``)."""


def _met(ok: bool, goal: str) -> str:
    return "met" if ok else f"NOT met ({goal})"


def _median_range(values: list[float]) -> str:
    """The median of the rounds' values, with their range."""
    mid = statistics.median(values)
    return f"{mid:.2f} ({min(values):.2f}–{max(values):.2f})" if len(values) > 1 else f"{mid:.2f}"


def summary(
    rounds: list[Round], paced: dict[float, HubRun], two: HubRun, workers: int, fan: HubRun
) -> str:
    """The final table: each result against its goal; a ratio is the median of the rounds'
    (their range in brackets), each round's hub against that round's floor.

    Args:
        rounds: raw JetStream, the floor and the hub at full load, back to back.
        paced: the hub at shares of its capacity.
        two: the hub as two processes.
        workers: the in-process hub's workers.
        fan: the hub with eight recipients per message.
    """
    raw = statistics.median(r.raw for r in rounds)
    floor_of_raw = [r.floor / r.raw for r in rounds]
    hub_of_floor = [r.hub.throughput / r.floor for r in rounds]
    split_of_raw = [r.split / r.raw for r in rounds]
    cpu = [r.hub.cpu_ms.get("this process (hub)", float("nan")) for r in rounds]
    hub = sorted(rounds, key=lambda r: r.hub.throughput)[len(rounds) // 2].hub
    rows = [
        ("raw JetStream", f"{raw:,.0f} msgs/s", ""),
        (
            "floor / raw",
            _median_range(floor_of_raw),
            _met(statistics.median(floor_of_raw) >= FLOOR_OF_RAW, f"≥ {FLOOR_OF_RAW}"),
        ),
        ("floor, split / raw", _median_range(split_of_raw), "what-if: a stream per recipient"),
        (
            f"hub, {workers} workers",
            f"{hub.throughput:,.0f} msgs/s",
            f"{hub.throughput / raw:.2f} of raw",
        ),
        (
            "hub / floor",
            _median_range(hub_of_floor),
            _met(statistics.median(hub_of_floor) >= HUB_OF_FLOOR, f"≥ {HUB_OF_FLOOR}"),
        ),
        (
            "hub CPU per message",
            f"{_median_range(cpu)} ms",
            _met(statistics.median(cpu) <= HUB_CPU_MS, f"≤ {HUB_CPU_MS} ms"),
        ),
    ]
    half = paced.get(0.5)
    rows.append(
        (
            "synced writes / message",
            f"{sum(hub.writes.values()):.2f}"
            + (f", {sum(half.writes.values()):.2f} at 50%" if half else ""),
            "raw: 1",
        )
    )
    for load, run in paced.items():
        p50, p99 = run.latency_ms()
        goal = _met(p99 < P99_AT_HALF_MS, f"< {P99_AT_HALF_MS:g} ms") if load == 0.5 else ""
        rows.append((f"p50 / p99 at {load:.0%} load", f"{p50:.1f} / {p99:.1f} ms", goal))
    rows.append(
        (
            "hub, 2 processes × 1",
            f"{two.throughput:,.0f} msgs/s",
            f"{two.throughput / raw:.2f} of raw",
        )
    )
    fan_cpu = fan.cpu_ms.get("this process (hub)", float("nan"))
    rows.append(
        (
            f"hub, {FANOUT_RECIPIENTS} recipients",
            f"{fan.throughput:,.0f} msgs/s",
            f"CPU {fan_cpu:.2f} ms, {sum(fan.writes.values()):.2f} writes / message",
        )
    )
    lines = [f"{'summary':<24} {'result':>20}  goal"]
    lines += [f"{name:<24} {value:>20}  {target}" for name, value, target in rows]
    return "\n".join(lines)


def cpu_line(run: HubRun) -> str:
    """Each process's CPU over every message of the run; hub processes also summed (each
    handled only its share of the messages)."""
    line = ", ".join(f"{who} {ms:.2f} ms" for who, ms in run.cpu_ms.items())
    hubs = [ms for who, ms in run.cpu_ms.items() if who.startswith("hub process")]
    return f"{line} (hub processes together {sum(hubs):.2f} ms)" if len(hubs) > 1 else line
