"""The ``enlace`` command line: a root group that gathers the command modules.

Click commands only: this is the one place in the hub that prints for people or ends the
process (with the codes of :mod:`hub.cli.exit_codes`); the work itself is in the rooms.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points

import click

from hub.cli.context import CliContext
from hub.cli.exit_codes import EXIT_CODES_HELP

__all__ = ["cli", "main"]

# (module, attribute) of every built-in command or group; each module owns one job.
COMMANDS: list[tuple[str, str]] = [
    ("hub.cli.message", "message"),
    ("hub.cli.amend", "correct"),
    ("hub.cli.amend", "retract"),
    ("hub.cli.schemas_cmd", "schemas"),
    ("hub.cli.agreements", "agreements"),
    ("hub.cli.init", "init"),
    ("hub.cli.keys", "keys"),
    ("hub.cli.directory", "directory"),
    ("hub.cli.signing", "sign"),
    ("hub.cli.signing", "verify"),
    ("hub.cli.audit", "audit"),
    ("hub.cli.up", "up"),
    ("hub.cli.status", "status"),
    ("hub.cli.reload", "reload"),
    ("hub.cli.publish", "publish"),
    ("hub.cli.consent", "consent"),
    ("hub.cli.party", "party"),
    ("hub.cli.outcome", "outcome"),
    ("hub.cli.outcome", "ledger"),
    ("hub.cli.nats_cmd", "nats_group"),
    ("hub.cli.tls", "tls"),
    ("hub.cli.cluster", "cluster"),
    ("hub.cli.operators", "operators"),
    ("hub.cli.console", "console"),
    ("hub.cli.quarantine", "quarantine"),
    ("hub.cli.rejected", "rejected"),
    ("hub.cli.witness", "witness"),
]


@click.group(
    help="Enlace: the signed, audited exchange of the Central America–United States "
    f"security dialogue.\n\n{EXIT_CODES_HELP}",
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option(
    "--home",
    type=click.Path(file_okay=False, path_type=str),
    default=None,
    help="Deployment folder (else $ENLACE_HOME, else ./.enlace).",
)
@click.version_option(package_name="enlace")
@click.pass_context
def cli(ctx: click.Context, home: str | None) -> None:
    ctx.obj = CliContext.from_flag(home)


def _register() -> None:
    for module_name, attr in COMMANDS:
        command = getattr(importlib.import_module(module_name), attr)
        cli.add_command(command)
    for ep in entry_points(group="enlace.commands"):
        cli.add_command(ep.load(), name=ep.name)


_register()


def main() -> None:
    """Run the ``enlace`` command line (the console script)."""
    cli()
