"""The sink adapter child of ``enlace up``: starting, supervising and restarting it.

One child, ``enlace adapter run --sink CC/NAME …``, runs every sink ``enlace up`` runs:
the FastStream app of :mod:`adapters.app`, a NATS connection per country, each logged in
as that country with the deployment's seed of it (``nats/seeds/CC.nk``, read by the child;
never the seed in its environment). Sinks a reload adds get a child of their own until
the next start. A child runs in its own session, its output in
``state/logs/<name>.log``: ``adapter-CC-NAME[+NAME…]`` for one country's sinks (the
demo's HN alone), ``adapters`` for several countries' (``adapters-2`` … for later ones).
One that dies is started again. Each is recorded (``state/children/<name>.json``,
:mod:`hub.up.pidfiles`) and dies with ``enlace up`` (:mod:`hub.server.parent_death`):
started from the event loop's thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from hub.deployment import Deployment
from hub.errors import ConfigError
from hub.server.logins import NatsUser
from hub.server.parent_death import dies_with_parent
from hub.server.process import terminate
from hub.up.pidfiles import Claim

__all__ = ["AdapterChildren", "AdapterProcess"]

log = structlog.get_logger("enlace.up")

_RESTART_DELAY = 2.0
_CHILD_STOP_TIMEOUT = 10.0


def _enlace_command() -> list[str]:
    beside = Path(sys.executable).parent / "enlace"
    if beside.is_file():
        return [str(beside)]
    # The CLI runs as a child's module: this package itself never imports it.
    return [sys.executable, "-m", "hub.cli"]


@dataclass
class AdapterProcess:
    """One adapter child: ``enlace adapter run --sink CC/NAME …``, for ``sinks``.

    Attributes:
        sinks: (country, sink name) of each sink it runs.
        name: its name in logs and records.
        home: the deployment it runs on.
        env: its environment.
        log_path: where its output goes.
    """

    sinks: list[tuple[str, str]]
    name: str
    home: Path
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0

    @property
    def countries(self) -> list[str]:
        """The countries whose sinks it runs, each once."""
        return list(dict.fromkeys(cc for cc, _ in self.sinks))

    @property
    def sink(self) -> str:
        """The sinks it runs, ``CC/NAME`` joined by ``+`` (in logs)."""
        return "+".join(f"{cc}/{name}" for cc, name in self.sinks)

    def command(self) -> list[str]:
        """The child's command line: its sinks in one process."""
        command = [*_enlace_command(), "--home", str(self.home), "adapter", "run"]
        for cc, name in self.sinks:
            command += ["--sink", f"{cc}/{name}"]
        return command

    def start(self) -> None:
        """Start the child, its output appended to :attr:`log_path`.

        Raises:
            OSError: the command cannot be started.
        """
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as out:
            self.process = subprocess.Popen(  # noqa: S603 (our own CLI, fixed arguments)
                self.command(),
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self.env,
                # Own session: a Ctrl-C in the terminal reaches `enlace up` only, which
                # stops the hub first and the adapters after it.
                start_new_session=True,
                # SIGTERM when `enlace up` dies; only a prctl call before exec.
                preexec_fn=dies_with_parent(),
            )
        for country, sink in self.sinks:  # a line per sink: what runs where
            log.info(
                "adapter_started", country=country, sink=sink, child=self.name, pid=self.process.pid
            )

    def exited(self) -> int | None:
        """The child's exit code, or None while it runs (or before it started)."""
        return None if self.process is None else self.process.poll()

    def stop(self, timeout: float = _CHILD_STOP_TIMEOUT) -> None:
        """Ask the child to stop (SIGTERM), killing it after ``timeout`` seconds."""
        terminate(self.process, timeout)


