"""``enlace audit consistency OLD NEW``: prove that one signed checkpoint extends another.

OLD and NEW are each a checkpoint size (a checkpoint stored on the live log, or in the
export given with ``--from-export``), a file holding a signed checkpoint kept earlier
(``enlace audit checkpoint -o FILE``), or ``latest``. Both must be signed by a hub key;
the RFC 9162 consistency proof is made from the log and checked against both signed roots
(:func:`hub.audit.proofs.prove_consistency`), so it fails for a log that was forked,
rolled back or rewritten since OLD was signed.
"""

from __future__ import annotations

import base64
import contextlib
from pathlib import Path
from typing import Any

import click

from hub.audit.checkpoint import Checkpoint, CheckpointVerifier, open_checkpoint
from hub.audit.errors import CheckpointError, ProofError
from hub.audit.proofs import prove_consistency
from hub.cli.audit_access import from_export_option, key_opts, load_log, nats_url_option, verifiers
from hub.cli.context import CliContext, fail, pass_cli, print_json
from hub.cli.exit_codes import ExitCode

__all__ = ["consistency", "resolve_checkpoint"]


def resolve_checkpoint(
    which: str, notes: list[str], keys: list[CheckpointVerifier]
) -> tuple[str, Checkpoint]:
    """The signed note and checkpoint ``which`` names: a size, ``latest`` or a file.

    Args:
        which: a checkpoint size, ``latest``, or the path of a file holding a signed note.
        notes: the stored checkpoints (of the live log or an export).
        keys: the hub keys a checkpoint must be signed by.

    Raises:
        click.exceptions.Exit: via :func:`fail`: no such checkpoint (NOT_FOUND), or the
            file's note is not signed by a hub key (FAILED).
    """
    if which.isdigit() or which == "latest":
        opened: list[tuple[str, Checkpoint]] = []
        for note in notes:
            with contextlib.suppress(CheckpointError):
                opened.append((note, open_checkpoint(note, keys)))
        if which == "latest":
            chosen = max(opened, key=lambda p: p[1].size, default=None)
        else:
            chosen = next((p for p in opened if p[1].size == int(which)), None)
        if chosen is None:
            sizes = sorted({cp.size for _, cp in opened})
            fail(
                f"no checkpoint signed by a hub key has size {which}; signed sizes: "
                f"{', '.join(map(str, sizes[-10:])) or 'none'}",
                ExitCode.NOT_FOUND,
            )
        return chosen
    path = Path(which)
    try:
        note = path.read_text(encoding="utf-8")
    except OSError as exc:
        fail(f"{which} is neither a checkpoint size nor a readable file ({exc})", ExitCode.USAGE)
    try:
        return note, open_checkpoint(note, keys)
    except CheckpointError as exc:
        fail(f"{which}: {exc.description}", ExitCode.FAILED)


def _view(cp: Checkpoint) -> dict[str, Any]:
    return {
        "origin": cp.origin,
        "size": cp.size,
        "root": base64.b64encode(cp.root).decode(),
        "time": cp.time.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


@click.command(
    help="Prove that checkpoint NEW extends checkpoint OLD (RFC 9162 consistency): each is "
    "a size, 'latest', or a file kept with `enlace audit checkpoint -o`. Exit 0 when "
    "consistent, 1 when not (a forked, rolled back or rewritten log), 13 when no checkpoint "
    "has that size."
)
@click.argument("old")
@click.argument("new")
@from_export_option("Prove from")
@key_opts
@click.option("--json", "as_json", is_flag=True, help="Machine-readable result, with the proof.")
@nats_url_option
@pass_cli
def consistency(
    cli: CliContext,
    old: str,
    new: str,
    export_file: Path | None,
    key_file: Path | None,
    key_name: str | None,
    as_json: bool,
    nats_url: str | None,
) -> None:
    keys = verifiers(cli, key_file, key_name)
    log = load_log(export_file, nats_url)
    _, old_cp = resolve_checkpoint(old, log.notes, keys)
    _, new_cp = resolve_checkpoint(new, log.notes, keys)
    if old_cp.size > new_cp.size:
        fail(f"OLD (size {old_cp.size}) is larger than NEW (size {new_cp.size})", ExitCode.USAGE)
    result: dict[str, Any] = {"old": _view(old_cp), "new": _view(new_cp)}
    try:
        proof = prove_consistency(log.entries, old_cp, new_cp)
    except ProofError as exc:
        result |= {"ok": False, "problem": exc.description, "proof": []}
    else:
        hashes = [base64.b64encode(p).decode() for p in proof]
        result |= {"ok": True, "problem": None, "proof": hashes}
    if as_json:
        print_json(result)
    elif result["ok"]:
        click.echo(
            f"OK: the checkpoint of size {new_cp.size} ({result['new']['time']}) extends the "
            f"one of size {old_cp.size} ({result['old']['time']}); proof of {len(proof)} hashes"
        )
    else:
        click.echo(
            f"FAILED: size {new_cp.size} does not extend size {old_cp.size}: {result['problem']}",
            err=True,
        )
    if not result["ok"]:
        raise SystemExit(int(ExitCode.FAILED))
