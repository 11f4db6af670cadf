"""``enlace tls init``: the deployment CA and the NATS server's certificate."""

from __future__ import annotations

import click

from hub.cli.context import CliContext, fail, pass_cli, print_json
from hub.config import load_settings
from hub.errors import ConfigError
from hub.server.tls import CA_DAYS, SERVER_DAYS, init_tls, server_names

__all__ = ["tls"]


@click.group("tls", help="TLS of the deployment's NATS: its own CA and the server's certificate.")
def tls() -> None:
    pass


@tls.command(
    "init",
    help="Make the deployment CA (if there is none, or with --new-ca) and issue the NATS "
    f"server's certificate (valid {SERVER_DAYS} days; the CA {CA_DAYS} days). The CA's "
    "key goes to keys/tls/ca-key.pem (0600), its certificate to nats/tls/ca.pem (every "
    "client trusts it, a party kit carries it), the server's to nats/tls/server.pem and "
    "server-key.pem (0600). The certificate names 127.0.0.1, ::1, localhost, nats_host "
    "and tls_names of enlace.yaml, and each --name. Run it again to renew the server "
    "certificate under the same CA (no client notices); then restart `enlace up`. "
    "With --new-ca every party needs a new kit (`enlace party kit`).",
)
@click.option(
    "--name",
    "names",
    multiple=True,
    help="A DNS name or IP address other machines reach NATS by; repeatable.",
)
@click.option("--new-ca", is_flag=True, help="Replace the CA too (party kits must be re-issued).")
@click.option("--json", "as_json", is_flag=True, help="Print what was made (paths, no keys).")
@pass_cli
def init(cli: CliContext, names: tuple[str, ...], new_ca: bool, as_json: bool) -> None:
    dep = cli.require_deployment()
    try:
        settings = load_settings(dep.home)
        made = init_tls(
            dep,
            server_names(settings.nats_host, [*settings.tls_names, *names]),
            settings.deployment_id or dep.home.resolve().name,
            new_ca=new_ca,
        )
    except ConfigError as exc:
        fail(exc.description)
    if as_json:
        print_json(made.as_dict())
        return
    what = "a new CA and " if made.new_ca else ""
    click.echo(f"Made {what}a server certificate for NATS in {made.files.server_cert.parent}")
    click.echo(f"  names:       {' '.join(made.names)}")
    click.echo(f"  server cert: valid until {made.server_not_after:%Y-%m-%d}")
    click.echo(
        f"  CA:          {made.files.ca_cert} (valid until {made.ca_not_after:%Y-%m-%d}), "
        f"SHA-256 {made.fingerprint}"
    )
    click.echo(f"  CA key:      {made.files.ca_key} (0600; only needed to issue certificates)")
    if made.new_ca:
        click.echo("  Give each party a new kit (`enlace party kit`): it carries the new CA.")
    click.echo("  Restart `enlace up` for the server to use it.")
