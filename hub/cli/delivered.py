"""``enlace verify`` of what a sink wrote: a delivery, full view or redacted.

A full view is checked by the sender's signature over its exact bytes; a redacted view by
the hub's countersignature over the view's digest and the original's (the ``.jws`` beside a
view is that countersignature, not a signature over the file). What a sink keeps is read by
:mod:`adapters.received`; each delivery's line says which signature was checked.
"""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

import click

from adapters.delivery import Delivery, DeliveryCheck
from adapters.errors import DeliveryError, reason_of
from adapters.received import check_received, read_delivered, read_records
from hub.cli.context import print_json
from hub.cli.exit_codes import ExitCode
from schemas.directory import Directory
from schemas.errors import EnlaceError
from schemas.message import parse_message

__all__ = ["STDIN", "verify_delivered"]

STDIN = Path("-")


def _describe(check: DeliveryCheck) -> str:
    head = f"valid: delivery {check.message_id} for {check.recipient}"
    if check.checked == "signature":
        return (
            f"{head}, full view: the sender's signature, by {check.signer} with {check.kid}, "
            f"over its exact bytes ({check.digest})"
        )
    return (
        f"{head}, view {check.view}: the hub's countersignature, with {check.kid}, over the "
        f"view's digest {check.digest} and the original's {check.original_digest}"
    )


def _invalid(message_id: str | None, err: EnlaceError, as_json: bool) -> None:
    code = reason_of(err)
    if as_json:
        print_json({"valid": False, "id": message_id, "code": code, "error": err.description})
    else:
        what = f"delivery {message_id}" if message_id else "delivery"
        click.echo(f"invalid: {what}: {code}: {err.description}")


def _read(source: Path) -> list[Delivery]:
    if source == STDIN:
        return read_records(sys.stdin.read(), "stdin")
    return read_delivered(source)


def verify_delivered(
    source: Path, directory: Directory, at: datetime | None, max_bytes: int, as_json: bool
) -> None:
    """Verify each delivery a sink wrote at ``source`` (``-``: records on standard input)
    and print one line (or JSON object) per delivery; exit 1 if any does not hold.

    Args:
        source: a folder sink's ``<id>.json``, a jsonl sink's file, or ``-``.
        directory: the deployment's accepted directory.
        at: when the keys must have been valid; default: when the hub published each.
        max_bytes: the deployment's message size limit.
        as_json: print JSON objects, one per delivery.
    """
    try:
        deliveries = _read(source)
    except DeliveryError as err:
        _invalid(None, err, as_json)
        raise SystemExit(int(ExitCode.FAILED)) from None
    failed = 0
    for delivery in deliveries:
        try:
            check = check_received(delivery, directory, at, max_bytes)
            # As for a message file: the schema too (a view is checked against it when
            # agreements load, so a valid view always passes).
            parse_message(delivery.body, max_bytes)
        except EnlaceError as err:
            failed += 1
            _invalid(delivery.message_id, err, as_json)
            continue
        if as_json:
            print_json({"valid": True, **check.to_dict()})
        else:
            click.echo(_describe(check))
    if failed:
        raise SystemExit(int(ExitCode.FAILED))
