"""``enlace agreements new|sign|verify|list|explain``: sharing agreements and their consensus.

An agreement is in force only when every party it names has signed its current text with
a commission key of the trust root, and only inside its validity window. ``explain``
shows, for one message, what the hub would decide for every party, and why.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from hub.admin.directory import local_commission_key
from hub.cli.context import CliContext, fail, pass_cli, print_json
from hub.cli.directory import TIME, fail_governance
from hub.cli.exit_codes import ExitCode
from hub.deployment import Deployment
from hub.errors import KeyStoreError
from hub.governance.keystore import KeyKind, KeyStore
from hub.policy.explain import explain as explain_message
from hub.policy.loader import (
    AgreementStatus,
    agreement_files,
    load_agreement,
    load_agreements,
    validate_agreement,
)
from hub.policy.requests import InMemoryRequestMemory
from hub.policy.signing import sign_agreement_file
from schemas.amendments import amended_id
from schemas.directory import Directory
from schemas.envelope import parse_envelope
from schemas.errors import GovernanceError, MessageError
from schemas.govdoc import GovDoc, dump_yaml, load_document, rfc3339
from schemas.trust import TrustRoot, load_directory, load_trust_root

__all__ = ["agreements", "status_dict"]


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _split(values: tuple[str, ...]) -> list[str]:
    """``--parties GT,HN --parties US`` and ``--parties "GT HN"`` all mean [GT, HN, US]."""
    return [v for value in values for v in value.replace(",", " ").split() if v]


def _governance(dep: Deployment) -> tuple[TrustRoot, Directory]:
    trust_root = load_trust_root(dep.trust_root)
    return trust_root, load_directory(dep.directory, trust_root)


def status_dict(status: AgreementStatus, at: datetime) -> dict[str, Any]:
    """What ``list``/``verify`` print of one agreement (``--json``)."""
    a = status.agreement
    in_force, reason, detail = status.in_force_at(at)
    return {
        "id": a.id,
        "title": a.title,
        "file": str(status.path),
        "parties": list(a.parties),
        "themes": [t.value for t in a.themes],
        "types": list(a.types),
        "max_tlp": a.max_tlp.value,
        "valid_from": rfc3339(a.valid_from),
        "valid_until": rfc3339(a.valid_until),
        "signed_by": list(status.signed_by),
        "missing": list(status.missing),
        "bad_signatures": [{"party": p, "problem": why} for p, why in status.bad],
        "in_force": in_force,
        "reason": reason,
        "state": detail,
    }


def _print_status(info: dict[str, Any]) -> None:
    mark = "in force" if info["in_force"] else f"NOT in force ({info['reason']})"
    click.echo(f"{info['id']}: {mark} — {info['title']}")
    click.echo(f"  file: {info['file']}")
    click.echo(
        f"  window: {info['valid_from']} .. {info['valid_until']}; max TLP {info['max_tlp']}"
    )
    click.echo(f"  themes: {', '.join(info['themes'])}; types: {', '.join(info['types'])}")
    click.echo(f"  signed by: {', '.join(info['signed_by']) or 'nobody'}")
    if info["missing"]:
        click.echo(f"  missing signatures: {', '.join(info['missing'])}")
    for bad in info["bad_signatures"]:
        click.echo(f"  refused signature: {bad['problem']}")
    click.echo(f"  {info['state']}")


@click.group(help="Sharing agreements: draft, sign by consensus, verify, list, explain.")
def agreements() -> None:
    pass


@agreements.command("new")
@click.option("--id", "id_", required=True, help="Agreement id (lower case, e.g. gang-movements).")
@click.option("--title", required=True, help="One line saying what is shared and why.")
@click.option("--parties", multiple=True, required=True, help="Country codes (comma separated).")
@click.option("--themes", multiple=True, required=True, help="Themes (comma separated).")
@click.option("--types", "types_", multiple=True, required=True, help="Message types.")
@click.option("--max-tlp", default="amber", show_default=True, help="Highest TLP carried.")
@click.option("--valid-from", type=TIME, default=None, help="Start (default: now).")
@click.option("--valid-until", type=TIME, default=None, help="End (default: a year after start).")
@click.option(
    "--from-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Start from this agreement (its flows and views); the options above override it.",
)
@click.option("--force", is_flag=True, help="Overwrite an existing file of that id.")
@pass_cli
def new(
    cli: CliContext,
    id_: str,
    title: str,
    parties: tuple[str, ...],
    themes: tuple[str, ...],
    types_: tuple[str, ...],
    max_tlp: str,
    valid_from: datetime | None,
    valid_until: datetime | None,
    from_file: Path | None,
    force: bool,
) -> None:
    """Draft an agreement in the deployment's agreements/ folder, unsigned: edit its flows."""
    dep = cli.require_deployment()
    path = dep.agreements_dir / f"{id_}.yaml"
    if path.exists() and not force:
        fail(f"{path} exists; choose another --id or pass --force", ExitCode.USAGE)
    start = valid_from or _now()
    base: dict[str, Any] = {}
    if from_file is not None:
        try:
            base = load_document(from_file).body()
        except GovernanceError as exc:
            fail_governance(exc)
    data: dict[str, Any] = {
        **base,
        "id": id_,
        "title": title,
        "version": 1,
        "parties": _split(parties),
        "themes": _split(themes),
        "types": _split(types_),
        "max_tlp": max_tlp,
        "valid_from": rfc3339(start),
        "valid_until": rfc3339(valid_until or start + timedelta(days=365)),
    }
    data.setdefault("flows", [{"name": "all-parties", "from": "all", "to": "all", "view": "full"}])
    try:
        # Refuse a draft that would not load, naming the option's field, before writing it.
        validate_agreement(GovDoc(path, data))
    except GovernanceError as exc:
        fail_governance(exc)
    dep.agreements_dir.mkdir(parents=True, exist_ok=True)
    dump_yaml(data, path)
    click.echo(f"wrote {path} (unsigned draft)")
    click.echo("edit its flows and views, then each party signs it:")
    for party in data["parties"]:
        click.echo(f"  enlace agreements sign {path} --party {party}")


