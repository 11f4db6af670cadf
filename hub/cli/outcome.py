"""``enlace outcome ID``: what the hub decided about a message its country sent, at any time.

The hub keeps the last outcome of each message in ``OUTCOMES_<cc>`` for
``hub.streams.outcome_max_age`` (7 days by default), readable by country ``cc``'s login
only: a publisher that stopped waiting (``enlace publish`` exit 7, ``--no-wait``, a crash,
a restart of either side) collects it here.

Exit codes are ``enlace publish``'s for the same outcome
(:func:`hub.cli.publish.outcome_exit_code`): 0 delivered (to every country, or some:
those refused are printed), 3 rejected (reason printed), 9 accepted but delivered to
nobody (each party's reason printed), 10 rejected as a duplicate; and 12 when no outcome
is kept for this id and country (it expired, the hub has not finished the message yet,
or the country never sent it), 6 NATS unreachable, 1 this login may not read the
country's outcomes or the hub keeps none on this NATS.
"""

from __future__ import annotations

import asyncio

import click
from nats.errors import TimeoutError as NatsTimeoutError

from adapters.client import EnlaceClient
from adapters.connection import NatsLogin, ServerErrors, connect
from adapters.errors import NatsUnreachable, OutcomeNotPermitted, StreamsMissing
from hub.cli.context import CliContext, fail, pass_cli, print_json
from hub.cli.exit_codes import ExitCode
from hub.cli.publish import country_login, describe_outcome, outcome_exit_code
from hub.config import HubSettings, load_settings
from hub.errors import ConfigError
from schemas.outcomes import Outcome
from schemas.subjects import outcome_stream

__all__ = ["outcome"]


async def _read(
    settings: HubSettings, login: NatsLogin, message_id: str, cc: str
) -> Outcome | None:
    errors = ServerErrors(settings.url, login.name)
    nc = await connect(settings.url, login, errors, keep_reconnecting=False)
    try:
        return await EnlaceClient(nc).outcome(message_id, cc)
    finally:
        await nc.close()


@click.command("outcome")
@click.argument("message_id", metavar="ID")
@click.option(
    "--country",
    required=True,
    help="The sender's country (its login reads its own outcomes only).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
@click.option("--nats-url", default=None, help="NATS URL (else settings).")
@pass_cli
def outcome(
    cli: CliContext, message_id: str, country: str, as_json: bool, nats_url: str | None
) -> None:
    """Print what the hub decided about message ID that COUNTRY sent (kept for 7 days).

    Exit 0 when the hub delivered it (countries it refused are printed), 3 when it rejected
    it, 9 when nobody receives it, 10 when it was refused as a duplicate, 12 when no
    outcome is kept for ID and COUNTRY: it expired, the hub has not finished it yet, or
    COUNTRY never sent it.
    """
    dep = cli.require_deployment()
    country = country.upper()
    try:
        outcome_stream(country)
    except ValueError:
        fail(f"--country {country!r} is not a country code (GT, HN, …)", ExitCode.USAGE)
    try:
        settings = load_settings(dep.home, nats_url=nats_url)
    except ConfigError as exc:
        fail(exc.description)
    login = country_login(dep, country)
    try:
        said = asyncio.run(_read(settings, login, message_id, country))
    except NatsUnreachable as exc:
        fail(exc.description, ExitCode.UNAVAILABLE)
    except (OutcomeNotPermitted, StreamsMissing) as exc:
        fail(exc.description)
    except (NatsTimeoutError, TimeoutError):
        fail(f"NATS at {settings.url} did not answer", ExitCode.UNAVAILABLE)
    if said is None:
        if as_json:
            print_json({"message_id": message_id, "status": "no_such_outcome", "outcome": None})
        else:
            click.echo(
                f"no such outcome: {message_id} from {country} (expired, not finished yet, "
                f"or never sent by {country})",
                err=True,
            )
        raise SystemExit(int(ExitCode.NO_OUTCOME))
    if as_json:
        print_json(
            {"message_id": said.message_id, "status": said.status.value, "outcome": said.to_dict()}
        )
    else:
        click.echo(describe_outcome(said))
    code = outcome_exit_code(said)
    if code is not ExitCode.OK:
        raise SystemExit(int(code))
