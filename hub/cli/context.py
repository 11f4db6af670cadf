"""What every command gets: the deployment it works on, and helpers to print and fail."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import click

from hub.cli.exit_codes import ExitCode
from hub.deployment import Deployment, resolve_home

__all__ = ["CliContext", "fail", "pass_cli", "print_json"]


@dataclass(frozen=True)
class CliContext:
    home: Path

    @classmethod
    def from_flag(cls, home: str | None) -> CliContext:
        return cls(home=resolve_home(home))

    @property
    def deployment(self) -> Deployment:
        return Deployment(self.home)

    def require_deployment(self) -> Deployment:
        """The deployment, or exit 4 with what to do when there is none."""
        dep = self.deployment
        if not dep.exists():
            fail(
                f"no deployment at {dep.home} (no enlace.yaml); create one with "
                f"`enlace init {dep.home} --demo`, or pass --home / set ENLACE_HOME",
                ExitCode.NO_DEPLOYMENT,
            )
        return dep


pass_cli = click.make_pass_decorator(CliContext)


def print_json(data: Any) -> None:
    """Print ``data`` as one line of JSON, keys sorted (``--json`` output)."""
    click.echo(json.dumps(data, ensure_ascii=False, sort_keys=True, default=str))


def fail(message: str, code: ExitCode = ExitCode.FAILED) -> NoReturn:
    """Print ``error: message`` to stderr and exit with ``code``."""
    click.echo(f"error: {message}", err=True)
    raise SystemExit(int(code))
