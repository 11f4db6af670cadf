"""``enlace audit``: watch, search, export and verify the hub's tamper-evident audit log.

This module holds the group and the commands that show entries to people (``tail``,
``show``); the commands that treat the log as evidence (``verify``, ``export``,
``checkpoint``, ``proof``, ``verify-proof``) are :mod:`hub.cli.audit_evidence`, and how
both reach the log and its keys is :mod:`hub.cli.audit_access`. Commands that read the
live log connect to NATS (``--nats-url``, ``$ENLACE_NATS_URL``); ``verify --from-export``
and ``verify-proof`` work offline.
"""

from __future__ import annotations

from collections.abc import Iterable

import click
from rich.console import Console
from rich.table import Table

from hub.audit.chains import Chain, read_chain
from hub.audit.entries import REDELIVERED, AuditEntry
from hub.audit.reader import AuditReader
from hub.cli.audit_access import nats_url_option, newest_then_new, with_reader
from hub.cli.audit_consistency import consistency
from hub.cli.audit_evidence import checkpoint, export, proof, verify, verify_proof
from hub.cli.context import fail

__all__ = ["audit"]


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
        if entry.conditions:  # the sender's handling conditions
            again = f" [{', '.join(entry.conditions)}]{again}"
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

    themes: dict[str, str] = {}

    def keep(entry: AuditEntry) -> bool:
        if entry.theme and entry.message_id:
            themes[entry.message_id] = entry.theme
        return _matches(entry, country, theme, message_id, themes)

    async def body(reader: AuditReader) -> None:
        async for is_new, entries in newest_then_new(reader, limit, follow, keep):
            if is_new:
                live(entries[0])
            else:
                emit(entries)

    with_reader(nats_url, body)


@audit.command(
    help="The trail of one message: received, decisions per party, deliveries, receipts; "
    "with its corrections and retraction (the versions of the message, any of them given)."
)
@click.argument("message_id")
@click.option("--json", "as_json", is_flag=True, help="JSON lines (the stored entries).")
@nats_url_option
def show(message_id: str, as_json: bool, nats_url: str | None) -> None:
    async def body(reader: AuditReader) -> tuple[Chain, list[AuditEntry]]:
        return await read_chain(reader, message_id)

    chain, trail = with_reader(nats_url, body)
    if not trail:
        fail(f"no audit entry for message {message_id}; check the id (see `enlace audit tail`)")
    if as_json:
        for e in trail:
            click.echo(e.canonical().decode())
        return
    if chain.amended:
        click.echo(f"versions: {chain.describe()}")
    Console().print(_table(trail))


for _command in (verify, export, checkpoint, proof, verify_proof, consistency):
    audit.add_command(_command)
