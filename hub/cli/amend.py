"""``enlace correct`` and ``enlace retract``: amend a message that was sent.

Each writes an unsigned message to sign and publish like any other (``enlace publish``):
a correction (the next version, to edit) or a retraction. The hub routes it to exactly
the parties that received the original, in the view each received
(:mod:`hub.pipeline.amendments`).
"""

from __future__ import annotations

from pathlib import Path

import click

from hub.cli.context import fail
from hub.cli.exit_codes import ExitCode
from hub.cli.message import emit_message
from schemas.amendments import correction_of, retraction_of
from schemas.errors import MessageError
from schemas.messages.retraction import RETRACTION_REASONS

__all__ = ["correct", "retract"]

_SENT = click.argument("sent", type=click.Path(dir_okay=False, exists=True, path_type=Path))
_OUTPUT = click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write to this file instead of standard output.",
)


@click.command(
    help="Write the next version of SENT (the message file as sent): a fresh id, naming "
    "SENT's id in `corrects`. Edit its payload, then `enlace publish` it: it reaches "
    "exactly the parties that received SENT, each in the view it received. Correct the "
    "latest version of a chain (a correction of a correction is the next version)."
)
@_SENT
@_OUTPUT
def correct(sent: Path, output: Path | None) -> None:
    try:
        data = correction_of(sent.read_bytes())
    except MessageError as exc:
        fail(f"{sent}: {exc.description} [{exc.code}]", ExitCode.USAGE)
    emit_message(data, output, f"correction of {data['corrects']}")


@click.command(
    help="Write a retraction of SENT (the message file as sent), from its sender, under its "
    "theme and TLP. `enlace publish` it: the parties that received SENT are told to "
    "withdraw it; nobody else learns of it."
)
@_SENT
@click.option("--reason", type=click.Choice(RETRACTION_REASONS), required=True, help="Why.")
@click.option("--detail", default=None, help="A sentence for the recipients.")
@_OUTPUT
def retract(sent: Path, reason: str, detail: str | None, output: Path | None) -> None:
    try:
        data = retraction_of(sent.read_bytes(), reason, detail)
    except MessageError as exc:
        fail(f"{sent}: {exc.description} [{exc.code}]", ExitCode.USAGE)
    emit_message(data, output, f"retraction of {data['payload']['original_id']}")