@dataclass
class AdapterChildren:
    """The adapter children of one ``enlace up``.

    Attributes:
        deployment: whose home the children run on, and where their logs go.
        nats_url: the server they connect to.
        login: the deployment's login of a country; None when the URL carries its own.
        claim: where each child is recorded (set once ``enlace up`` holds the deployment).
        processes: the children, running or being restarted.
    """

    deployment: Deployment
    nats_url: str
    login: Callable[[str], NatsUser | None]
    claim: Claim | None = None
    processes: list[AdapterProcess] = field(default_factory=list)

    @property
    def running(self) -> list[tuple[str, str]]:
        """(country, sink) of every sink the children run."""
        return [pair for a in self.processes for pair in a.sinks]

    async def start(self, sinks: list[tuple[str, str]]) -> None:
        """Start one child for ``sinks`` ((country, sink) pairs), all countries' together.

        Raises:
            ConfigError: a country's login is missing or wrong.
            OSError: the child cannot be started.
        """
        if not sinks:
            return
        countries = list(dict.fromkeys(cc for cc, _ in sinks))
        if len(countries) == 1:
            name = f"adapter-{countries[0]}-{'+'.join(n for _, n in sinks)}"
        else:
            several = sum(1 for p in self.processes if len(p.countries) > 1)
            name = "adapters" + (f"-{several + 1}" if several else "")
        proc = AdapterProcess(
            sinks=list(sinks),
            name=name,
            home=self.deployment.home,
            env=self._env(countries),
            log_path=self.deployment.state_dir / "logs" / f"{name}.log",
        )
        self._launch(proc)
        self.processes.append(proc)

    def _launch(self, proc: AdapterProcess) -> None:
        """Start ``proc`` and record it (a pid and start time the next run can check)."""
        proc.start()
        if self.claim is not None and proc.process is not None:
            self.claim.record_child(proc.name, proc.process.pid, "adapter")

    def _env(self, countries: list[str]) -> dict[str, str]:
        env = dict(os.environ)
        env["ENLACE_NATS_URL"] = self.nats_url
        users = [self.login(cc) for cc in countries]  # each checked: ConfigError if wrong
        if any(user is not None for user in users):
            # The child logs in as each country with the deployment's seed of it
            # (adapters.connection.login_for): no single login may come from here.
            for variable in (
                "ENLACE_NATS_NKEY_SEED_FILE",
                "ENLACE_NATS_INBOX_PREFIX",
                "ENLACE_NATS_USER",
                "ENLACE_NATS_PASSWORD",
            ):
                env.pop(variable, None)
        return env

    async def supervise(self, stop: asyncio.Event) -> None:
        """Start again every child that exits, until ``stop`` is set."""
        while not stop.is_set():
            for proc in self.processes:
                code = proc.exited()
                if code is not None and not stop.is_set():
                    proc.restarts += 1
                    log.warning(
                        "adapter_exited",
                        countries=proc.countries,
                        sink=proc.sink,
                        code=code,
                        log=str(proc.log_path),
                        restarts=proc.restarts,
                    )
                    self._launch(proc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), _RESTART_DELAY)

    async def restart(self, rotated: list[str]) -> list[str]:
        """Restart the children running sinks of the countries whose login the server now
        knows anew.

        The server closed their connections when it dropped the old public key, and
        nats-py would reconnect for ever with that key (it computes the public key once,
        at connect); a new process logs in with the new seed from the same file.

        Returns:
            ``CC/sink`` of each sink of each child restarted.
        """
        loop = asyncio.get_running_loop()
        restarted = []
        for proc in [a for a in self.processes if set(a.countries) & set(rotated)]:
            # Out of the list while it restarts, so that the supervisor does not start it too.
            self.processes.remove(proc)
            try:
                await loop.run_in_executor(None, proc.stop)
                self._launch(proc)
                restarted += [f"{cc}/{name}" for cc, name in proc.sinks]
            except OSError as err:
                log.error("adapter_not_restarted", sink=proc.sink, error=str(err))
            finally:
                self.processes.append(proc)
        return restarted

    async def start_new(
        self, sinks: list[tuple[str, str]], permitted: bool
    ) -> list[tuple[str, str]]:
        """Start the children of ``sinks`` if the server took their permissions.

        Returns:
            The sinks started; none when the server lacks their permissions or a start
            failed (logged, with what to do).
        """
        if not sinks:
            return []
        if not permitted:
            log.error(
                "adapters_not_started",
                sinks=[f"{cc}/{name}" for cc, name in sinks],
                reason="the server did not take their permissions; restart `enlace up`",
            )
            return []
        try:
            await self.start(sinks)
        except (ConfigError, OSError) as err:
            log.error("adapters_not_started", error=str(err), reason="restart `enlace up`")
            return []
        return sinks

    async def stop(self) -> None:
        """Stop every child (each gets its time to finish what it writes)."""
        loop = asyncio.get_running_loop()
        await asyncio.gather(*(loop.run_in_executor(None, a.stop) for a in self.processes))
        if self.claim is not None:
            for proc in self.processes:
                self.claim.forget_child(proc.name)
