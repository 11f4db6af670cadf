"""``enlace audit``: watch, search, export and verify the hub's tamper-evident audit log.

Commands that read the live log connect to NATS (``--nats-url``, ``$ENLACE_NATS_URL``);
``verify --from-export`` and ``verify-proof`` work offline. Checkpoint signatures are
checked with the hub keys of the deployment's directory, or with ``--key FILE``.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import click
import nats
import nats.errors
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from rich.console import Console
from rich.table import Table

from hub.audit.checkpoint import Checkpoint, CheckpointVerifier
from hub.audit.entries import REDELIVERED, AuditEntry, parse_entry
from hub.audit.errors import AuditError, CheckpointError
from hub.audit.export import latest_size, read_export, write_export
from hub.audit.merkle import inclusion_proof, leaf_hash
from hub.audit.reader import AuditReader
from hub.audit.verify import (
    load_proof_bundle,
    make_proof_bundle,
    verify_log,
    verify_proof_bundle,
)
from hub.cli.context import CliContext, fail, pass_cli, print_json
from hub.cli.exit_codes import ExitCode
from hub.cli.operator import connect_operator, resolve_nats_url
from hub.errors import KeyStoreError
from hub.governance.keystore import load_key_file
from schemas.errors import GovernanceError
from schemas.trust import load_directory, load_trust_root

__all__ = ["audit"]

T = TypeVar("T")


def _with_reader(url: str | None, body: Callable[[AuditReader], Awaitable[T]]) -> T:
    cli = click.get_current_context().find_object(CliContext)
    assert cli is not None  # every command runs under the root group
    server = resolve_nats_url(cli, url)

    async def run() -> T:
        nc = await connect_operator(cli.deployment, server, "enlace-audit-cli")
        try:
            return await body(AuditReader(nc.jetstream()))
        except nats.errors.Error as exc:
            fail(f"NATS error while reading the audit log: {exc}", ExitCode.UNAVAILABLE)
        except AuditError as exc:
            fail(str(exc), ExitCode.FAILED)
        finally:
            await nc.close()

    try:
        return asyncio.run(run())
    except KeyboardInterrupt:
        raise SystemExit(0) from None


output_option = click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write to this file instead of standard output.",
)
nats_url_option = click.option(
    "--nats-url",
    envvar="ENLACE_NATS_URL",
    default=None,
    help="NATS server of the hub (env ENLACE_NATS_URL; default: the deployment's settings).",
)
key_options = [
    click.option(
        "--key",
        "key_file",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        default=None,
        help="Hub public key (PEM) or the hub's private key file keys/hub/<kid>.pem; "
        "default: the hub keys of the deployment's signed directory.",
    ),
    click.option("--key-name", default=None, help="Name the key signs under (default: file stem)."),
]


def _key_opts(fn: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(key_options):
        fn = option(fn)
    return fn


def _verifiers(
    cli: CliContext, key_file: Path | None, key_name: str | None
) -> list[CheckpointVerifier]:
    if key_file is not None:
        name = key_name or key_file.name.split(".")[0]
        pem = key_file.read_bytes()
        if b"PRIVATE KEY" in pem:
            try:
                return [CheckpointVerifier(name, load_key_file(key_file).public_key())]
            except KeyStoreError as exc:
                fail(exc.description, ExitCode.USAGE)
        try:
            public = load_pem_public_key(pem)
        except ValueError:
            public = None
        if not isinstance(public, Ed25519PublicKey):
            fail(f"{key_file} is not an Ed25519 public key in PEM", ExitCode.USAGE)
        return [CheckpointVerifier(name, public)]
    deployment = cli.require_deployment()
    try:
        directory = load_directory(deployment.directory, load_trust_root(deployment.trust_root))
    except GovernanceError as exc:
        fail(f"cannot read the hub keys: {exc}", ExitCode.GOVERNANCE)
    return [CheckpointVerifier(k.kid, k.public_key) for k in directory.hub.keys]


@click.group(help="The tamper-evident audit log: tail, trail of a message, verify, export, proofs.")
def audit() -> None:
    pass


# -- tail / show ---------------------------------------------------------------------------------


def _matches(
    entry: AuditEntry,
    country: str | None,
    theme: str | None,
    message: str | None,
    themes: dict[str, str],
) -> bool:
    if message and entry.message_id != message:
        return False
    if theme and (entry.theme or themes.get(entry.message_id or "")) != theme:
        return False
    if country:
        involved = {entry.country, entry.recipient, *(r.country for r in entry.refused or ())}
        if country.upper() not in involved:
            return False
    return True


def _what(entry: AuditEntry) -> str:
    """The one-line summary of an entry for people."""
    kind = entry.kind.value
    if kind == "received":
        again = " (again: redelivered)" if entry.detail == REDELIVERED else ""
        return f"{entry.country} {entry.poc or ''} {entry.theme}/{entry.type} {entry.size} B{again}"
    if kind == "rejected":
        # A refusal by the NATS server has no message id: its detail says what happened.
        detail = f" ({entry.detail})" if entry.detail else ""
        return f"from {entry.country or '?'}: {entry.reason}{detail}"
    if kind == "routed":
        return f"→ {entry.recipient} view={entry.view} agreement={entry.agreement}"
    if kind in ("undeliverable", "not_routed"):
        return ", ".join(f"{r.country}: {r.reason}" for r in entry.refused or ())
    if kind == "delivered":
        return f"{entry.recipient} via {entry.sink}"
    if kind == "dead_lettered":
        return f"{entry.recipient} via {entry.sink} refused: {entry.reason}"
    if kind == "receipt_rejected":
        return f"receipt from {entry.country or '?'} not accepted: {entry.reason}"
    if kind == "governance":
        return f"{entry.subject} {entry.version} {entry.outcome} {entry.detail or ''}".strip()
    if kind == "key_event":
        return f"key {entry.version} {entry.outcome}"
    if kind == "consumer":
        stream = (entry.subject or "").upper()
        return f"consumer {entry.version} on {stream} {entry.outcome}: {entry.detail}"
    return entry.hub_id or ""


_COLORS = {
    "rejected": "red",
    "consumer": "red",
    "undeliverable": "yellow",
    "routed": "cyan",
    "delivered": "green",
    "dead_lettered": "red",
    "receipt_rejected": "red",
}


def _table(entries: Iterable[AuditEntry]) -> Table:
    table = Table(show_edge=False, pad_edge=False)
    for column in ("#", "time (UTC)", "kind", "message", "what"):
        table.add_column(column, overflow="fold")
    for e in entries:
        color = _COLORS.get(e.kind.value, "")
        table.add_row(
            str(e.index),
            e.time.strftime("%Y-%m-%d %H:%M:%S"),
            f"[{color}]{e.kind.value}[/]" if color else e.kind.value,
            e.message_id or "",
            _what(e),
        )
    return table


@audit.command(
    help="Show the newest audit entries (a table, or JSON lines with --json); -f follows."
)
@click.option("-f", "--follow", is_flag=True, help="Keep printing new entries as they come.")
@click.option("--country", default=None, help="Only entries that involve this country.")
@click.option("--theme", default=None, help="Only entries of messages of this theme.")
@click.option("--message", "message_id", default=None, help="Only entries of this message id.")
@click.option("-n", "--limit", type=int, default=50, show_default=True, help="Entries shown first.")
@click.option("--json", "as_json", is_flag=True, help="JSON lines (the stored entries).")
@nats_url_option
def tail(
    follow: bool,
    country: str | None,
    theme: str | None,
    message_id: str | None,
    limit: int,
    as_json: bool,
    nats_url: str | None,
) -> None:
    console = Console()

    def emit(entries: Iterable[AuditEntry]) -> None:
        chosen = list(entries)
        if as_json:
            for e in chosen:
                click.echo(e.canonical().decode())
        elif chosen:
            console.print(_table(chosen))

    def live(entry: AuditEntry) -> None:
        # One line per new entry, aligned like the table's columns (no header each time).
        if as_json:
            click.echo(entry.canonical().decode())
            return
        color = _COLORS.get(entry.kind.value, "default")
        console.print(
            f"{entry.index!s:>6}  {entry.time:%Y-%m-%d %H:%M:%S}  "
            f"[{color}]{entry.kind.value:<13}[/]  {entry.message_id or '':<26}  {_what(entry)}",
            highlight=False,
        )

    async def body(reader: AuditReader) -> None:
        last = await reader.last_seq()
        themes: dict[str, str] = {}
        recent: deque[AuditEntry] = deque(maxlen=max(limit, 0))
        caught_up = last == 0
        if caught_up:
            emit([])
        async for batch in reader.batches(follow=follow):
            for raw in batch.entries:
                try:
                    entry = parse_entry(raw)
                except AuditError:
                    continue  # `enlace audit verify` names bad entries; tail shows the good
                if entry.theme and entry.message_id:
                    themes[entry.message_id] = entry.theme
                if _matches(entry, country, theme, message_id, themes):
                    if caught_up:
                        live(entry)
                    else:
                        recent.append(entry)
            if not caught_up and batch.seq >= last:
                caught_up = True
                emit(recent)

    _with_reader(nats_url, body)


@audit.command(
    help="The trail of one message: received, decisions per party, deliveries, receipts."
)
@click.argument("message_id")
@click.option("--json", "as_json", is_flag=True, help="JSON lines (the stored entries).")
@nats_url_option
def show(message_id: str, as_json: bool, nats_url: str | None) -> None:
    async def body(reader: AuditReader) -> list[AuditEntry]:
        found = []
        async for raw in reader.entries():
            try:
                entry = parse_entry(raw)
            except AuditError:
                continue
            if entry.message_id == message_id:
                found.append(entry)
        return found

    trail = _with_reader(nats_url, body)
    if not trail:
        fail(f"no audit entry for message {message_id}; check the id (see `enlace audit tail`)")
    if as_json:
        for e in trail:
            click.echo(e.canonical().decode())
        return
    Console().print(_table(trail))


# -- verify / export -----------------------------------------------------------------------------


@audit.command(
    help="Recompute the Merkle tree, check every checkpoint's signature and that each later "
    "checkpoint extends the earlier; print OK with size and root, or the first bad entry and "
    "why (exit 1). Offline with --from-export."
)
@click.option(
    "--from-export",
    "export_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Verify this export file instead of the live log (offline).",
)
@click.option(
    "--checkpoint",
    "checkpoint_files",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    multiple=True,
    help="A checkpoint you kept earlier: the log must still extend it (repeatable).",
)
@_key_opts
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
    keys = _verifiers(cli, key_file, key_name)
    if export_file is not None:
        try:
            exported = read_export(export_file)
        except AuditError as exc:
            fail(str(exc), ExitCode.FAILED)
        entries, notes, strict = exported.entries, exported.checkpoints, True
    else:

        async def body(reader: AuditReader) -> tuple[list[bytes], list[str]]:
            return await reader.read_all(), await reader.checkpoints()

        entries, notes = _with_reader(nats_url, body)
        strict = False
    kept = [p.read_text(encoding="utf-8", errors="replace") for p in checkpoint_files]
    report = verify_log(entries, [*notes, *kept], keys, require_covered=strict)
    if as_json:
        print_json(report.to_json())
    elif report.ok:
        root = base64.b64encode(report.root).decode()
        click.echo(
            f"OK: {report.size} entries, root {root}, {report.checkpoints} checkpoints "
            f"(the largest covers {report.covered})"
        )
        for note in report.notes:
            click.echo(f"note: {note}")
    else:
        click.echo(f"FAILED: {report.problem}", err=True)
    if not report.ok:
        raise SystemExit(int(ExitCode.FAILED))


@audit.command(help="Write the log's entries and signed checkpoints to FILE (JSON Lines).")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--include-tail",
    is_flag=True,
    help="Also export entries newer than the last checkpoint (verify will flag them).",
)
@nats_url_option
def export(file: Path, include_tail: bool, nats_url: str | None) -> None:
    async def body(reader: AuditReader) -> tuple[list[bytes], list[str]]:
        return await reader.read_all(), await reader.checkpoints()

    entries, notes = _with_reader(nats_url, body)
    if not include_tail:
        entries = entries[: latest_size(notes)]
    write_export(file, _origin(notes), entries, notes)
    click.echo(f"exported {len(entries)} entries and {len(notes)} checkpoints to {file}")


def _origin(notes: list[str]) -> str | None:
    return notes[0].split("\n", 1)[0] if notes else None


@audit.command(
    help="Print (or write with -o) the latest signed checkpoint: keep it, and later check "
    "that the log still extends it with `enlace audit verify --checkpoint FILE`."
)
@output_option
@nats_url_option
def checkpoint(output: Path | None, nats_url: str | None) -> None:
    async def body(reader: AuditReader) -> list[str]:
        return await reader.checkpoints()

    latest = _latest(_with_reader(nats_url, body))
    if latest is None:
        fail("the audit log has no checkpoint yet; wait for the hub to sign one and retry")
    if output is None:
        click.echo(latest[0], nl=False)
    else:
        output.write_text(latest[0], encoding="utf-8")
        click.echo(f"wrote the checkpoint of size {latest[1].size} to {output}")


# -- proofs --------------------------------------------------------------------------------------


def _latest(notes: list[str]) -> tuple[str, Checkpoint] | None:
    best: tuple[str, Checkpoint] | None = None
    for note in notes:
        try:
            cp = Checkpoint.parse_body(note.partition("\n\n")[0] + "\n")
        except CheckpointError:
            continue
        if best is None or cp.size > best[1].size:
            best = (note, cp)
    return best


@audit.command(
    help="Inclusion proofs of every entry of MESSAGE_ID against the latest checkpoint, "
    "as JSON to keep; check them with `enlace audit verify-proof`."
)
@click.argument("message_id")
@output_option
@nats_url_option
def proof(message_id: str, output: Path | None, nats_url: str | None) -> None:
    async def body(reader: AuditReader) -> tuple[list[bytes], list[str]]:
        return await reader.read_all(), await reader.checkpoints()

    entries, notes = _with_reader(nats_url, body)
    latest = _latest(notes)
    if latest is None:
        fail("the audit log has no checkpoint yet; wait for the hub to sign one and retry")
    note, cp = latest
    hashes = [leaf_hash(raw) for raw in entries[: cp.size]]
    bundles, pending = [], 0
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
        bundles.append(make_proof_bundle(raw, index, inclusion_proof(hashes, index, cp.size), note))
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


@audit.command(
    "verify-proof",
    help="Check inclusion proofs written by `enlace audit proof` (offline): the checkpoint is "
    "signed by the hub and every entry is in the tree it commits to.",
)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_key_opts
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_cli
def verify_proof(
    cli: CliContext, file: Path, key_file: Path | None, key_name: str | None, as_json: bool
) -> None:
    keys = _verifiers(cli, key_file, key_name)
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
