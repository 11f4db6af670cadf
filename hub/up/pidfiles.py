"""Who ``enlace up`` started, so that the next one can tell its leftovers from strangers.

An ``enlace up`` writes, under the deployment's ``state/``:

- ``up.lock``: locked (``flock``) while it runs; the kernel lets go when it dies, however
  it dies, so a second ``enlace up`` of the same deployment knows at once whether the
  first still runs (it is then refused, never killed). An ``enlace up`` with its embedded
  server holds it alone; hub replicas on a server given by URL (``--nats-url``) share it
  with each other, never with an embedded one;
- ``ups/<pid>.json``: its own record, for the pid a refusal names;
- ``children/<name>.json``: one record per child (nats-server, each adapter);
- ``hub.pid`` (written by :mod:`hub.up.runner` once it is ready): for ``enlace reload``.

A record holds the pid, the process's start time (field 22 of ``/proc/<pid>/stat``, clock
ticks after boot), the boot it started in and its command line. A process is taken for
the one recorded only if all of them match: a pid reused by another program since has
another start time or command line, and is left alone.

At start, :func:`claim` takes the lock and, when no other ``enlace up`` of the deployment
runs, stops the recorded children that still run (left by one that died before it could
stop them: SIGTERM to each child's process group, SIGKILL after a grace time); it refuses
with their pids if any survives.
Children also die with their parent (:mod:`hub.server.parent_death`): these records are
the second line, for what that signal cannot cover (a platform without it, an older run).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

import structlog

from hub.errors import UpBusy
from hub.server.private_files import write_private

__all__ = ["Claim", "ProcessRecord", "claim", "read_record", "stop_leftovers"]

log = structlog.get_logger("enlace.up")

_PROC = Path("/proc")
_GRACE = 10.0  # a leftover nats-server or adapter stops cleanly well within this
_KILL_WAIT = 5.0


def _boot_id() -> str:
    try:
        return (_PROC / "sys/kernel/random/boot_id").read_text(encoding="ascii").strip()
    except OSError:
        return ""


def _started(pid: int) -> int | None:
    """The start time of a live (not zombie) ``pid``, in clock ticks after boot."""
    try:
        stat = (_PROC / str(pid) / "stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    # Field 2 (the command name) may hold spaces and parentheses: read after its last ")".
    fields = stat.rpartition(")")[2].split()
    if len(fields) < 20 or fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def _cmdline(pid: int) -> tuple[str, ...] | None:
    try:
        raw = (_PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return None
    return tuple(arg.decode(errors="replace") for arg in raw.split(b"\0")[:-1])


def _settled_cmdline(pid: int, wait: float = 1.0) -> tuple[str, ...] | None:
    """The command line of ``pid`` once its exec has finished.

    A child just returned by ``Popen`` may still be inside ``execve``: its new memory is
    mapped but its arguments not yet, and ``/proc/<pid>/cmdline`` reads empty for a moment.
    """
    deadline = time.monotonic() + wait
    cmdline = _cmdline(pid)
    while cmdline == () and time.monotonic() < deadline:
        time.sleep(0.005)
        cmdline = _cmdline(pid)
    return cmdline


@dataclass(frozen=True)
class ProcessRecord:
    """One process as ``enlace up`` recorded it.

    Attributes:
        pid: its process id.
        started: its start time, clock ticks after boot (``/proc/<pid>/stat``).
        boot: the boot it started in (``/proc/sys/kernel/random/boot_id``).
        cmdline: its command line as ``/proc/<pid>/cmdline`` showed it.
        role: ``up``, ``nats-server`` or ``adapter``.
    """

    pid: int
    started: int
    boot: str
    cmdline: tuple[str, ...]
    role: str

    @classmethod
    def of(cls, pid: int, role: str) -> ProcessRecord | None:
        """The record of the running process ``pid``; None if it is gone (or no ``/proc``)."""
        started, cmdline = _started(pid), _settled_cmdline(pid)
        if started is None or cmdline is None:
            return None
        return cls(pid, started, _boot_id(), cmdline, role)

    def runs(self) -> bool:
        """Whether this very process still runs: same pid, start time, boot, command line."""
        return (
            _started(self.pid) == self.started
            and _cmdline(self.pid) == self.cmdline
            and _boot_id() == self.boot
        )

    def write(self, path: Path) -> None:
        """Save the record (atomically; 0600: a command line may name private paths)."""
        write_private(path, json.dumps(asdict(self), indent=1).encode())


def read_record(path: Path) -> ProcessRecord | None:
    """The record saved in ``path``; None if there is none or it is not a record."""
    try:
        data: dict[str, Any] = json.loads(path.read_bytes())
        return ProcessRecord(
            pid=int(data["pid"]),
            started=int(data["started"]),
            boot=str(data["boot"]),
            cmdline=tuple(str(a) for a in data["cmdline"]),
            role=str(data["role"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _signal(record: ProcessRecord, sig: signal.Signals) -> None:
    """``sig`` to the record's process group when it leads one (its own children too)."""
    with contextlib.suppress(ProcessLookupError):
        if os.getpgid(record.pid) == record.pid:
            os.killpg(record.pid, sig)
        else:
            os.kill(record.pid, sig)


def _wait_gone(records: list[ProcessRecord], seconds: float) -> list[ProcessRecord]:
    deadline = time.monotonic() + seconds
    alive = [r for r in records if r.runs()]
    while alive and time.monotonic() < deadline:
        time.sleep(0.1)
        alive = [r for r in alive if r.runs()]
    return alive


