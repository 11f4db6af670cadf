"""``enlace up`` of a demo deployment as the fault tests run it, and its processes by pid.

The demo's GT sends firearm trace requests that its agreements route to US alone, so
one sink runs: US's folder sink, ``inbox/US``, watched by :class:`SinkWrites`. A test may
run more folder sinks (``sinks``: the cluster test runs all nine, for GT's gang movements
that go to every other party), each watched the same way. Every
process of the deployment (``enlace up``, its nats-server, its adapters, and orphans a
killed ``enlace up`` left) is found in ``/proc`` by the deployment's folder on its command
line, and stopped by its pid when the test ends.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

from hub.admin.init import init_demo
from hub.deployment import Deployment
from hub.server.process import free_port
from tests.faults.writes import SinkWrites
from tests.integration.upkit import WAIT, Running, start_up, wait_for

__all__ = ["RECIPIENT", "SCALE", "FaultUp", "fault_up", "lasting", "scaled"]

SCALE = float(os.environ.get("ENLACE_FAULT_SCALE", "1"))
"""``make faults`` sets ``ENLACE_FAULT_SCALE`` to send more messages per fault."""

RECIPIENT = "US"


def scaled(count: int) -> int:
    """``count`` messages, times the scale."""
    return max(1, round(count * SCALE))


def lasting(seconds: float) -> float:
    """How long a fault lasts: ``seconds`` at a larger scale (``make faults``), a quarter
    of it in ``make test``'s small run (which must stay within the CI budget)."""
    return seconds if SCALE > 1 else seconds / 4


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:  # gone meanwhile
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


@dataclass
class FaultUp:
    """A demo deployment, its ``enlace up`` (once started) and its sinks' inboxes being
    counted (US's: :attr:`writes`; every sink's: :attr:`sink_writes`)."""

    dep: Deployment
    env: dict[str, str]
    writes: SinkWrites
    up: Running | None = None
    earlier: list[Running] = field(default_factory=list)
    sink_writes: dict[str, SinkWrites] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.sink_writes.setdefault(RECIPIENT, self.writes)

    @property
    def sinks(self) -> tuple[str, ...]:
        """The countries whose folder sink runs and is counted."""
        return tuple(self.sink_writes)

    @property
    def inbox(self) -> Path:
        return self.dep.home / "inbox" / RECIPIENT

    @property
    def url(self) -> str:
        """Where the exchange's NATS is: a cluster's URLs (``ENLACE_NATS_URL``), comma
        separated, or the embedded server's."""
        return self.env.get("ENLACE_NATS_URL") or f"nats://127.0.0.1:{self.env['ENLACE_NATS_PORT']}"

    @property
    def running(self) -> Running:
        assert self.up is not None, "enlace up was not started"
        return self.up

    def start(self) -> Running:
        """``enlace up`` (again, after a fault took the last one down)."""
        if self.up is not None:
            self.earlier.append(self.up)
        self.up = start_up(self.dep, self.env, adapter_log=None)
        wait_for(self._adapter_consumes, f"{RECIPIENT}'s adapter")
        return self.up

    def _adapter_consumes(self) -> bool:
        # One sink runs in a child of its own; several share one (its log: adapters.log).
        folder = self.dep.state_dir / "logs"
        logs = [*folder.glob(f"adapter-{RECIPIENT}*.log"), *folder.glob("adapters.log")]
        said = f"adapter {RECIPIENT}/folder consuming"
        return any(said in log.read_text(errors="replace") for log in logs)

    def processes(self) -> dict[int, list[str]]:
        """Every running process of this deployment: pid → command line."""
        home = str(self.dep.home.resolve())
        found = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit() and entry.name != str(os.getpid()):
                command = _cmdline(int(entry.name))
                if any(home in part for part in command):
                    found[int(entry.name)] = command
        return found

    def pid_of(self, kind: str) -> int:
        """The pid of the deployment's one ``nats-server`` or ``adapter`` (its sink child)."""
        pids = [pid for pid, cmd in self.processes().items() if _kind(cmd) == kind]
        assert len(pids) == 1, f"{kind}: {pids}"
        return pids[0]

    def wait_for_new(self, kind: str, old: int, seconds: float = WAIT) -> int | None:
        """The pid of a ``kind`` process other than ``old``, once there is one (or None)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            pids = [p for p, cmd in self.processes().items() if _kind(cmd) == kind and p != old]
            if pids:
                return pids[0]
            time.sleep(0.1)
        return None

    def stop(self) -> None:
        """SIGTERM every ``enlace up`` (side by side: hubs of one cluster each take
        seconds to drain), then SIGKILL whatever of the deployment still runs."""
        runs = [run.process for run in [*self.earlier, *([self.up] if self.up else [])]]
        for process in runs:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in runs:
            try:
                process.wait(WAIT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for pid in self.processes():
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)  # a stopped process cannot die of SIGTERM later
                os.kill(pid, signal.SIGKILL)


def _kind(command: list[str]) -> str:
    if command and Path(command[0]).name == "nats-server":
        return "nats-server"
    if "adapter" in command and "run" in command:
        return "adapter"
    if "up" in command:
        return "up"
    return "other"


@contextmanager
def fault_up(
    tmp_path: Path,
    env: dict[str, str] | None = None,
    start: bool = True,
    sinks: tuple[str, ...] = (RECIPIENT,),
) -> Iterator[FaultUp]:
    """A demo deployment under ``tmp_path`` running US's folder sink alone (or ``sinks``'),
    stopped at the end.

    Args:
        tmp_path: the test's folder.
        env: more ``ENLACE_*`` settings (or other variables) for ``enlace up``.
        start: start ``enlace up`` now (else the test prepares the deployment first).
        sinks: the countries whose folder sinks run and are counted (US among them).
    """
    assert RECIPIENT in sinks
    dep = Deployment(tmp_path / "dep")
    init_demo(dep)
    settings = dict(os.environ, ENLACE_NATS_PORT=str(free_port()))
    settings.update(ENLACE_ADAPTERS=json.dumps(list(sinks)), **(env or {}))
    writes = {cc: SinkWrites(dep.home / "inbox" / cc) for cc in sinks}
    fault = FaultUp(dep, settings, writes[RECIPIENT], sink_writes=writes)
    for each in writes.values():
        each.start()
    try:
        if start:
            fault.start()
        yield fault
    finally:
        for each in writes.values():
            each.stop()
        fault.stop()