@agreements.command("sign")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--party", required=True, help="The party signing, with its commission key.")
@click.option("--kid", default=None, help="Which commission key (default: the newest valid one).")
@pass_cli
def sign(cli: CliContext, file: Path, party: str, kid: str | None) -> None:
    """Sign FILE with PARTY's commission key held in this deployment's keys/."""
    dep = cli.require_deployment()
    keystore = KeyStore(dep.keys_dir)
    try:
        trust_root = load_trust_root(dep.trust_root)
        if kid is not None:
            if trust_root.record(party, kid) is None:
                fail(
                    f"{kid!r} is not a commission key of {party} in the trust root",
                    ExitCode.GOVERNANCE,
                )
            key = keystore.load(KeyKind.COMMISSION, party, kid)
        else:
            found = local_commission_key(keystore, trust_root, party, _now())
            if found is None:
                fail(
                    f"no commission key of {party} valid now is held in "
                    f"{dep.keys_dir / 'commission' / party}; the party must sign on its own "
                    "machine and send the file on",
                    ExitCode.FAILED,
                )
            kid, key = found
        agreement = sign_agreement_file(file, party, kid, key)
        status = load_agreement(file, trust_root.lookup(_now()))
    except GovernanceError as exc:
        fail_governance(exc)
    except KeyStoreError as exc:
        fail(exc.description, ExitCode.FAILED)
    click.echo(f"{party} signed {agreement.id} with {kid}")
    if status.missing:
        click.echo(f"still missing: {', '.join(status.missing)} — not in force until all sign")
    else:
        click.echo(status.in_force_at(_now())[2])


def _status_or_error(path: Path, trust_root: TrustRoot, at: datetime) -> AgreementStatus:
    return load_agreement(path, trust_root.lookup(at))


