"""``enlace directory sign|verify|show``: the signed directory of parties, POCs and keys.

Also the pieces the other governance commands share: RFC 3339 time and duration
options, and how a refused governance file is reported (exit 5, file:line and code).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar, NoReturn

import click
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.admin.directory import SignOutcome, directory_lock, sign_directory
from hub.cli.context import CliContext, fail, pass_cli, print_json
from hub.cli.exit_codes import ExitCode
from hub.deployment import Deployment
from hub.errors import KeyStoreError
from hub.governance.keystore import load_key_file
from schemas.directory import Directory, PublicKeyRecord
from schemas.errors import EnlaceError, GovernanceError, KeyExpired, KeyNotYetValid, KeyRevoked
from schemas.govdoc import load_document, rfc3339
from schemas.jws import jwk_from_public_key
from schemas.trust import (
    accept_directory,
    load_directory,
    load_trust_root,
    read_accepted_version,
    signature_status,
)

__all__ = [
    "DURATION",
    "TIME",
    "directory",
    "directory_in_force",
    "fail_governance",
    "key_state",
    "kid_of_key",
    "print_sign_outcome",
    "signing_key",
]


class _TimeType(click.ParamType[datetime, Any]):
    name = "TIME"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> datetime:
        if isinstance(value, datetime):
            return value
        try:
            moment = datetime.fromisoformat(str(value))
        except ValueError:
            self.fail(f"{value!r} is not an RFC 3339 time (e.g. 2026-06-01T12:00:00Z)")
        if moment.tzinfo is None:
            self.fail(f"{value!r} has no time zone; add Z for UTC")
        return moment.astimezone(UTC)


class _DurationType(click.ParamType[timedelta, Any]):
    name = "DURATION"
    _FORM = re.compile(r"^(\d+)(s|m|h|d)$")
    _UNITS: ClassVar[dict[str, int]] = {"s": 1, "m": 60, "h": 3600, "d": 86400}

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> timedelta:
        if isinstance(value, timedelta):
            return value
        match = self._FORM.fullmatch(str(value).strip())
        if not match:
            self.fail(f"{value!r} is not a duration like 7d, 12h, 30m or 0s")
        return timedelta(seconds=int(match.group(1)) * self._UNITS[match.group(2)])


TIME = _TimeType()
"""A click option type: an RFC 3339 time with a zone, converted to UTC."""

DURATION = _DurationType()
"""A click option type: ``7d``, ``12h``, ``30m``, ``0s``."""


def fail_governance(exc: GovernanceError, as_json: bool = False) -> NoReturn:
    """Report a refused governance file (its code and file:line) and exit 5."""
    if as_json:
        print_json({"ok": False, "code": exc.code, "error": exc.description})
        raise SystemExit(int(ExitCode.GOVERNANCE))
    fail(f"{exc.description} [{exc.code}]", ExitCode.GOVERNANCE)


def directory_in_force(dep: Deployment) -> Directory:
    """The deployment's directory as every party signed it, or exit 5 saying why not."""
    try:
        return load_directory(dep.directory, load_trust_root(dep.trust_root))
    except GovernanceError as exc:
        fail(str(exc), ExitCode.GOVERNANCE)


def kid_of_key(records: Iterable[PublicKeyRecord], key: Ed25519PrivateKey) -> str | None:
    """The id of the record among ``records`` whose public key is ``key``'s, if any."""
    jwk = jwk_from_public_key(key.public_key())
    return next((record.kid for record in records if record.jwk == jwk), None)


def signing_key(
    records: Iterable[PublicKeyRecord],
    stored: Callable[[], tuple[str, Ed25519PrivateKey]],
    key_file: Path | None,
    whose: str,
) -> tuple[str, Ed25519PrivateKey]:
    """The key a command signs with, and its kid; exits with a clear error when it has none.

    Args:
        records: the directory's keys that ``key_file`` may be one of.
        stored: gives the keystore's current key (and its kid) when no file is named.
        key_file: a PEM key file given with ``--key``, or None.
        whose: who the keys belong to, for the error (e.g. ``GT-PNC-1``).
    """
    try:
        if key_file is None:
            return stored()
        key = load_key_file(key_file)
    except EnlaceError as exc:
        fail(exc.description)
    kid = kid_of_key(records, key)
    if kid is not None:
        return kid, key
    fail(f"{key_file} is not a key of {whose} in the directory")


def print_sign_outcome(outcome: SignOutcome) -> None:
    """Say which version was signed, by whom, and who still has to sign."""
    if outcome.dropped:
        click.echo(
            f"Removed signatures that no longer matched the document: {', '.join(outcome.dropped)}"
        )
    if outcome.accepted:
        click.echo(
            f"directory version {outcome.version} signed by all {len(outcome.signed)} parties "
            "and accepted"
        )
        return
    click.echo(
        f"directory version {outcome.version} is waiting for signatures from "
        f"{', '.join(outcome.missing)}; on each of their machines run "
        "`enlace directory sign --party CC`"
    )