def stop_leftovers(children_dir: Path, grace: float = _GRACE) -> list[ProcessRecord]:
    """Stop the recorded children that still run; forget every record.

    Each is checked (:meth:`ProcessRecord.runs`) right before it is signalled; a record
    whose pid is gone or now another program's is only removed.

    Args:
        children_dir: the folder of the records (``state/children``).
        grace: seconds between SIGTERM and SIGKILL.

    Returns:
        The processes stopped.

    Raises:
        UpBusy: some could not be stopped (another user's, or they outlived SIGKILL).
    """
    files = sorted(children_dir.glob("*.json")) if children_dir.is_dir() else []
    records = {path: read_record(path) for path in files}
    running = [r for r in records.values() if r is not None and r.runs()]
    refused: list[ProcessRecord] = []
    for record in running:
        try:
            _signal(record, signal.SIGTERM)
        except PermissionError:
            refused.append(record)
    left = _wait_gone([r for r in running if r not in refused], grace)
    for record in left:
        with contextlib.suppress(PermissionError):
            _signal(record, signal.SIGKILL)
    survivors = refused + _wait_gone(left, _KILL_WAIT)
    if survivors:
        pids = [r.pid for r in survivors]
        raise UpBusy(
            "processes left by an `enlace up` of this deployment that stopped without "
            "stopping them still run and cannot be stopped: "
            + ", ".join(f"{r.role} pid {r.pid}" for r in survivors)
            + "; stop them (as their user: kill "
            + " ".join(map(str, pids))
            + "), then run `enlace up` again",
            pids,
        )
    for record in running:
        log.warning("leftover_stopped", role=record.role, pid=record.pid)
    for path in files:
        path.unlink(missing_ok=True)
    return running


@dataclass
class Claim:
    """This ``enlace up``'s hold on its deployment: the lock, and where records go."""

    state_dir: Path
    lock: IO[bytes]

    @property
    def children_dir(self) -> Path:
        return self.state_dir / "children"

    def record_child(self, name: str, pid: int, role: str) -> None:
        """Record the child ``pid`` just started (nothing if it is already gone).

        Args:
            name: its record's file name, e.g. ``nats-server``, ``adapter-HN-folder``.
            pid: its process id.
            role: ``nats-server`` or ``adapter``.
        """
        record = ProcessRecord.of(pid, role)
        if record is not None:
            record.write(self.children_dir / f"{name}.json")

    def forget_child(self, name: str) -> None:
        """The child ``name`` stopped: its record goes."""
        (self.children_dir / f"{name}.json").unlink(missing_ok=True)

    def release(self) -> None:
        """Give the deployment up (at the end of a clean stop)."""
        (self.state_dir / "ups" / f"{os.getpid()}.json").unlink(missing_ok=True)
        self.lock.close()


def _running_ups(state_dir: Path) -> list[int]:
    """The ``enlace up`` processes of this deployment whose records say they run."""
    records = [read_record(p) for p in sorted((state_dir / "ups").glob("*.json"))]
    return [r.pid for r in records if r is not None and r.runs()]


def _take(lock: IO[bytes], mode: int) -> bool:
    try:
        fcntl.flock(lock, mode | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _live_up_in(hub_pid: Path) -> int | None:
    """The pid in ``hub_pid`` if it names a running ``enlace up`` (one without records)."""
    try:
        pid = int(hub_pid.read_text(encoding="ascii").strip())
    except (OSError, ValueError):
        return None
    cmdline = _cmdline(pid) or ()
    enlace = any(a.endswith(("/enlace", "hub.cli")) or a == "enlace" for a in cmdline)
    return pid if enlace and "up" in cmdline and pid != os.getpid() else None


def _busy(pids: list[int]) -> UpBusy:
    listed = ", ".join(map(str, pids))
    who = f" (pid {listed})" if pids else ""
    how = f"kill -TERM {' '.join(map(str, pids))}" if pids else "Ctrl-C in its terminal"
    return UpBusy(
        f"`enlace up` already runs for this deployment{who}; stop it first ({how}), or "
        "apply changes to it with `enlace reload`",
        pids,
    )


def claim(state_dir: Path, hub_pid: Path, alone: bool = True) -> Claim:
    """Take the deployment for this ``enlace up``, after stopping what a dead one left.

    Args:
        state_dir: the deployment's ``state/`` folder.
        hub_pid: the pid file ``enlace reload`` reads; removed when its process is gone.
        alone: whether no other ``enlace up`` may run (true with the embedded server);
            false lets hub replicas on a server given by URL run side by side.

    Returns:
        The claim: release it when this ``enlace up`` stops.

    Raises:
        UpBusy: another ``enlace up`` of this deployment runs (its pid), or what a dead
            one left cannot be stopped (their pids).
    """
    state_dir.mkdir(parents=True, exist_ok=True)
    lock = (state_dir / "up.lock").open("ab")
    try:
        if _take(lock, fcntl.LOCK_EX):
            # Nobody holds the lock, so the last `enlace up` died; its record may still
            # match a live process only if the lock file was removed under it: refuse.
            others = _running_ups(state_dir) or [
                p for p in [_live_up_in(hub_pid)] if p is not None
            ]  # the second: an `enlace up` from before these records
            if others:
                raise _busy(others)
            stop_leftovers(state_dir / "children")
            for dead in (state_dir / "ups").glob("*.json"):
                dead.unlink()  # none runs (checked above)
            if hub_pid.exists():
                log.warning("stale_pid_file", path=str(hub_pid))
                hub_pid.unlink()
            if not alone and not _take(lock, fcntl.LOCK_SH):  # replicas may join now
                raise _busy(_running_ups(state_dir))
        elif alone or not _take(lock, fcntl.LOCK_SH):
            raise _busy(_running_ups(state_dir))
        me = ProcessRecord.of(os.getpid(), "up")
        if me is not None:
            me.write(state_dir / "ups" / f"{os.getpid()}.json")
    except BaseException:
        lock.close()
        raise
    return Claim(state_dir, lock)
