"""``enlace publish``: sign (unless signed), publish, wait for the hub's outcome.

Exit codes: 0 accepted and delivered (also when some countries named in ``to`` are
refused: they are printed), 3 rejected by the hub (reason printed), 9 accepted but
delivered to nobody (each party's reason printed), 10 duplicate (this id was published
before, whether JetStream's de-duplication window or the hub's record of seen ids caught
it: nothing was delivered again), 6 NATS unreachable, 7 no outcome in time, 8 the
country's ingress quota is full (nothing published: try again later), 11 the NATS server
refused this login the subject (a country publishes only as itself), 1 the message or
key cannot be used as given (e.g. too_large).

On a party kit (``party:`` in its ``enlace.yaml``) it logs in as that party; on the hub's
machine as the sender's country (:mod:`adapters.connection`).
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import click
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from adapters.client import EnlaceClient, PublishResult
from adapters.config import party_from
from adapters.connection import NatsLogin, ServerErrors, connect, login_for
from adapters.errors import (
    AdapterConfigError,
    IngressFull,
    NatsUnreachable,
    OutcomeTimeout,
    PublishForbidden,
)
from hub.cli.consent import attach_consents
from hub.cli.context import CliContext, fail, pass_cli, print_json
from hub.cli.directory import directory_in_force, signing_key
from hub.cli.exit_codes import ExitCode
from hub.config import HubSettings, load_settings
from hub.deployment import Deployment
from hub.errors import ConfigError
from hub.governance.keystore import KeyStore
from hub.server.logins import load_user, read_logins
from schemas.directory import Directory
from schemas.errors import EnlaceError, MessageError
from schemas.outcomes import Outcome, OutcomeStatus

__all__ = [
    "country_login",
    "describe_outcome",
    "exit_code_of",
    "outcome_exit_code",
    "publish",
]


def _read_message(file: str) -> tuple[bytes, str | None]:
    """The message bytes and, for a file with ``<file>.jws`` beside it, its signature."""
    if file == "-":
        return sys.stdin.buffer.read(), None
    path = Path(file)
    if not path.is_file():
        fail(f"{path}: no such file", ExitCode.USAGE)
    beside = path.with_name(path.name + ".jws")
    jws = beside.read_text(encoding="ascii").strip() if beside.is_file() else None
    return path.read_bytes(), jws


def _signing_key(
    dep: Deployment, directory: Directory, poc: str, key_file: Path | None
) -> tuple[str, Ed25519PrivateKey]:
    """The POC's key: from ``--key`` (its kid found in the directory) or the keystore."""
    record = directory.poc(poc)
    if record is None:
        fail(f"no point of contact {poc!r} in the directory; see `enlace directory show`")
    store = KeyStore(dep.keys_dir)
    return signing_key(record.keys, lambda: store.current_poc_key(directory, poc), key_file, poc)


async def _publish(
    settings: HubSettings, login: NatsLogin, raw: bytes, jws: str, wait: bool, seconds: float
) -> PublishResult:
    errors = ServerErrors(settings.url, login.name)
    nc = await connect(settings.url, login, errors, keep_reconnecting=False)
    try:
        quota = settings.streams.ingress_quota
        client = EnlaceClient(nc, settings.max_message_bytes, quota, errors)
        return await client.publish(raw, jws, wait=wait, wait_seconds=seconds)
    finally:
        await nc.close()


def country_login(dep: Deployment, country: str) -> NatsLogin:
    """A party kit's own login (or the one the environment names); on the hub's machine,
    the sender's country's, checked against the deployment's list of logins."""
    try:
        if party_from(dep.home) or os.environ.get("ENLACE_NATS_NKEY_SEED_FILE"):
            # A kit publishes as its party whoever the sender: the server is the judge.
            return login_for(dep.home)
        if read_logins(dep):
            return NatsLogin(country, load_user(dep, country).connect_options())
    except ConfigError as exc:
        fail(exc.description)  # an old password login or a missing seed: says what to do
    except AdapterConfigError as exc:
        fail(exc.description)
    return login_for(None)


def _human(result: PublishResult) -> str:
    outcome, status = result.outcome, result.status
    if result.already_published:
        why = (
            f"the hub: {outcome.description}"
            if outcome is not None
            else f"JetStream already holds this id (seq {result.stream_seq})"
        )
        return (
            f"duplicate {result.message_id}: published before, nothing was delivered again ({why})"
        )
    if outcome is None:
        return f"{status} {result.message_id} on {result.subject}, seq {result.stream_seq}"
    return describe_outcome(outcome)


