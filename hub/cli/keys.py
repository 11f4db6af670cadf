"""``enlace keys new|rotate|revoke``: point-of-contact, party and hub keys in the directory.

Each command writes a new directory version and signs it with every commission key held
on this machine; the private key goes to ``keys/`` (mode 0600) and only its kid is shown.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from hub.admin.directory import (
    DirectoryDraft,
    SignOutcome,
    directory_lock,
    key_record,
    next_kid,
    open_for_change,
    save_new_version,
)
from hub.cli.context import CliContext, fail, pass_cli, print_json
from hub.cli.directory import DURATION, TIME, fail_governance, print_sign_outcome
from hub.cli.exit_codes import ExitCode
from hub.deployment import Deployment
from hub.errors import KeyStoreError
from hub.governance.keystore import KeyKind, KeyStore
from schemas.common import THEMES
from schemas.errors import GovernanceError
from schemas.govdoc import rfc3339

__all__ = ["keys"]


@click.group(help="Signing keys of points of contact, parties' systems and the hub.")
def keys() -> None:
    pass


def _open(deployment: Deployment, as_json: bool) -> DirectoryDraft:
    # Held until the command ends: the change is read, written and signed under one lock.
    click.get_current_context().with_resource(directory_lock(deployment))
    try:
        return open_for_change(deployment)
    except GovernanceError as exc:
        fail_governance(exc, as_json)


def _save(draft: DirectoryDraft, now: datetime, created: Path | None, as_json: bool) -> SignOutcome:
    try:
        return save_new_version(draft, now)
    except GovernanceError as exc:
        if created is not None:
            created.unlink(missing_ok=True)  # the key never made it into the directory
        fail_governance(exc, as_json)
    except KeyStoreError as exc:
        fail(exc.description, ExitCode.FAILED)


def _report(
    kid: str | None, path: Path | None, outcome: SignOutcome, as_json: bool, what: str
) -> None:
    if as_json:
        print_json({"kid": kid, "key_file": str(path) if path else None, **outcome.as_dict()})
        return
    click.echo(what)
    print_sign_outcome(outcome)


def _poc_entry(
    draft: DirectoryDraft,
    poc_id: str,
    country: str | None,
    agency: str | None,
    themes: tuple[str, ...],
) -> dict[str, Any]:
    pocs: list[dict[str, Any]] = draft.data.setdefault("pocs", [])
    entry = next((p for p in pocs if p.get("id") == poc_id), None)
    if entry is not None:
        if country or agency or themes:
            fail(
                f"point of contact {poc_id!r} exists; --country/--agency/--theme are only for "
                "a new one",
                ExitCode.USAGE,
            )
        return entry
    if not (country and agency and themes):
        fail(
            f"no point of contact {poc_id!r} in the directory; to add one give --country, "
            "--agency and --theme",
            ExitCode.USAGE,
        )
    entry = {"id": poc_id, "country": country.upper(), "agency": agency, "themes": list(themes)}
    entry["keys"] = []
    pocs.append(entry)
    return entry


@keys.command(
    "new",
    help="Add a new key: of a point of contact (--poc ID; with --country, --agency and "
    "--theme it adds the point of contact too), of a party's systems (--party CC), or of "
    "the hub (--hub). The directory gets a new version; the kid is printed, the private "
    "key is written to keys/ with mode 0600 and never printed.",
)
@click.option("--poc", "poc_id", default=None, metavar="ID", help="A point of contact.")
@click.option("--party", default=None, metavar="CC", help="A party's systems key (receipts).")
@click.option("--hub", "hub_key", is_flag=True, help="The hub's key.")
@click.option("--country", default=None, metavar="CC", help="Country of a new POC.")
@click.option("--agency", default=None, help="Agency of a new POC.")
@click.option(
    "--theme",
    "themes",
    multiple=True,
    type=click.Choice(THEMES),
    help="Theme of a new POC; repeatable.",
)
@click.option("--not-before", type=TIME, default=None, help="Valid from (default now).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_cli
def new(
    cli: CliContext,
    poc_id: str | None,
    party: str | None,
    hub_key: bool,
    country: str | None,
    agency: str | None,
    themes: tuple[str, ...],
    not_before: datetime | None,
    as_json: bool,
) -> None:
    if sum([poc_id is not None, party is not None, hub_key]) != 1:
        fail("give exactly one of --poc ID, --party CC, --hub", ExitCode.USAGE)
    deployment = cli.require_deployment()
    now = datetime.now(UTC).replace(microsecond=0)
    draft = _open(deployment, as_json)
    kind, owner, records = _target(draft, poc_id, party, hub_key, country, agency, themes)
    prefixes = {KeyKind.POC: owner, KeyKind.PARTY: f"{(owner or '').lower()}-system"}
    prefix = prefixes.get(kind) or "hub"
    kid = next_kid(prefix, draft.kids)
    store = KeyStore(deployment.keys_dir)
    try:
        key = store.create(kind, owner, kid)
    except KeyStoreError as exc:
        fail(exc.description, ExitCode.FAILED)
    path = store.path(kind, owner, kid)
    records.append(key_record(kid, key, not_before or now))
    outcome = _save(draft, now, path, as_json)
    whose = f"point of contact {owner}" if kind is KeyKind.POC else owner or "the hub"
    _report(kid, path, outcome, as_json, f"new key {kid} for {whose}; private key in {path}")


def _target(
    draft: DirectoryDraft,
    poc_id: str | None,
    party: str | None,
    hub_key: bool,
    country: str | None,
    agency: str | None,
    themes: tuple[str, ...],
) -> tuple[KeyKind, str | None, list[dict[str, Any]]]:
    if poc_id is not None:
        entry = _poc_entry(draft, poc_id, country, agency, themes)
        records: list[dict[str, Any]] = entry.setdefault("keys", [])
        return KeyKind.POC, poc_id, records
    if country or agency or themes:
        fail("--country, --agency and --theme go with --poc", ExitCode.USAGE)
    if party is not None:
        code = party.upper()
        found = next((p for p in draft.data.get("parties", []) if p.get("code") == code), None)
        if found is None:
            fail(
                f"{code} is not a party of the directory; a new party joins through the "
                "trust root and the commission first",
                ExitCode.FAILED,
            )
        party_keys: list[dict[str, Any]] = found.setdefault("keys", [])
        return KeyKind.PARTY, code, party_keys
    del hub_key  # the only choice left
    hub_keys: list[dict[str, Any]] = draft.data["hub"].setdefault("keys", [])
    return KeyKind.HUB, None, hub_keys


@keys.command(
    "rotate",
    help="Give a point of contact a new key (valid now) and let its current keys expire "
    "after --overlap, so that messages signed just before the rotation still verify.",
)
@click.option("--poc", "poc_id", required=True, metavar="ID", help="The point of contact.")
@click.option(
    "--overlap",
    type=DURATION,
    default="7d",
    show_default=True,
    help="How long the old key stays valid.",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_cli
def rotate(cli: CliContext, poc_id: str, overlap: timedelta, as_json: bool) -> None:
    deployment = cli.require_deployment()
    now = datetime.now(UTC).replace(microsecond=0)
    draft = _open(deployment, as_json)
    entry = _poc_entry(draft, poc_id, None, None, ())
    records: list[dict[str, Any]] = entry.setdefault("keys", [])
    until = now + overlap
    ended = []
    current = {k.kid: k for p in draft.directory.pocs if p.id == poc_id for k in p.keys}
    for record in records:
        old = current[record["kid"]]
        if old.revoked_at is not None or (old.not_after is not None and old.not_after <= until):
            continue  # already ends sooner: rotation never extends a key
        record["not_after"] = rfc3339(until)
        ended.append(record["kid"])
    kid = next_kid(poc_id, draft.kids)
    store = KeyStore(deployment.keys_dir)
    try:
        key = store.create(KeyKind.POC, poc_id, kid)
    except KeyStoreError as exc:
        fail(exc.description, ExitCode.FAILED)
    path = store.path(KeyKind.POC, poc_id, kid)
    records.append(key_record(kid, key, now))
    outcome = _save(draft, now, path, as_json)
    old_note = f"; {', '.join(ended)} valid until {rfc3339(until)}" if ended else ""
    _report(kid, path, outcome, as_json, f"new key {kid} for {poc_id}{old_note}")


@keys.command(
    "revoke",
    help="Revoke the key KID (of a point of contact, a party or the hub) from --at (now): "
    "signatures by it are refused (key_revoked) from that time on. Commission keys live in "
    "trust-root.yaml and are changed there.",
)
@click.argument("kid")
@click.option("--at", type=TIME, default=None, help="Revoked from this time (default now).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_cli
def revoke(cli: CliContext, kid: str, at: datetime | None, as_json: bool) -> None:
    deployment = cli.require_deployment()
    now = datetime.now(UTC).replace(microsecond=0)
    draft = _open(deployment, as_json)
    if any(k.kid == kid for k in draft.trust_root.commission_keys):
        fail(
            f"{kid} is a commission key: it lives in trust-root.yaml, which each party "
            "changes out of band",
            ExitCode.FAILED,
        )
    record = _find_record(draft.data, kid)
    if record is None:
        fail(f"no key {kid!r} in the directory; see `enlace directory show`", ExitCode.FAILED)
    record["revoked_at"] = rfc3339(at or now)
    outcome = _save(draft, now, None, as_json)
    _report(kid, None, outcome, as_json, f"key {kid} revoked from {record['revoked_at']}")


def _find_record(data: dict[str, Any], kid: str) -> dict[str, Any] | None:
    owners = [data.get("hub", {}), *data.get("parties", []), *data.get("pocs", [])]
    for owner in owners:
        for record in owner.get("keys", []):
            if record.get("kid") == kid:
                found: dict[str, Any] = record
                return found
    return None
