"""``enlace schemas``: export the JSON Schemas of the message types and the AsyncAPI document."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from hub.cli.context import fail, print_json
from hub.cli.exit_codes import ExitCode
from schemas.export import export_schemas
from schemas.registry import REGISTRY

__all__ = ["schemas"]


@click.group(help="JSON Schema and AsyncAPI documents of the message types.")
def schemas() -> None:
    pass


@schemas.command(
    "export",
    help="Write DIR/<type>.v<version>.schema.json (JSON Schema 2020-12 of the whole message: "
    "envelope and typed payload) for every message type, and DIR/asyncapi.yaml (AsyncAPI 3.0 "
    "of the NATS subjects). DIR is created if missing; existing files are overwritten.",
)
@click.argument("directory", metavar="DIR", type=click.Path(file_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the list of files written as JSON.")
def export(directory: Path, as_json: bool) -> None:
    try:
        written = export_schemas(directory)
    except OSError as exc:
        fail(f"cannot write into {directory}: {exc.strerror or exc}", ExitCode.FAILED)
    if as_json:
        print_json([str(p) for p in written])
        return
    for path in written:
        click.echo(str(path))
    click.echo(f"{len(written)} files written to {directory}", err=True)


@schemas.command("list", help="List the message types: version, themes, whether a reply.")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def list_types(as_json: bool) -> None:
    rows: list[dict[str, Any]] = [
        {
            "type": spec.type,
            "version": spec.version,
            "themes": [str(t) for t in spec.themes],
            "reply": spec.reply,
            "title": spec.title,
        }
        for spec in REGISTRY
    ]
    if as_json:
        print_json(rows)
        return
    for row in rows:
        reply = " (reply: needs in_reply_to)" if row["reply"] else ""
        click.echo(f"{row['type']} v{row['version']}{reply}: {row['title']}")
        click.echo(f"    themes: {', '.join(row['themes'])}")