@agreements.command("verify")
@click.argument("files", nargs=-1, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--at", type=TIME, default=None, help="Check as of this time (default: now).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_cli
def verify(cli: CliContext, files: tuple[Path, ...], at: datetime | None, as_json: bool) -> None:
    """Check signatures and windows of FILES (default: every agreement of the deployment).

    Exit 0 when every one is in force, 1 when one is not, 5 when a file is refused.
    """
    dep = cli.require_deployment()
    moment = at or _now()
    paths = list(files) or agreement_files(dep.agreements_dir)
    results: list[dict[str, Any]] = []
    code = ExitCode.OK
    try:
        trust_root = load_trust_root(dep.trust_root)
    except GovernanceError as exc:
        fail_governance(exc, as_json)
    for path in paths:
        try:
            info = status_dict(_status_or_error(path, trust_root, moment), moment)
        except GovernanceError as exc:
            results.append({"file": str(path), "error": exc.description, "code": exc.code})
            code = ExitCode.GOVERNANCE
            continue
        if not info["in_force"] and code == ExitCode.OK:
            code = ExitCode.FAILED
        results.append(info)
    if as_json:
        print_json({"at": rfc3339(moment), "agreements": results})
    else:
        if not results:
            click.echo(f"no agreement in {dep.agreements_dir}: nothing is shared (deny by default)")
        for info in results:
            if "error" in info:
                click.echo(f"{info['file']}: refused: {info['error']} [{info['code']}]")
            else:
                _print_status(info)
    raise SystemExit(int(code))


@agreements.command("list")
@click.option("--at", type=TIME, default=None, help="State as of this time (default: now).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_cli
def list_(cli: CliContext, at: datetime | None, as_json: bool) -> None:
    """The deployment's agreements: parties, themes, signatures and when each is in force."""
    dep = cli.require_deployment()
    moment = at or _now()
    try:
        trust_root, directory = _governance(dep)
        loaded = load_agreements(dep.agreements_dir, directory, trust_root, moment)
    except GovernanceError as exc:
        fail_governance(exc, as_json)
    infos = [status_dict(s, moment) for s in loaded.statuses]
    if as_json:
        print_json({"at": rfc3339(moment), "agreements": infos})
        return
    if not infos:
        click.echo(f"no agreement in {dep.agreements_dir}: nothing is shared (deny by default)")
    for info in infos:
        state = "in force" if info["in_force"] else f"not in force: {info['reason']}"
        missing = f"; missing {','.join(info['missing'])}" if info["missing"] else ""
        click.echo(
            f"{info['id']:<24} {state:<28} {info['valid_from']} .. {info['valid_until']} "
            f"TLP<={info['max_tlp']} signed {len(info['signed_by'])}/{len(info['parties'])}"
            f"{missing}"
        )


def _requester_beside(message_file: Path, request_id: str) -> str | None:
    """The sender of request ``request_id`` if its file lies beside the reply (samples/)."""
    for path in sorted(message_file.parent.glob("*.json")):
        try:
            other = parse_envelope(path.read_bytes())
        except (MessageError, OSError):
            continue
        if other.id == request_id:
            return other.sender.country
    return None


@agreements.command("explain")
@click.argument("message_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--at", type=TIME, default=None, help="Decide as of this time (default: now).")
@click.option(
    "--requester",
    default=None,
    help="For a reply: the country that sent the request it answers (the hub remembers it; "
    "offline, say it here).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_cli
def explain(
    cli: CliContext, message_file: Path, at: datetime | None, requester: str | None, as_json: bool
) -> None:
    """For each party: does it receive MESSAGE_FILE, in which view, under what, or why not."""
    dep = cli.require_deployment()
    moment = at or _now()
    try:
        envelope = parse_envelope(message_file.read_bytes())
    except MessageError as exc:
        fail(f"{message_file}: {exc.description} [{exc.code}]", ExitCode.FAILED)
    try:
        trust_root, directory = _governance(dep)
        loaded = load_agreements(dep.agreements_dir, directory, trust_root, moment)
    except GovernanceError as exc:
        fail_governance(exc, as_json)
    memory = InMemoryRequestMemory()
    if envelope.in_reply_to is not None:
        requester = requester or _requester_beside(message_file, envelope.in_reply_to)
        if requester is not None:
            memory.remember(envelope.in_reply_to, requester)
        elif not as_json:
            click.echo(
                f"note: the request {envelope.in_reply_to} is not beside {message_file.name}; "
                "pass --requester CC to say who sent it",
                err=True,
            )
    amends = amended_id(envelope)
    if amends is not None and not as_json:
        click.echo(
            f"note: this message amends {amends}: the hub sends it to exactly the parties "
            f"that received {amends}, in their views, whatever the agreements below say "
            f"(`enlace audit show {amends}`)",
            err=True,
        )
    result = explain_message(envelope, loaded, directory, moment, memory)
    if as_json:
        print_json(result.to_dict())
    else:
        for line in result.lines():
            click.echo(line)
