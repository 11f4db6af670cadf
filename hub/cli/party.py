"""``enlace party kit CC DIR``: the files a country needs to run its side on its own machine."""

from __future__ import annotations

from pathlib import Path

import click

from hub.admin.party_kit import PartyKit, make_party_kit
from hub.cli.context import CliContext, fail, pass_cli, print_json
from hub.cli.exit_codes import ExitCode
from hub.errors import ConfigError, PartyKitError
from schemas.errors import GovernanceError

__all__ = ["party"]


@click.group("party", help="What a party takes away to run its side of the exchange.")
def party() -> None:
    pass


@party.command(
    "kit",
    help="Write into DIR what country CC needs to run its adapters, gateway and publish "
    "from its own machine, and nothing of any other party: its NATS login seed, the "
    "hub's NATS address, the public directory and trust root, its systems key (receipts), "
    "its points of contact's keys with --with-poc-keys, and enlace.yaml (party: CC, its "
    "sinks). Secrets are 0600, DIR 0700. Then, on CC's machine: "
    "`enlace --home DIR adapter run --all`.\n\n"
    "Refuses (exit 1) a DIR that is not empty unless --force.",
)
@click.argument("country", metavar="CC")
@click.argument("folder", metavar="DIR", type=click.Path(path_type=Path))
@click.option(
    "--nats-url",
    default=None,
    help="The hub's NATS as the party reaches it (default: the deployment's address).",
)
@click.option("--with-poc-keys", is_flag=True, help="Also its points of contact's private keys.")
@click.option("--force", is_flag=True, help="Write into a DIR that is not empty.")
@click.option("--json", "as_json", is_flag=True, help="Print what was written (paths only).")
@pass_cli
def kit(
    cli: CliContext,
    country: str,
    folder: Path,
    nats_url: str | None,
    with_poc_keys: bool,
    force: bool,
    as_json: bool,
) -> None:
    dep = cli.require_deployment()
    try:
        made = make_party_kit(dep, country, folder, nats_url, with_poc_keys, force)
    except (PartyKitError, ConfigError) as exc:
        fail(exc.description)
    except GovernanceError as exc:
        fail(str(exc), ExitCode.GOVERNANCE)
    if as_json:
        print_json(made.as_dict())
    else:
        _print(made)


def _print(made: PartyKit) -> None:
    secrets = sum(1 for f in made.files if f.secret)
    click.echo(f"Wrote {made.country}'s party kit to {made.folder} ({len(made.files)} files)")
    for file in made.files:
        click.echo(f"  {file.path}" + ("   (secret, 0600)" if file.secret else ""))
    click.echo(
        f"  NATS: {made.nats_url}; {secrets} secret file(s): hand the folder over privately."
    )
    click.echo(f"Next, on {made.country}'s machine: enlace --home <kit> adapter run --all")