def key_state(record: PublicKeyRecord, at: datetime) -> str:
    """``valid``, ``revoked``, ``expired`` or ``not yet valid`` at ``at``."""
    try:
        record.check_valid_at(at)
    except KeyRevoked:
        return "revoked"
    except KeyExpired:
        return "expired"
    except KeyNotYetValid:
        return "not yet valid"
    return "valid"


@click.group(help="The signed directory of parties, points of contact and their public keys.")
def directory() -> None:
    pass


@directory.command(
    "sign",
    help="Sign directory.yaml with the commission keys held here: of each --party CC, or "
    "of every party whose key is here (--all-local). Signatures that no longer match the "
    "document are removed. When every party has signed, the version is accepted.",
)
@click.option("--party", "parties", multiple=True, metavar="CC", help="Sign as this party.")
@click.option("--all-local", is_flag=True, help="Sign with every commission key held here.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_cli
def sign(cli: CliContext, parties: tuple[str, ...], all_local: bool, as_json: bool) -> None:
    if bool(parties) == all_local:
        fail("give --party CC (repeatable) or --all-local", ExitCode.USAGE)
    deployment = cli.require_deployment()
    click.get_current_context().with_resource(directory_lock(deployment))
    try:
        outcome = sign_directory(deployment, None if all_local else [p.upper() for p in parties])
    except GovernanceError as exc:
        fail_governance(exc, as_json)
    except KeyStoreError as exc:
        fail(exc.description, ExitCode.FAILED)
    if as_json:
        print_json(outcome.as_dict())
    else:
        print_sign_outcome(outcome)


@directory.command(
    "verify",
    help="Check directory.yaml against the trust root: every party signed it with a valid "
    "commission key, and it is not older than the version already accepted. On success "
    "the version is accepted. Exit 5 with file:line and the reason code when refused.",
)
@click.option("--at", type=TIME, default=None, help="Check the keys at this time (now).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_cli
def verify(cli: CliContext, at: datetime | None, as_json: bool) -> None:
    deployment = cli.require_deployment()
    try:
        loaded = accept_directory(deployment, at)
    except GovernanceError as exc:
        fail_governance(exc, as_json)
    signers = sorted(load_trust_root(deployment.trust_root).parties)
    if as_json:
        print_json({"ok": True, "version": loaded.version, "signed_by": signers})
        return
    click.echo(
        f"{deployment.directory}: OK, version {loaded.version}, signed by all "
        f"{len(signers)} parties ({', '.join(signers)})"
    )


@directory.command(
    "show",
    help="Parties, points of contact and public keys with their validity, and who signed. "
    "Shows the file as it is, even while it waits for signatures; no private material.",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_cli
def show(cli: CliContext, as_json: bool) -> None:
    deployment = cli.require_deployment()
    now = datetime.now(UTC)
    try:
        doc = load_document(deployment.directory)
        current = doc.validate(Directory)
        status = signature_status(doc, load_trust_root(deployment.trust_root), now)
    except GovernanceError as exc:
        fail_governance(exc, as_json)
    accepted = read_accepted_version(deployment.state_dir)
    if as_json:
        print_json(
            {
                **current.public_summary(),
                "accepted_version": accepted,
                "signatures": {
                    "signed": status.signed,
                    "missing": list(status.missing),
                    "invalid": [
                        {"signer": s, "kid": k, "line": line, "reason": r}
                        for s, k, line, r in status.invalid
                    ],
                },
            }
        )
        return
    _print_directory(current, now, accepted)
    click.echo(f"signed by: {', '.join(sorted(status.signed)) or 'nobody'}")
    if status.missing:
        click.echo(f"missing:   {', '.join(status.missing)}")
    for signer, kid, line, reason in status.invalid:
        click.echo(f"invalid:   {signer} ({kid}) at line {line}: {reason}")


def _keys_line(records: list[PublicKeyRecord], now: datetime) -> str:
    parts = []
    for record in records:
        until = f" until {rfc3339(record.not_after)}" if record.not_after else ""
        parts.append(f"{record.kid} [{key_state(record, now)}{until}]")
    return ", ".join(parts) or "(no keys)"


def _print_directory(current: Directory, now: datetime, accepted: int | None) -> None:
    click.echo(
        f"directory version {current.version}, issued {rfc3339(current.issued_at)}; "
        f"accepted version here: {accepted if accepted is not None else 'none'}"
    )
    click.echo(f"hub {current.hub.id}: {_keys_line(current.hub.keys, now)}")
    for party in current.parties:
        click.echo(f"{party.code} {party.name} ({party.role}): {_keys_line(party.keys, now)}")
        for poc in (p for p in current.pocs if p.country == party.code):
            themes = ",".join(str(t) for t in poc.themes)
            click.echo(f"  {poc.id} — {poc.agency} [{themes}]: {_keys_line(poc.keys, now)}")
