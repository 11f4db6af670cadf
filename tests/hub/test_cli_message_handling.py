"""``enlace message new`` with handling conditions and the messages it derives from."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from hub.cli import cli
from hub.cli.exit_codes import ExitCode
from schemas.handling import Conditions
from schemas.message import parse_message

ORIGINAL = "01JD0000000000000000000000"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["message", "new", "gang_movement", *args])
    return result.exit_code, result.stdout, result.stderr


def test_conditions_and_derived_from_are_set() -> None:
    code, out, _ = run(
        "--no-onward", "--condition-note", "sólo análisis", "--derived-from", ORIGINAL
    )
    assert code == ExitCode.OK
    envelope = parse_message(out.encode()).envelope
    assert envelope.conditions == Conditions(no_onward=True, note="sólo análisis")
    assert envelope.derived_from == [ORIGINAL]


def test_without_flags_there_are_no_conditions() -> None:
    code, out, _ = run()
    assert code == ExitCode.OK
    envelope = parse_message(out.encode()).envelope
    assert envelope.conditions is None and envelope.derived_from is None


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("--condition-note", ""), "conditions.note"),
        (("--condition-note", "x" * 501), "conditions.note"),
        (("--derived-from", "nope"), "derived_from.0"),
    ],
)
def test_wrong_values_exit_2_naming_the_field(args: tuple[str, ...], says: str) -> None:
    code, _, err = run(*args)
    assert code == ExitCode.USAGE
    assert says in err
