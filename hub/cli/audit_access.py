"""How the ``enlace audit`` commands reach the log and the keys that check its checkpoints.

The live log is read over NATS with the deployment's operator login (``--nats-url``,
``$ENLACE_NATS_URL``, else the deployment's settings); checkpoint signatures are checked
with the hub keys of the deployment's signed directory, or with ``--key FILE``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from nats.aio.client import Client as NatsClient

from hub.audit.checkpoint import CheckpointVerifier
from hub.audit.entries import AuditEntry, parse_entry
from hub.audit.errors import AuditError
from hub.audit.export import read_export
from hub.audit.reader import AuditReader, WitnessRecord, leaf_notes
from hub.audit.witness import party_system_keys
from hub.cli.context import CliContext, fail
from hub.cli.exit_codes import ExitCode
from hub.cli.operator import with_operator
from hub.errors import KeyStoreError
from hub.governance.keystore import load_key_file
from schemas.errors import GovernanceError
from schemas.trust import load_directory, load_trust_root

__all__ = [
    "LoadedLog",
    "from_export_option",
    "key_opts",
    "load_log",
    "nats_url_option",
    "newest_then_new",
    "output_option",
    "party_keys",
    "verifiers",
    "with_reader",
]

T = TypeVar("T")


def with_reader(url: str | None, body: Callable[[AuditReader], Awaitable[T]]) -> T:
    """Connect as the operator, run ``body`` with a reader of the live log, and disconnect.

    A NATS error ends the command with ``UNAVAILABLE``, an audit error with ``FAILED``,
    Ctrl-C quietly with 0.
    """

    async def read(nc: NatsClient) -> T:
        try:
            return await body(AuditReader(nc.jetstream()))
        except AuditError as exc:
            fail(str(exc), ExitCode.FAILED)

    return with_operator(url, "enlace-audit-cli", read)


@dataclass(frozen=True)
class LoadedLog:
    """A whole log: its entries, signed checkpoints and signed leaves; ``offline`` if exported."""

    entries: list[bytes]
    notes: list[str]
    leaves: list[str]
    offline: bool
    witnesses: list[WitnessRecord]


def from_export_option(what: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The ``--from-export FILE`` option: ``what`` this export file instead of the live log."""
    return click.option(
        "--from-export",
        "export_file",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        default=None,
        help=f"{what} this export file instead of the live log (offline).",
    )


def load_log(export_file: Path | None, url: str | None) -> LoadedLog:
    """The export file's log if one is given, else the live log read over NATS.

    An unreadable export ends the command with ``FAILED``.
    """
    if export_file is not None:
        try:
            exported = read_export(export_file)
        except AuditError as exc:
            fail(str(exc), ExitCode.FAILED)
        exported_log = (exported.entries, exported.checkpoints, exported.leaves)
        return LoadedLog(*exported_log, True, exported.witnesses)

    async def read(reader: AuditReader) -> LoadedLog:
        stored = await reader.checkpoint_messages()
        notes = [s.note for s in stored]
        entries, witnesses = await reader.read_all(), await reader.witness_records()
        return LoadedLog(entries, notes, leaf_notes(stored), False, witnesses)

    return with_reader(url, read)


async def newest_then_new(
    reader: AuditReader, limit: int, follow: bool, keep: Callable[[AuditEntry], bool]
) -> AsyncIterator[tuple[bool, list[AuditEntry]]]:
    """The newest ``limit`` entries ``keep`` accepts, as ``(False, entries)`` once the log
    is read; then, with ``follow``, ``(True, [entry])`` for each new one it accepts.

    ``keep`` sees every well-formed entry in log order (it may learn from those it refuses).

    Args:
        reader: the live log.
        limit: how many of the newest entries to give first.
        follow: keep reading as entries are appended.
        keep: which entries to give.
    """
    last = await reader.last_seq()
    recent: deque[AuditEntry] = deque(maxlen=max(limit, 0))
    caught_up = last == 0
    if caught_up:
        yield False, []
    async for batch in reader.batches(follow=follow):
        for raw in batch.entries:
            try:
                entry = parse_entry(raw)
            except AuditError:
                continue  # `enlace audit verify` names bad entries; tails show the good
            if not keep(entry):
                continue
            if caught_up:
                yield True, [entry]
            else:
                recent.append(entry)
        if not caught_up and batch.seq >= last:
            caught_up = True
            yield False, list(recent)


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
_key_options = [
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


def key_opts(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The ``--key`` and ``--key-name`` options of the commands that check checkpoints."""
    for option in reversed(_key_options):
        fn = option(fn)
    return fn


def party_keys(cli: CliContext) -> dict[str, list[Ed25519PublicKey]] | None:
    """Each party's system keys of the deployment's signed directory (what its witness
    cosigns with); None without a deployment or an accepted directory (with ``--key``)."""
    deployment = cli.deployment
    try:
        directory = load_directory(deployment.directory, load_trust_root(deployment.trust_root))
    except (GovernanceError, OSError):
        return None
    return party_system_keys(directory)


def verifiers(
    cli: CliContext, key_file: Path | None, key_name: str | None
) -> list[CheckpointVerifier]:
    """The keys that check checkpoint signatures: ``--key`` if given, else the directory's.

    Args:
        cli: the command's context (its deployment holds the signed directory).
        key_file: a hub public key in PEM, or the hub's private key file (its public half).
        key_name: the name the key signs under (default: the file's stem).
    """
    if key_file is not None:
        name = key_name or key_file.name.split(".")[0]
        by_origin = key_name is None  # a name given is the only one the key may sign under
        pem = key_file.read_bytes()
        if b"PRIVATE KEY" in pem:
            try:
                private = load_key_file(key_file)
                return [CheckpointVerifier(name, private.public_key(), by_origin)]
            except KeyStoreError as exc:
                fail(exc.description, ExitCode.USAGE)
        try:
            public = load_pem_public_key(pem)
        except ValueError:
            public = None
        if not isinstance(public, Ed25519PublicKey):
            fail(f"{key_file} is not an Ed25519 public key in PEM", ExitCode.USAGE)
        return [CheckpointVerifier(name, public, by_origin)]
    deployment = cli.require_deployment()
    try:
        directory = load_directory(deployment.directory, load_trust_root(deployment.trust_root))
    except GovernanceError as exc:
        fail(f"cannot read the hub keys: {exc}", ExitCode.GOVERNANCE)
    # Under its kid (checkpoints signed before logs named themselves) or the log's origin.
    return [CheckpointVerifier(k.kid, k.public_key, by_origin=True) for k in directory.hub.keys]
