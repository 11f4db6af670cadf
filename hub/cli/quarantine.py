"""``enlace quarantine``: list the quarantined (refused) messages, show one, export its bytes.

Reads stream QUARANTINE one copy at a time with the deployment's read-only ``operator``
login. ``list`` shows metadata only. ``show`` and ``export`` hand out the refused bytes:
each first asks the hub to record the viewing in the audit log (``quarantine_viewed``:
who, which copy, the digest; never the bytes) and shows nothing when no hub records it.
A copy is named by its stream sequence (digits) or by the message id it came with.
"""

from __future__ import annotations

import getpass
import re
from pathlib import Path
from typing import Any

import click
from nats.aio.client import Client as NatsClient
from rich.console import Console
from rich.table import Table

from hub.cli.audit_access import nats_url_option
from hub.cli.context import fail, print_json
from hub.cli.exit_codes import ExitCode
from hub.cli.language import explainer, lang_option
from hub.cli.operator import with_operator
from hub.errors import ViewingRefused
from hub.quarantine import CopyFilter, QuarantineCopy, find_copy, recent_copies, record_viewing
from hub.quarantine.display import show_bytes

__all__ = ["cli_operator", "quarantine"]

_CONNECTION = "enlace-quarantine-cli"


def cli_operator() -> str:
    """Who the audit log names for a viewing from the CLI: ``cli:<OS user>``."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a bare container)
        user = "unknown"
    return "cli:" + (re.sub(r"[^A-Za-z0-9_.-]", "_", user)[:100] or "unknown")


@click.group(help="Quarantined messages: the exact bytes of every refused message, and why.")
def quarantine() -> None:
    pass


@quarantine.command("list", help="List the newest quarantined messages (metadata only).")
@click.option("--country", default="", help="Only those sent by this country (GT, HN, …).")
@click.option("--reason", default="", help="Only those refused for this reason code.")
@click.option("-n", "--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="JSON lines, one copy per line.")
@lang_option
@nats_url_option
def list_(
    country: str, reason: str, limit: int, as_json: bool, lang: str | None, nats_url: str | None
) -> None:
    explain = explainer(lang)
    keep = CopyFilter(country=country.strip().upper(), reason=reason.strip())

    async def body(nc: NatsClient) -> list[QuarantineCopy]:
        return await recent_copies(nc.jetstream(timeout=10), limit, keep)

    copies = with_operator(nats_url, _CONNECTION, body)
    if as_json:
        for copy in copies:
            print_json({**copy.summary(), "explanation": explain(copy.reason)})
        return
    if not copies:
        click.echo("no quarantined message matches", err=True)
        return
    table = Table(box=None, header_style="bold")
    for column in ("seq", "time (UTC)", "from", "reason", "size", "message id"):
        table.add_column(column, overflow="fold")
    for copy in copies:
        table.add_row(
            str(copy.seq),
            copy.time.strftime("%Y-%m-%d %H:%M:%S"),
            copy.country,
            f"{copy.reason}: {explain(copy.reason)}",
            str(copy.size),
            copy.message_id or "",
        )
    Console().print(table)


def _viewed(ident: str, nats_url: str | None, action: str) -> tuple[QuarantineCopy, int]:
    """The copy named ``ident`` and the audit index of its viewing; exit 13 when there is
    no such copy, 6 when the hub did not record the viewing."""

    async def body(nc: NatsClient) -> tuple[QuarantineCopy, int] | None:
        copy = await find_copy(nc.jetstream(timeout=10), ident)
        if copy is None:
            return None
        try:
            return copy, await record_viewing(nc, cli_operator(), copy, action)
        except ViewingRefused as exc:
            fail(f"{exc}; is the hub running (enlace up)?", ExitCode.UNAVAILABLE)

    found = with_operator(nats_url, _CONNECTION, body)
    if found is None:
        fail(
            f"no quarantine copy {ident!r} (a sequence or a message id; see "
            "`enlace quarantine list`)",
            ExitCode.NOT_FOUND,
        )
    return found


@quarantine.command(help="Show one quarantined message: why, its headers, its content (audited).")
@click.argument("ident", metavar="ID|SEQ")
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@lang_option
@nats_url_option
def show(ident: str, as_json: bool, lang: str | None, nats_url: str | None) -> None:
    explain = explainer(lang)
    copy, index = _viewed(ident, nats_url, "shown")
    shown = show_bytes(copy.body)
    if as_json:
        out: dict[str, Any] = {
            **copy.summary(),
            "explanation": explain(copy.reason),
            "headers": copy.headers,
            "form": shown.form,
            "content": shown.text,
            "audit_index": index,
        }
        print_json(out)
        return
    click.echo(f"quarantine copy {copy.seq}, from {copy.country} at {copy.time:%Y-%m-%d %H:%M:%S}")
    click.echo(f"reason: {copy.reason}: {explain(copy.reason)}")
    click.echo(f"size: {copy.size} bytes{' (truncated copy)' if copy.truncated else ''}")
    click.echo(f"digest: {copy.digest}   viewing recorded as audit entry {index}")
    click.echo("headers:")
    for name, value in sorted(copy.headers.items()):
        click.echo(f"  {name}: {value}")
    click.echo(f"content ({shown.form}):")
    click.echo(shown.text)


@quarantine.command(help="Write one quarantined message's exact bytes to a file (audited).")
@click.argument("ident", metavar="ID|SEQ")
@click.option(
    "--out",
    "out_file",
    required=True,
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="The file to write (replaced if it exists).",
)
@nats_url_option
def export(ident: str, out_file: Path, nats_url: str | None) -> None:
    copy, index = _viewed(ident, nats_url, "exported")
    out_file.write_bytes(copy.body)
    if copy.truncated:
        click.echo(f"warning: the copy keeps only the first bytes of {copy.size}", err=True)
    click.echo(f"wrote {len(copy.body)} bytes ({copy.digest}) to {out_file}; audit entry {index}")
