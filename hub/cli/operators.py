"""``enlace operators add|remove|list``: the console's operator accounts.

Passwords are asked for (twice, hidden) or read from ``--password-stdin`` for scripts;
only their argon2id hashes are stored, in ``<home>/operators.json`` (mode 0600).
"""

from __future__ import annotations

import sys

import click

from hub.cli.context import CliContext, fail, pass_cli, print_json
from hub.cli.exit_codes import ExitCode
from hub.console.errors import ConsoleError
from hub.console.operators import OperatorStore, Role

__all__ = ["operators"]


@click.group(help="Operator accounts of the console (role viewer or auditor).")
def operators() -> None:
    pass


@operators.command("add", help="Create an operator account; its password is asked for.")
@click.argument("name")
@click.option(
    "--role",
    type=click.Choice([r.value for r in Role]),
    default=Role.VIEWER.value,
    show_default=True,
    help="viewer: metadata only; auditor: may also open quarantined bytes (audited).",
)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@pass_cli
def add(cli: CliContext, name: str, role: str, password_stdin: bool) -> None:
    store = OperatorStore(cli.require_deployment())
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        store.add(name, Role(role), password)
    except ConsoleError as exc:
        fail(str(exc), ExitCode.FAILED)
    click.echo(f"operator {name} added ({role}); only its password's hash is kept")


@operators.command("remove", help="Delete an operator account; its sessions end.")
@click.argument("name")
@pass_cli
def remove(cli: CliContext, name: str) -> None:
    try:
        OperatorStore(cli.require_deployment()).remove(name)
    except ConsoleError as exc:
        fail(str(exc), ExitCode.FAILED)
    click.echo(f"operator {name} removed")


@operators.command("list", help="The operator accounts and their roles.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_cli
def list_(cli: CliContext, as_json: bool) -> None:
    try:
        accounts = OperatorStore(cli.require_deployment()).list()
    except ConsoleError as exc:
        fail(str(exc), ExitCode.FAILED)
    if as_json:
        print_json([{"name": op.name, "role": op.role.value} for op in accounts])
        return
    if not accounts:
        click.echo("no operators; add one with `enlace operators add NAME --role auditor`")
    for op in accounts:
        click.echo(f"{op.name}\t{op.role.value}")
