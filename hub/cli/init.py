"""``enlace init DIR``: a new deployment folder, plain (``--party CC``…) or the demo."""

from __future__ import annotations

from pathlib import Path

import click

from hub.admin.init import InitSummary, init_demo, init_deployment
from hub.cli.context import CliContext, fail, pass_cli, print_json
from hub.cli.exit_codes import ExitCode
from hub.console.operators import DEMO_OPERATOR, add_demo_operator
from hub.deployment import Deployment
from hub.errors import InitError
from schemas.errors import EnlaceError

__all__ = ["init"]


@click.command(
    "init",
    short_help="Create a deployment folder: plain (--party CC …) or the nine-party demo.",
    help="Create a deployment in DIR (default: --home, else $ENLACE_HOME, else ./.enlace): "
    "enlace.yaml (settings), trust-root.yaml (the parties' "
    "commission public keys, the unsigned local anchor), directory.yaml (version 1, signed "
    "by every party), agreements/, keys/ (private keys, mode 0600) and state/.\n\n"
    "With --demo: the nine parties (BZ CR DO GT HN NI PA SV US), a point of contact per "
    "party and theme, every key on this machine, and signed samples of every message type "
    "in samples/. Without --demo, name the parties whose commission keys this machine "
    "holds with --party (repeatable); add points of contact later with `enlace keys new`.\n\n"
    "Refuses (exit 1) to touch a folder that already holds a deployment.",
)
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option("--demo", is_flag=True, help="The nine-party demo with samples.")
@click.option(
    "--party",
    "parties",
    multiple=True,
    metavar="CC",
    help="A party (ISO 3166-1 alpha-2) whose commission key is made here; repeatable.",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_cli
def init(
    cli: CliContext, directory: Path | None, demo: bool, parties: tuple[str, ...], as_json: bool
) -> None:
    deployment = Deployment(directory or cli.home)
    if demo and parties:
        fail("--demo makes all nine parties; leave out --party", ExitCode.USAGE)
    if not demo and not parties:
        fail(
            "name the parties whose commission keys this machine holds (--party GT "
            "--party US …), or use --demo for the nine-party demo",
            ExitCode.USAGE,
        )
    try:
        if demo:
            summary = init_demo(deployment)
        else:
            summary = init_deployment(deployment, [p.upper() for p in parties])
    except InitError as exc:
        fail(exc.description, ExitCode.FAILED)
    except EnlaceError as exc:
        fail(str(exc), ExitCode.FAILED)
    # Printed here once and never again: the deployment keeps only its argon2id hash.
    password = add_demo_operator(deployment) if demo else None
    if as_json:
        extra = {"operator": {"name": DEMO_OPERATOR, "password": password}} if password else {}
        print_json({**summary.as_dict(), **extra})
    else:
        _print_summary(summary)
        if password:
            click.echo(
                f"  console:    operator {DEMO_OPERATOR!r} (auditor), password {password}\n"
                "              (shown only now; stored as a hash; add others with "
                "`enlace operators add`)"
            )


def _print_summary(summary: InitSummary) -> None:
    kind = "demo deployment" if summary.demo else "deployment"
    click.echo(f"Created a {kind} in {summary.home}")
    click.echo(f"  parties:    {' '.join(summary.parties)}")
    click.echo(
        f"  directory:  version {summary.directory_version}, signed by all "
        f"{len(summary.parties)} parties; {summary.pocs} points of contact"
    )
    click.echo(f"  keys:       {summary.keys} private keys in {summary.home / 'keys'} (mode 0600)")
    if summary.samples:
        click.echo(f"  samples:    {len(summary.samples)} signed messages in samples/")
    click.echo(f"Next: enlace --home {summary.home} directory verify")
