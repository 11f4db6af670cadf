"""``enlace sign FILE`` and ``enlace verify FILE``: detached signatures beside message files.

``sign`` writes ``FILE.jws``: a detached JWS (Ed25519) over the exact bytes of FILE, by
the point of contact's current key. It refuses what the hub would refuse for who signed
it: a file that is not a message envelope, or a message whose sender is another point
of contact (or country, or theme). ``verify`` checks it offline against the deployment's
directory the way the hub does: envelope, signature and sender, then the payload schema.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Any, NoReturn

import click

from adapters.received import sink_output_kind
from hub.cli.context import CliContext, fail, pass_cli, print_json
from hub.cli.delivered import STDIN, verify_delivered
from hub.cli.directory import TIME, fail_governance
from hub.cli.exit_codes import ExitCode
from hub.deployment import Deployment
from hub.errors import KeyStoreError
from hub.governance.keystore import KeyStore, load_key_file
from schemas.directory import Directory, check_sender
from schemas.envelope import DEFAULT_MAX_BYTES, parse_envelope
from schemas.errors import EnlaceError, GovernanceError, MalformedSignature, UnknownKey
from schemas.govdoc import load_document
from schemas.jws import jwk_from_public_key, sign_detached
from schemas.message import parse_message
from schemas.trust import load_directory, load_trust_root, read_accepted_version

__all__ = ["sign", "signature_path", "verify"]


def signature_path(path: Path) -> Path:
    """Where the detached signature of ``path`` lives: ``path`` + ``.jws``."""
    return path.with_name(path.name + ".jws")


def _max_bytes(deployment: Deployment) -> int:
    # The hub's size limit from enlace.yaml (its `hub:` section or top level), so that
    # `verify` refuses what the hub would; the hub settings loader validates the rest.
    try:
        data = load_document(deployment.config_file).data
    except GovernanceError:
        return DEFAULT_MAX_BYTES
    section = data.get("hub") if isinstance(data.get("hub"), dict) else data
    value = section.get("max_message_bytes") if isinstance(section, dict) else None
    return value if isinstance(value, int) and value > 0 else DEFAULT_MAX_BYTES


@click.command(
    "sign",
    help="Sign FILE as point of contact --poc: writes FILE.jws, a detached JWS over the "
    "exact bytes of FILE, with the POC's current key (or the key file --key). The file is "
    "not changed: any later change of a byte makes the signature fail. Refused (exit 1, "
    "nothing written) when FILE is not a message envelope (malformed_json, "
    "invalid_envelope …) or its sender is not --poc (sender_mismatch): the hub would refuse "
    "the signature.",
)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--poc", "poc_id", required=True, metavar="ID", help="The signing POC.")
@click.option(
    "--key",
    "key_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Sign with this PEM key file instead of the POC's current key.",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_cli
def sign(cli: CliContext, file: Path, poc_id: str, key_file: Path | None, as_json: bool) -> None:
    deployment = cli.require_deployment()
    try:
        # The file as it is, even while a new version waits for signatures: signing needs
        # only the kid; whoever verifies checks the directory's consensus.
        current = load_document(deployment.directory).validate(Directory)
    except GovernanceError as exc:
        fail_governance(exc, as_json)
    try:
        if key_file is None:
            kid, key = KeyStore(deployment.keys_dir).current_poc_key(current, poc_id)
        else:
            key = load_key_file(key_file)
            kid = _kid_of(current, key_file, jwk_from_public_key(key.public_key()))
    except KeyStoreError as exc:
        fail(exc.description, ExitCode.FAILED)
    raw = file.read_bytes()
    try:
        _check_signable(raw, _max_bytes(deployment), current, poc_id, kid)
    except EnlaceError as exc:
        if as_json:
            print_json(
                {"signed": False, "file": str(file), "code": exc.code, "error": exc.description}
            )
        fail(f"not signing {file}: {exc.code}: {exc.description}", ExitCode.FAILED)
    target = signature_path(file)
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_text(sign_detached(raw, key, kid), encoding="ascii")
    os.replace(tmp, target)
    if as_json:
        print_json({"file": str(file), "signature": str(target), "poc": poc_id, "kid": kid})
    else:
        click.echo(f"signed {file} as {poc_id} with {kid}: {target}")


def _check_signable(raw: bytes, max_bytes: int, current: Directory, poc_id: str, kid: str) -> None:
    """Refuse to sign what the hub would refuse for its signer.

    Raises:
        MessageError: ``raw`` is not a message envelope (not JSON, a field missing …).
        SenderMismatch: the key's holder is not the message's sender point of contact.
    """
    envelope = parse_envelope(raw, max_bytes)
    try:
        owner = current.key(kid)[1]
    except UnknownKey:
        # A key file the directory does not know (already warned about): judge the sender
        # by the point of contact it is meant for.
        poc = current.poc(poc_id)
        if poc is None:
            raise
        owner = poc.owner()
    check_sender(owner, envelope, kid)


def _kid_of(current: Directory, key_file: Path, jwk: dict[str, str]) -> str:
    records = [*current.hub.keys]
    records += [k for p in current.parties for k in p.keys]
    records += [k for p in current.pocs for k in p.keys]
    for record in records:
        if record.jwk.get("x") == jwk["x"]:
            return record.kid
    click.echo(
        f"warning: the key in {key_file} is not in the directory; the signature names kid "
        f"{key_file.stem!r} and will not verify (unknown_key)",
        err=True,
    )
    return key_file.stem


def _refuse(exc: EnlaceError, as_json: bool) -> NoReturn:
    if as_json:
        print_json({"valid": False, "code": exc.code, "error": exc.description})
    else:
        click.echo(f"invalid: {exc.code}: {exc.description}")
    raise SystemExit(int(ExitCode.FAILED))


@click.command(
    "verify",
    help="Verify FILE and its detached signature FILE.jws offline against this deployment's "
    "directory, as the hub would: envelope, signature (key known, valid at --at, matching "
    "the exact bytes), the key belongs to sender.poc of sender.country for the theme, then "
    "the payload schema.\n\n"
    "FILE may also be what a sink wrote: a folder sink's <id>.json (with its .jws and "
    ".meta), a jsonl sink's file (every line), or - for such records on standard input "
    "(e.g. `psql -Atc 'SELECT row_to_json(t) FROM enlace_deliveries t' | enlace verify -`). "
    "A full view is checked by the sender's signature, a redacted view by the hub's "
    "countersignature over the view's digest and the original's, at the time the hub "
    "published it; each line says which.\n\n"
    "Exit 0 when valid; exit 1 with the reason code when not; exit 5 when the directory "
    "itself is refused.",
)
@click.argument(
    "file", type=click.Path(exists=True, dir_okay=False, allow_dash=True, path_type=Path)
)
@click.option(
    "--at",
    type=TIME,
    default=None,
    help="Check key validity at this time (default: now; for a delivery, when the hub "
    "published it).",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_cli
def verify(cli: CliContext, file: Path, at: datetime | None, as_json: bool) -> None:
    deployment = cli.require_deployment()
    try:
        trust_root = load_trust_root(deployment.trust_root)
        accepted = read_accepted_version(deployment.state_dir)
        current = load_directory(deployment.directory, trust_root, accepted)
    except GovernanceError as exc:
        fail_governance(exc, as_json)
    max_bytes = _max_bytes(deployment)
    if file == STDIN or sink_output_kind(file) is not None:
        verify_delivered(file, current, at, max_bytes, as_json)
        return
    raw = file.read_bytes()
    try:
        jws_path = signature_path(file)
        if not jws_path.is_file():
            raise MalformedSignature(
                f"no signature file {jws_path}; sign with `enlace sign {file} --poc ID`"
            )
        jws = jws_path.read_text(encoding="ascii", errors="replace").strip()
        envelope = parse_envelope(raw, max_bytes)
        sender = current.verify_message(raw, jws, envelope, at)
        message = parse_message(raw, max_bytes)
    except EnlaceError as exc:
        _refuse(exc, as_json)
    result: dict[str, Any] = {
        "valid": True,
        "id": message.id,
        "type": message.type,
        "poc": sender.poc,
        "country": sender.country,
        "kid": sender.kid,
    }
    if as_json:
        print_json(result)
    else:
        click.echo(f"valid: signed by {sender.poc} ({sender.country}) with {sender.kid}")
