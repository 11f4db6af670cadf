"""``enlace reload``: ask the running ``enlace up`` to load governance again (SIGHUP)."""

from __future__ import annotations

import os
import signal

import click

from hub.cli.context import CliContext, fail, pass_cli
from hub.cli.exit_codes import ExitCode
from hub.up.runner import pid_file

__all__ = ["reload"]


@click.command("reload", help="Reload directory and agreements in the running hub (SIGHUP).")
@pass_cli
def reload(cli: CliContext) -> None:
    """Signal the hub started by ``enlace up`` for this deployment.

    The hub verifies the files first; a refused change is logged (file, line, reason) and
    recorded in the audit log, and the running version stays in force.
    """
    deployment = cli.require_deployment()
    path = pid_file(deployment)
    try:
        pid = int(path.read_text(encoding="ascii").strip())
    except FileNotFoundError:
        fail(
            f"the hub is not running here (no {path}); start it with `enlace up`",
            ExitCode.UNAVAILABLE,
        )
    except ValueError:
        fail(f"{path} does not hold a process id; remove it and restart `enlace up`")
    try:
        os.kill(pid, signal.SIGHUP)
    except ProcessLookupError:
        fail(
            f"no process {pid} (from {path}): the hub stopped without cleaning up; "
            "start it with `enlace up`",
            ExitCode.UNAVAILABLE,
        )
    except PermissionError:
        fail(f"not allowed to signal process {pid}; run as the user who ran `enlace up`")
    click.echo(f"reload requested (pid {pid}); the hub's log says whether it was accepted")
