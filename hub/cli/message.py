"""``enlace message``: write message templates (``enlace message new TYPE``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from pydantic import ValidationError

from hub.cli.context import fail
from hub.cli.exit_codes import ExitCode
from schemas.common import THEMES, Tlp
from schemas.envelope import Sender, first_error
from schemas.errors import MessageError
from schemas.message import new_message
from schemas.registry import REGISTRY

__all__ = ["emit_message", "message"]


@click.group(help="Message templates and helpers.")
def message() -> None:
    pass


def _default_poc(country: str, theme: str) -> str:
    # The demo deployment names a point of contact <cc>-<theme with dashes>, e.g. gt-narcotics.
    return f"{country.lower()}-{theme.replace('_', '-')}"


def _countries(values: tuple[str, ...]) -> list[str]:
    """``--to SV --to us,HN`` as ``["SV", "US", "HN"]`` (in order, each once)."""
    out: list[str] = []
    for value in values:
        for cc in value.split(","):
            code = cc.strip().upper()
            if code and code not in out:
                out.append(code)
    return out


def _theme_from_poc(poc: str, themes: tuple[str, ...]) -> str | None:
    return next((t for t in themes if poc.endswith("-" + t.replace("_", "-"))), None)


@message.command(
    "new",
    help="Print (or write with -o) a valid, unsigned template message of TYPE: a fresh id, "
    "issued_at now and a realistic example payload to edit. Sign it with `enlace sign`.\n\n"
    f"Types: {', '.join(REGISTRY.types())}.",
)
@click.argument("type_", metavar="TYPE")
@click.option("--country", default="GT", show_default=True, help="Sender country (ISO 3166-1).")
@click.option("--poc", default=None, help="Sender point of contact id (default <cc>-<theme>).")
@click.option("--agency", default=None, help="Sender agency (default 'Agency of <cc>').")
@click.option(
    "--theme",
    type=click.Choice(THEMES),
    default=None,
    help="Theme (default: the one the --poc id names, else the type's first theme).",
)
@click.option(
    "--schema-version", "version", type=int, default=None, help="Schema version (latest)."
)
@click.option(
    "--handling",
    type=click.Choice([t.value for t in Tlp]),
    default="green",
    show_default=True,
    help="TLP 2.0 label.",
)
@click.option(
    "--to",
    "to",
    multiple=True,
    metavar="CC[,CC…]",
    help="The countries the message is meant for (repeat or comma-separate); narrows the "
    "agreements' recipients, never widens them. TLP:RED reaches only these.",
)
@click.option("--in-reply-to", default=None, help="Id of the message a reply answers.")
@click.option("--no-onward", is_flag=True, help="Handling: the recipients may not pass it on.")
@click.option(
    "--not-for-court",
    is_flag=True,
    help="Handling: not to be used as evidence without your consent.",
)
@click.option("--condition-note", default=None, help="Handling: a condition in your words.")
@click.option(
    "--derived-from",
    multiple=True,
    metavar="ID",
    help="A message this one is made from (repeatable); another country's no_onward message "
    "needs its consent (`enlace publish --consent`).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write to this file instead of standard output.",
)
def new(
    type_: str,
    country: str,
    poc: str | None,
    agency: str | None,
    theme: str | None,
    version: int | None,
    handling: str,
    to: tuple[str, ...],
    in_reply_to: str | None,
    no_onward: bool,
    not_for_court: bool,
    condition_note: str | None,
    derived_from: tuple[str, ...],
    output: Path | None,
) -> None:
    if type_ not in REGISTRY.types():
        fail(
            f"unknown message type {type_!r}; known: {', '.join(REGISTRY.types())}", ExitCode.USAGE
        )
    version = version if version is not None else REGISTRY.latest(type_)
    country = country.upper()
    try:
        themes = REGISTRY.themes_for(type_, version)
        if theme is None:
            theme = (_theme_from_poc(poc, themes) if poc else None) or themes[0]
        sender = Sender.model_validate(
            {
                "country": country,
                "agency": agency or f"Agency of {country}",
                "poc": poc or _default_poc(country, theme),
            }
        )
        fields: dict[str, object] = {"version": version}
        if in_reply_to is not None:
            fields["in_reply_to"] = in_reply_to
        countries = _countries(to)
        if countries:
            fields["to"] = countries
        if no_onward or not_for_court or condition_note is not None:
            conditions = {"no_onward": no_onward, "not_for_court": not_for_court}
            fields["conditions"] = conditions | (
                {"note": condition_note} if condition_note is not None else {}
            )
        if derived_from:
            fields["derived_from"] = list(derived_from)
        data = new_message(type_, sender, theme=theme, handling=handling, **fields)
    except MessageError as exc:
        fail(f"{exc.description} [{exc.code}]", ExitCode.USAGE)
    except ValidationError as exc:  # the sender flags
        field, problem = first_error(exc)
        fail(f"--{field}: {problem}", ExitCode.USAGE)
    if handling == Tlp.RED.value and "to" not in data:
        click.echo(
            "warning: TLP:RED goes only to the countries named in `to`; without --to "
            "nobody will receive this message (undeliverable)",
            err=True,
        )
    emit_message(data, output, f"{type_} v{version}, theme {theme}")


def emit_message(data: dict[str, Any], output: Path | None, what: str) -> None:
    """Print message ``data`` as indented JSON, or write it to ``output`` and say so.

    Args:
        data: the message.
        output: the file to write (None: standard output).
        what: what it is, for the line that says it was written (``seizure v1, …``).
    """
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    if output is None:
        click.echo(text, nl=False)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        fail(f"cannot write {output}: {exc.strerror}", ExitCode.FAILED)
    click.echo(f"wrote {output} ({what}, id {data['id']})", err=True)
