"""``enlace rejected tail``: the audit log's rejections, each reason explained for people.

The same entries as ``enlace audit tail`` of kind ``rejected`` (a refusal by the hub, or
by the NATS server before the hub saw the message), with the reason's explanation in
the operator's language (``--lang``, ``ENLACE_LANG``, ``LANG``).
"""

from __future__ import annotations

from collections.abc import Callable

import click

from hub.audit.entries import AuditEntry, EntryKind
from hub.audit.reader import AuditReader
from hub.cli.audit_access import nats_url_option, newest_then_new, with_reader
from hub.cli.context import print_json
from hub.cli.language import explainer, lang_option

__all__ = ["rejected"]


@click.group(help="Messages the exchange refused, from the audit log.")
def rejected() -> None:
    pass


def _line(entry: AuditEntry, explain: Callable[[str | None], str]) -> str:
    size = f"{entry.size} B" if entry.size is not None else "-"
    detail = f" ({entry.detail})" if entry.detail else ""
    return (
        f"{entry.index!s:>6}  {entry.time:%Y-%m-%d %H:%M:%S}  {entry.country or '??'}  "
        f"{entry.message_id or '-':<26}  {size:>9}  {entry.reason}: {explain(entry.reason)}"
        f"{detail}"
    )


@rejected.command(help="Show the newest rejections (JSON lines with --json); -f follows.")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new rejections as they come.")
@click.option("--country", default="", help="Only those sent by this country.")
@click.option("-n", "--limit", type=click.IntRange(0), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="JSON lines: the entry and its explanation.")
@lang_option
@nats_url_option
def tail(
    follow: bool,
    country: str,
    limit: int,
    as_json: bool,
    lang: str | None,
    nats_url: str | None,
) -> None:
    explain = explainer(lang)
    country = country.strip().upper()

    def emit(entry: AuditEntry) -> None:
        if as_json:
            print_json({**entry.to_json(), "explanation": explain(entry.reason)})
        else:
            click.echo(_line(entry, explain))

    def keep(entry: AuditEntry) -> bool:
        return entry.kind is EntryKind.REJECTED and country in ("", entry.country)

    async def body(reader: AuditReader) -> None:
        async for _, entries in newest_then_new(reader, limit, follow, keep):
            for entry in entries:
                emit(entry)

    with_reader(nats_url, body)
