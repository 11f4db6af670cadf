"""``enlace audit`` verify, export, checkpoint, proof, verify-proof: the log as evidence.

``verify`` recomputes the tree and checks every signed checkpoint (offline with
``--from-export``); ``export`` writes the log to keep; ``checkpoint`` prints the latest
signed checkpoint to keep; ``proof`` and ``verify-proof`` prove (offline) that a
message's entries are in the log a checkpoint commits to.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import click

from hub.audit.checkpoint import note_origin
from hub.audit.entries import parse_entry
from hub.audit.errors import AuditError
from hub.audit.export import latest_size, write_export
from hub.audit.proofs import entry_proofs, latest_checkpoint
from hub.audit.reader import AuditReader
from hub.audit.verify import (
    load_proof_bundle,
    verify_log,
    verify_proof_bundle,
)
from hub.audit.witness import CAUGHT, WitnessReport, witness_report
from hub.cli.audit_access import (
    from_export_option,
    key_opts,
    load_log,
    nats_url_option,
    output_option,
    party_keys,
    verifiers,
    with_reader,
)
from hub.cli.context import CliContext, fail, pass_cli, print_json
from hub.cli.exit_codes import ExitCode

__all__ = ["checkpoint", "export", "proof", "verify", "verify_proof"]


async def _log_and_checkpoints(reader: AuditReader) -> tuple[list[bytes], list[str]]:
    return await reader.read_all(), await reader.checkpoints()


@click.command(
    help="Recompute the Merkle tree, check every checkpoint's signature and that each later "
    "checkpoint extends the earlier; print OK with size and root, or the first bad entry and "
    "why (exit 1). Offline with --from-export."
)
@from_export_option("Verify")
@click.option(
    "--checkpoint",
    "checkpoint_files",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    multiple=True,
    help="A checkpoint you kept earlier: the log must still extend it (repeatable).",
)
@key_opts
@click.option("--json", "as_json", is_flag=True, help="Machine-readable report.")
@nats_url_option
@pass_cli
def verify(
    cli: CliContext,
    export_file: Path | None,
    checkpoint_files: tuple[Path, ...],
    key_file: Path | None,
    key_name: str | None,
    as_json: bool,
    nats_url: str | None,
) -> None:
    keys = verifiers(cli, key_file, key_name)
    log = load_log(export_file, nats_url)
    kept = [p.read_text(encoding="utf-8", errors="replace") for p in checkpoint_files]
    notes = [*log.notes, *kept]
    report = verify_log(log.entries, notes, keys, require_covered=log.offline, leaves=log.leaves)
    parties = party_keys(cli)
    latest = latest_checkpoint(log.notes) if report.ok else None
    witnessed = (
        witness_report(latest[0] if latest else None, log.witnesses, parties)
        if parties is not None
        else None
    )
    caught = [r for r in witnessed.refusals if r.reason in CAUGHT] if witnessed else []
    if as_json:
        data = report.to_json()
        data["witnesses"] = witnessed.to_json() if witnessed else None
        data["ok"] = report.ok and not caught
        print_json(data)
    elif report.ok:
        root = base64.b64encode(report.root).decode()
        click.echo(
            f"OK: {report.size} entries, root {root}, {report.checkpoints} checkpoints "
            f"(the largest covers {report.covered})"
        )
        for note in report.notes:
            click.echo(f"note: {note}")
        if witnessed is not None:
            _say_witnesses(witnessed)
        else:
            click.echo("note: witnesses not counted: no signed directory of the parties' keys here")
    else:
        click.echo(f"FAILED: {report.problem}", err=True)
    if not report.ok or caught:
        raise SystemExit(int(ExitCode.FAILED))


def _say_witnesses(witnessed: WitnessReport) -> None:
    who = f": {', '.join(witnessed.witnesses)}" if witnessed.witnesses else ""
    click.echo(
        f"witnesses: {len(witnessed.witnesses)} of {witnessed.parties} parties cosigned the latest "
        f"checkpoint (size {witnessed.size}){who}"
    )
    if witnessed.forged:
        click.echo(f"note: cosignatures that do not verify, from {', '.join(witnessed.forged)}")
    for refusal in witnessed.refusals:
        failed = refusal.reason in CAUGHT
        click.echo(
            f"{'FAILED' if failed else 'note'}: witness {refusal.country} refused the checkpoint "
            f"of size {refusal.offered_size} ({refusal.reason}): {refusal.detail}",
            err=failed,
        )


@click.command(help="Write the log's entries and signed checkpoints to FILE (JSON Lines).")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--include-tail",
    is_flag=True,
    help="Also export entries newer than the last checkpoint (verify will flag them).",
)
@nats_url_option
def export(file: Path, include_tail: bool, nats_url: str | None) -> None:
    log = load_log(None, nats_url)
    entries = log.entries if include_tail else log.entries[: latest_size(log.notes)]
    write_export(file, _origin(log.notes), entries, log.notes, log.leaves, log.witnesses)
    click.echo(f"exported {len(entries)} entries and {len(log.notes)} checkpoints to {file}")


def _origin(notes: list[str]) -> str | None:
    return note_origin(notes[0]) if notes else None


@click.command(
    help="Print (or write with -o) the latest signed checkpoint: keep it, and later check "
    "that the log still extends it with `enlace audit verify --checkpoint FILE`."
)
@output_option
@nats_url_option
def checkpoint(output: Path | None, nats_url: str | None) -> None:
    latest = latest_checkpoint(with_reader(nats_url, AuditReader.checkpoints))
    if latest is None:
        fail("the audit log has no checkpoint yet; wait for the hub to sign one and retry")
    if output is None:
        click.echo(latest[0], nl=False)
    else:
        output.write_text(latest[0], encoding="utf-8")
        click.echo(f"wrote the checkpoint of size {latest[1].size} to {output}")


# -- proofs --------------------------------------------------------------------------------------


@click.command(
    help="Inclusion proofs of every entry of MESSAGE_ID against the latest checkpoint, "
    "as JSON to keep; check them with `enlace audit verify-proof`."
)
@click.argument("message_id")
@output_option
@nats_url_option
def proof(message_id: str, output: Path | None, nats_url: str | None) -> None:
    entries, notes = with_reader(nats_url, _log_and_checkpoints)
    latest = latest_checkpoint(notes)
    if latest is None:
        fail("the audit log has no checkpoint yet; wait for the hub to sign one and retry")
    note, cp = latest
    provable, pending = [], 0
    for index, raw in enumerate(entries):
        try:
            entry = parse_entry(raw)
        except AuditError:
            continue
        if entry.message_id != message_id:
            continue
        if index >= cp.size:
            pending += 1
            continue
        provable.append(index)
    bundles = entry_proofs(entries, note, cp.size, provable)
    if not bundles:
        hint = (
            f"{pending} entries are newer than the latest checkpoint (size {cp.size}); retry "
            "after the next one"
            if pending
            else "check the id (see `enlace audit show`)"
        )
        fail(f"no provable audit entry for message {message_id}: {hint}")
    text = json.dumps({"message_id": message_id, "proofs": bundles}, indent=2, ensure_ascii=False)
    if output is None:
        click.echo(text)
    else:
        output.write_text(text + "\n", encoding="utf-8")
        click.echo(f"wrote {len(bundles)} inclusion proofs to {output}")
    if pending:
        click.echo(f"note: {pending} newer entries are not yet covered by a checkpoint", err=True)


@click.command(
    "verify-proof",
    help="Check inclusion proofs written by `enlace audit proof` (offline): the checkpoint is "
    "signed by the hub and every entry is in the tree it commits to.",
)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@key_opts
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_cli
def verify_proof(
    cli: CliContext, file: Path, key_file: Path | None, key_name: str | None, as_json: bool
) -> None:
    keys = verifiers(cli, key_file, key_name)
    try:
        data = load_proof_bundle(file.read_text(encoding="utf-8"))
        bundles = data.get("proofs", [data])
        if not isinstance(bundles, list) or not bundles:
            fail(f"{file}: no proofs in it", ExitCode.FAILED)
        results = []
        for bundle in bundles:
            cp, index = verify_proof_bundle(bundle, keys)
            entry = parse_entry(str(bundle["entry"]).encode("utf-8"))
            results.append(
                {
                    "index": index,
                    "kind": entry.kind.value,
                    "size": cp.size,
                    "message_id": entry.message_id,
                    "checkpoint_time": cp.time.isoformat(),
                }
            )
    except (AuditError, TypeError, KeyError) as exc:
        fail(f"proof refused: {exc}", ExitCode.FAILED)
    if as_json:
        print_json({"ok": True, "proofs": results})
        return
    for r in results:
        click.echo(
            f"OK: entry {r['index']} ({r['kind']} {r['message_id'] or ''}) is in the log of "
            f"size {r['size']} signed at {r['checkpoint_time']}"
        )