def describe_outcome(outcome: Outcome) -> str:
    """What became of a message, for people: a line, then one per country refused."""
    status, message_id = outcome.status.value, outcome.message_id
    if status == "rejected":
        return f"rejected {message_id}: {outcome.reason}: {outcome.description}"
    if status == "undeliverable":
        lines = [f"undeliverable {message_id}: accepted, but delivered to nobody"]
        lines += [f"  not to {r.country}: {r.reason}: {r.detail}" for r in outcome.refused]
        return "\n".join(lines)
    to = ", ".join(f"{r.country} ({r.view})" for r in outcome.recipients)
    lines = [f"{status} {message_id}" + (f" → {to}" if to else "")]
    lines += [f"  not to {r.country}: {r.reason}" for r in outcome.refused]
    return "\n".join(lines)


def exit_code_of(result: PublishResult) -> ExitCode:
    """The exit code that says what became of a published message (see the module doc)."""
    if result.duplicate:
        return ExitCode.DUPLICATE
    return ExitCode.OK if result.outcome is None else outcome_exit_code(result.outcome)


def outcome_exit_code(outcome: Outcome) -> ExitCode:
    """The exit code of the hub's outcome: 0 delivered (to all or some), 3 rejected, 9
    delivered to nobody, 10 rejected as a ``duplicate`` (``enlace publish`` and ``enlace
    outcome`` alike)."""
    if outcome.status is OutcomeStatus.REJECTED:
        return ExitCode.DUPLICATE if outcome.reason == "duplicate" else ExitCode.REJECTED
    if outcome.status is OutcomeStatus.UNDELIVERABLE:
        return ExitCode.UNDELIVERABLE
    return ExitCode.OK


@click.command("publish")
@click.argument("file", type=str)
@click.option(
    "--poc",
    default=None,
    help="The point of contact that signs and sends; default: the message's sender.poc.",
)
@click.option(
    "--key",
    "key_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The POC's private key (PEM); default: its newest key in keys/poc/<POC>/.",
)
@click.option(
    "--consent",
    "consents",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Attach this consent (`enlace consent`) of an original sender to pass its message "
    "on; repeatable. The message is then signed here: FILE may not be signed already.",
)
@click.option("--no-wait", is_flag=True, help="Return after the JetStream ack.")
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
@click.option("--nats-url", default=None, help="NATS URL (else settings).")
@click.option("--timeout", "seconds", default=30.0, show_default=True, help="Seconds to wait.")
@pass_cli
def publish(
    cli: CliContext,
    file: str,
    poc: str | None,
    key_file: Path | None,
    consents: tuple[Path, ...],
    no_wait: bool,
    as_json: bool,
    nats_url: str | None,
    seconds: float,
) -> None:
    """Publish FILE (or - for stdin) as POC, then print the hub's outcome.

    FILE is signed with the POC's key unless FILE.jws is beside it; the POC is the
    message's sender.poc unless --poc names it (and must then match). Exit 0 when the hub
    delivers it (countries named in `to` that it refuses are printed), 3 when it rejects
    it (the reason code is printed), 9 when it accepts it but nobody receives it (each
    party's reason is printed: no agreement, TLP:RED without `to`, a reply to an unknown
    request …), 10 when this id was published before (JetStream's window or the hub's
    record of seen ids: nothing is delivered again), 8 when the country's ingress quota
    is full (the hub has not finished what it sent before: nothing was published, try
    again later), 11 when the NATS server refuses this login the subject (a country
    publishes only as itself), 6 when NATS cannot be reached.
    """
    dep = cli.require_deployment()
    try:
        settings = load_settings(dep.home, nats_url=nats_url)
    except ConfigError as exc:
        fail(exc.description)
    raw, jws = _read_message(file)
    directory = directory_in_force(dep)
    if consents:
        if jws is not None:
            fail(f"{file} is signed ({file}.jws): attach consents before signing, not after")
        raw = attach_consents(raw, consents, directory)
    try:
        envelope = EnlaceClient.envelope_of(raw, settings.max_message_bytes)
    except MessageError as exc:
        fail(f"{file}: {exc}")
    poc = poc or envelope.sender.poc
    if envelope.sender.poc != poc:
        fail(f"{file}: sender.poc is {envelope.sender.poc!r}, not {poc!r}; publish as the sender")
    if jws is None:
        kid, key = _signing_key(dep, directory, poc, key_file)
        jws = EnlaceClient.sign(raw, key, kid)
    login = country_login(dep, envelope.sender.country)
    try:
        result = asyncio.run(_publish(settings, login, raw, jws, not no_wait, seconds))
    except NatsUnreachable as exc:
        fail(exc.description, ExitCode.UNAVAILABLE)
    except PublishForbidden as exc:
        fail(exc.description, ExitCode.FORBIDDEN)
    except OutcomeTimeout as exc:
        fail(exc.description, ExitCode.TIMEOUT)
    except IngressFull as exc:
        fail(str(exc), ExitCode.BUSY)
    except EnlaceError as exc:
        fail(str(exc))
    if as_json:
        print_json(result.to_dict())
    else:
        click.echo(_human(result))
    code = exit_code_of(result)
    if code is not ExitCode.OK:
        raise SystemExit(int(code))
