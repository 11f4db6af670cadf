"""Run every benchmark module (``bench/bench_*.py``), or those named on the command line."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import sys

import bench
from hub.config import HubSettings
from hub.up.loop import run


def main(argv: list[str]) -> None:
    """Run the benchmark modules whose names contain one of ``argv`` (all if empty)."""
    modules = pkgutil.iter_modules(bench.__path__)
    names = sorted(m.name for m in modules if m.name.startswith("bench_"))
    if {"-h", "--help"} & set(argv):
        print("usage: python -m bench [PART ...]   (make bench: all of them)")
        print("runs the benchmark modules whose names contain a PART:")
        print("\n".join(f"  {name}" for name in names))
        print("e.g. `python -m bench hub`: the hub bench only (raw, floor, hub, latency, summary)")
        print("bench_hub reads BENCH_BATCH (fetch batch, 64), BENCH_WORKERS (2),")
        print("BENCH_AUDIT_DEPTH (audit batches in flight), BENCH_ALWAYS_FETCH_REST=1 (the")
        print("second fetch even when nothing is pending) and the hub's ENLACE_* settings")
        print("(ENLACE_SEEN_IDS=audit). Where a paced message's time goes, step by step:")
        print("`python -m bench.steps --help`.")
        return
    chosen = [n for n in names if not argv or any(a in n for a in argv)]
    for name in chosen:
        print(f"== {name}", flush=True)
        entry = importlib.import_module(f"bench.{name}").main
        if inspect.iscoroutinefunction(entry):
            # The loop `enlace up` runs on (uvloop unless ENLACE_UVLOOP=false).
            run(entry(), use_uvloop=HubSettings().uvloop)
        else:
            entry()


if __name__ == "__main__":
    main(sys.argv[1:])
