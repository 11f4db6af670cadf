"""``enlace consent ID --to CC``: the originator's signed consent to pass a message on.

A message sent with ``conditions.no_onward`` may not be passed on: the hub refuses a message
of another country whose ``derived_from`` names it (``onward_not_allowed``) unless it
carries the original sender's consent for that country (:mod:`schemas.handling`). The
original sender's side makes the consent with its own key (its system key from the
keystore, a party kit's, or ``--key``) and hands it to the country that asked; that
country attaches it with ``enlace publish --consent FILE`` (:func:`attach_consents`).
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import click
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import ValidationError

from adapters.config import party_from
from hub.cli.context import CliContext, fail, pass_cli, print_json
from hub.cli.directory import directory_in_force, signing_key
from hub.cli.exit_codes import ExitCode
from hub.deployment import Deployment
from hub.governance.keystore import KeyKind, KeyStore
from schemas.directory import Directory
from schemas.errors import EnlaceError, SignatureError
from schemas.handling import Consent, SignedConsent, sign_consent, verify_consent

__all__ = ["attach_consents", "consent"]


def _key(
    dep: Deployment, directory: Directory, country: str, key_file: Path | None
) -> tuple[str, Ed25519PrivateKey]:
    """The country's system key (keystore), or ``key_file`` if it is one of its keys."""
    party = directory.party(country)
    if party is None:
        fail(f"no party {country} in the directory; see `enlace directory show`")
    records = [*party.keys, *(k for p in directory.pocs if p.country == country for k in p.keys)]
    store = KeyStore(dep.keys_dir)
    return signing_key(
        records,
        lambda: store.current_key(KeyKind.PARTY, country, party.keys, None),
        key_file,
        f"{country} or its points of contact",
    )


@click.command("consent")
@click.argument("message_id", metavar="ID")
@click.option("--to", "by", required=True, metavar="CC", help="The country that may pass it on.")
@click.option(
    "--country",
    default=None,
    metavar="CC",
    help="The original sender's country (default: the party kit's own party).",
)
@click.option(
    "--key",
    "key_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Sign with this PEM key file (the country's or one of its POCs') instead of the "
    "country's current system key.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the consent to this file (else print it).",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_cli
def consent(
    cli: CliContext,
    message_id: str,
    by: str,
    country: str | None,
    key_file: Path | None,
    out: Path | None,
    as_json: bool,
) -> None:
    """Consent, as the original sender of message ID, that country CC passes it on.

    Prints the signed consent (JSON), or writes it to --out: CC attaches it to its message
    derived from ID with `enlace publish --consent FILE`. Without it the hub refuses CC's
    message (onward_not_allowed) when ID was sent marked no_onward. Exit 1 when no key of
    the country is at hand, 5 when the directory is refused.
    """
    dep = cli.require_deployment()
    try:
        country = (country or party_from(dep.home) or "").upper()
    except EnlaceError as exc:
        fail(exc.description)
    if not country:
        fail("say whose consent this is: --country CC (a party kit knows its own)", ExitCode.USAGE)
    by = by.upper()
    try:
        made = Consent(message_id=message_id, sender=country, by=by, issued_at=datetime.now(UTC))
    except ValidationError as exc:
        problem = exc.errors()[0]
        where = ".".join(str(p) for p in problem["loc"])
        fail(f"{where}: {problem['msg']}", ExitCode.USAGE)
    if by == country:
        fail(f"{country} needs no consent to pass on its own message", ExitCode.USAGE)
    directory = directory_in_force(dep)
    kid, key = _key(dep, directory, country, key_file)
    signed = sign_consent(made, key, kid)
    text = signed.model_dump_json()
    if out is not None:
        tmp = out.with_name(f".{out.name}.tmp")
        tmp.write_text(text + "\n", encoding="utf-8")
        os.replace(tmp, out)
    if as_json:
        print_json(
            {"file": str(out) if out else None, "kid": kid, **signed.model_dump(mode="json")}
        )
    elif out is not None:
        click.echo(f"{country} consents that {by} passes {message_id} on (key {kid}): {out}")
    else:
        click.echo(text)


def attach_consents(raw: bytes, files: tuple[Path, ...], directory: Directory) -> bytes:
    """``raw`` with the consents of ``files`` added to its ``consents`` (for signing after).

    Each consent is checked against the directory first, as the hub will check it.

    Args:
        raw: the unsigned message's bytes.
        files: the consents (``enlace consent --out``).
        directory: the directory in force.

    Returns:
        The message's new bytes.
    """
    try:
        message = json.loads(raw)
    except ValueError:
        fail("the message is not JSON; nothing to attach consents to")
    if not isinstance(message, dict):
        fail("the message is not a JSON object; nothing to attach consents to")
    attached = list(message.get("consents") or [])
    for file in files:
        try:
            signed = SignedConsent.model_validate_json(file.read_bytes())
            verify_consent(directory, signed)
        except (OSError, ValidationError) as exc:
            fail(f"{file}: not a consent ({type(exc).__name__}); make one with `enlace consent`")
        except SignatureError as exc:
            fail(f"{file}: the consent does not hold: {exc.code}: {exc.description}")
        attached.append(signed.model_dump(mode="json"))
    message["consents"] = attached
    return json.dumps(message, ensure_ascii=False).encode("utf-8")
