"""A demo deployment for CLI tests: built once per session by ``init_demo``, copied per test.

Copies keep file modes (0600 keys, 0700 folders), so every test starts from the same
nine-party deployment without paying for ninety key generations each time.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner, Result

from hub.admin.init import DemoSummary, init_demo
from hub.cli import cli
from hub.deployment import Deployment

__all__ = ["DemoHome", "copy_demo", "run"]


@dataclass(frozen=True)
class DemoHome:
    deployment: Deployment
    summary: DemoSummary

    @property
    def home(self) -> Path:
        return self.deployment.home


_TEMPLATES: dict[Path, DemoSummary] = {}


def copy_demo(template_root: Path, target: Path) -> DemoHome:
    """A fresh copy of the session's demo deployment (built under ``template_root``)."""
    source = template_root / "demo-template"
    if source not in _TEMPLATES:
        _TEMPLATES[source] = init_demo(Deployment(source))
    shutil.copytree(source, target, symlinks=False)
    return DemoHome(Deployment(target), _TEMPLATES[source])


def run(home: Path | None, *args: str) -> Result:
    """Run ``enlace [--home HOME] ARGS…`` in-process and return its result."""
    prefix = ["--home", str(home)] if home is not None else []
    return CliRunner().invoke(cli, [*prefix, *args], catch_exceptions=False)
