"""``enlace outcome ID`` and ``enlace ledger ID``: what the hub decided about a message its
country sent, and what became of it at each party since, at any time.

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

``enlace ledger ID`` prints the originator's delivery ledger (:mod:`schemas.ledger`): per
party, routed in which view under which agreement and its sinks' signed receipts (when,
delivered or dead-lettered and why), or not routed and why. ``--wait S`` waits up to S
seconds for a receipt from every party routed to (exit 7 when one is still missing).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import click
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.errors import APIError

from adapters.client import EnlaceClient
from adapters.connection import NatsLogin, ServerErrors, connect
from adapters.errors import NatsUnreachable, OutcomeNotPermitted, StreamsMissing
from hub.cli.context import CliContext, fail, pass_cli, print_json
from hub.cli.exit_codes import ExitCode
from hub.cli.publish import country_login, describe_outcome, outcome_exit_code
from hub.config import HubSettings, load_settings
from hub.errors import ConfigError
from schemas.ledger import Ledger
from schemas.subjects import outcome_stream

__all__ = ["ledger", "outcome"]

T = TypeVar("T")
Reading = Callable[[EnlaceClient], Awaitable[T]]

_COUNTRY_HELP = "The sender's country (its login reads its own outcomes only)."
_POLL = 0.5


async def _read(settings: HubSettings, login: NatsLogin, read: Reading[T]) -> T:
    errors = ServerErrors(settings.url, login.name)
    nc = await connect(settings.url, login, errors, keep_reconnecting=False)
    try:
        return await read(EnlaceClient(nc))
    finally:
        await nc.close()


def _kept(cli: CliContext, country: str, nats_url: str | None, read: Reading[T]) -> T:
    """Run ``read`` with ``country``'s login; fail as the module docstring says."""
    dep = cli.require_deployment()
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
        return asyncio.run(_read(settings, login, read))
    except NatsUnreachable as exc:
        fail(exc.description, ExitCode.UNAVAILABLE)
    except (OutcomeNotPermitted, StreamsMissing) as exc:
        fail(exc.description)
    except APIError as exc:
        fail(f"NATS at {settings.url} refused the read: {exc.description}")
    except (NatsTimeoutError, TimeoutError):
        fail(f"NATS at {settings.url} did not answer", ExitCode.UNAVAILABLE)


def _none_kept(message_id: str, country: str, as_json: bool) -> None:
    if as_json:
        print_json({"message_id": message_id, "status": "no_such_outcome", "outcome": None})
    else:
        click.echo(
            f"no such outcome: {message_id} from {country} (expired, not finished yet, "
            f"or never sent by {country})",
            err=True,
        )
    raise SystemExit(int(ExitCode.NO_OUTCOME))


@click.command("outcome")
@click.argument("message_id", metavar="ID")
@click.option("--country", required=True, help=_COUNTRY_HELP)
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
    country = country.upper()
    said = _kept(cli, country, nats_url, lambda client: client.outcome(message_id, country))
    if said is None:
        _none_kept(message_id, country, as_json)
        return
    if as_json:
        print_json(
            {"message_id": said.message_id, "status": said.status.value, "outcome": said.to_dict()}
        )
    else:
        click.echo(describe_outcome(said))
    code = outcome_exit_code(said)
    if code is not ExitCode.OK:
        raise SystemExit(int(code))


async def _ledger_until(
    client: EnlaceClient, message_id: str, country: str, wait: float
) -> Ledger | None:
    """The ledger; with ``wait``, once every party routed to has receipted (or time is up)."""
    deadline = time.monotonic() + wait
    while True:
        kept = await client.ledger(message_id, country)
        awaiting = kept is not None and any(r.state == "awaiting_receipt" for r in kept.rows())
        if not awaiting or time.monotonic() >= deadline:
            return kept
        await asyncio.sleep(_POLL)


def describe_ledger(kept: Ledger) -> str:
    """One line per party, for people."""
    lines = [describe_outcome(kept.outcome)]
    for row in kept.rows():
        if row.state == "not_routed":
            lines.append(f"  {row.country}  not routed: {row.reason}")
            continue
        line = f"  {row.country}  {row.state}  view {row.view}  agreement {row.agreement}"
        lines.append(line + (f": {row.reason}" if row.reason else ""))
        for r in row.receipts:
            lines.append(
                f"      {r.sink}: {r.status} at {r.receipted_at:%Y-%m-%d %H:%M:%SZ} "
                f"(receipt {r.receipt_digest[:19]}…)"
            )
    return "\n".join(lines)


@click.command("ledger")
@click.argument("message_id", metavar="ID")
@click.option("--country", required=True, help=_COUNTRY_HELP)
@click.option(
    "--wait",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Seconds to wait for a receipt from every party routed to.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the ledger as JSON.")
@click.option("--nats-url", default=None, help="NATS URL (else settings).")
@pass_cli
def ledger(
    cli: CliContext,
    message_id: str,
    country: str,
    wait: float,
    as_json: bool,
    nats_url: str | None,
) -> None:
    """Print what became of message ID that COUNTRY sent, at each party.

    For each party routed to: the view, the agreement and each of its sinks' signed
    receipts (delivered or dead-lettered, when); for each other: why not. Exit 0 when
    every party routed to has receipted it, 7 when one has not (yet: see --wait), 12 when
    no outcome is kept for ID and COUNTRY; a refused message exits as `enlace outcome`.
    """
    country = country.upper()
    kept = _kept(
        cli,
        country,
        nats_url,
        lambda client: _ledger_until(client, message_id, country, wait),
    )
    if kept is None:
        _none_kept(message_id, country, as_json)
        return
    if as_json:
        print_json(kept.to_dict())
    else:
        click.echo(describe_ledger(kept))
    if not kept.outcome.accepted:
        raise SystemExit(int(outcome_exit_code(kept.outcome)))
    if any(row.state == "awaiting_receipt" for row in kept.rows()):
        raise SystemExit(int(ExitCode.TIMEOUT))
