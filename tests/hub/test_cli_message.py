"""``enlace message new`` and ``enlace schemas export`` as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from hub.cli import cli
from hub.cli.exit_codes import ExitCode
from schemas.message import parse_message
from schemas.registry import REGISTRY


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("type_", REGISTRY.types())
def test_new_prints_a_valid_message_of_every_type(type_: str) -> None:
    code, out, _ = run("message", "new", type_)
    assert code == ExitCode.OK
    message = parse_message(out.encode())
    assert message.type == type_
    assert message.envelope.sender.country == "GT"


def test_new_with_the_readme_flags_writes_a_file(tmp_path: Path) -> None:
    target = tmp_path / "seizure.json"
    code, out, err = run(
        "message", "new", "seizure", "--country", "GT", "--poc", "gt-narcotics", "-o", str(target)
    )
    assert code == ExitCode.OK
    assert out == ""
    assert str(target) in err
    envelope = parse_message(target.read_bytes()).envelope
    assert envelope.sender.poc == "gt-narcotics"
    assert envelope.theme == "narcotics"


def test_theme_follows_the_poc_and_flags_set_the_sender() -> None:
    code, out, _ = run(
        "message", "new", "seizure", "--country", "hn", "--poc", "hn-border-security",
        "--agency", "Dirección Policial Fronteriza",
    )  # fmt: skip
    assert code == ExitCode.OK
    envelope = parse_message(out.encode()).envelope
    assert envelope.theme == "border_security"
    assert envelope.sender.country == "HN"
    assert envelope.sender.agency == "Dirección Policial Fronteriza"


def test_default_poc_is_named_for_country_and_theme() -> None:
    code, out, _ = run("message", "new", "gang_movement", "--country", "SV", "--theme", "gangs")
    assert code == ExitCode.OK
    assert json.loads(out)["sender"]["poc"] == "sv-gangs"


def test_reply_takes_in_reply_to() -> None:
    request_id = "01JDQ7Z8Y6R3M4N5P6Q7R8S9T0"
    code, out, _ = run("message", "new", "information_response", "--in-reply-to", request_id)
    assert code == ExitCode.OK
    assert parse_message(out.encode()).envelope.in_reply_to == request_id


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["piracy_report"], "known: border_alert"),
        (["disaster_alert", "--theme", "gangs"], "theme_not_allowed"),
        (["seizure", "--country", "XX"], "--country"),
        (["seizure", "--poc", "Bad POC"], "--poc"),
        (["seizure", "--handling", "black"], "handling"),
        (["seizure", "--schema-version", "9"], "unknown_type"),
    ],
)
def test_usage_errors_exit_2_and_say_what_is_wrong(args: list[str], says: str) -> None:
    code, out, err = run("message", "new", *args)
    assert code == ExitCode.USAGE
    assert out == ""
    assert says in err


def test_help() -> None:
    for args in (["message", "--help"], ["message", "new", "--help"], ["schemas", "export", "-h"]):
        code, out, _ = run(*args)
        assert code == ExitCode.OK
        assert "Usage:" in out


def test_schemas_export_json_lists_the_files(tmp_path: Path) -> None:
    code, out, _ = run("schemas", "export", str(tmp_path / "s"), "--json")
    assert code == ExitCode.OK
    files = [Path(p) for p in json.loads(out)]
    assert Path(tmp_path / "s" / "seizure.v1.schema.json") in files
    assert Path(tmp_path / "s" / "asyncapi.yaml") in files
    assert all(p.is_file() for p in files)


def test_schemas_export_into_a_file_fails(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, _, err = run("schemas", "export", str(blocker / "sub"))
    assert code == ExitCode.FAILED
    assert "cannot write" in err


def test_schemas_list() -> None:
    code, out, _ = run("schemas", "list", "--json")
    assert code == ExitCode.OK
    rows = {row["type"]: row for row in json.loads(out)}
    assert set(rows) == set(REGISTRY.types())
    assert rows["disaster_alert"]["themes"] == ["natural_disasters"]
    assert rows["firearm_trace_result"]["reply"] is True
    code, out, _ = run("schemas", "list")
    assert code == ExitCode.OK
    assert "seizure v1: Seizure" in out


def test_to_and_handling_set_the_recipients_and_the_tlp() -> None:
    code, out, err = run(
        "message", "new", "seizure", "--to", "sv,US", "--to", "HN", "--to", "US",
        "--handling", "amber+strict",
    )  # fmt: skip
    assert code == ExitCode.OK, err
    envelope = parse_message(out.encode()).envelope
    assert envelope.to == ["SV", "US", "HN"]
    assert envelope.handling == "amber+strict"
    assert err == ""


def test_red_without_to_warns_that_nobody_receives_it() -> None:
    code, out, err = run("message", "new", "seizure", "--handling", "red")
    assert code == ExitCode.OK
    assert parse_message(out.encode()).envelope.to is None
    assert "TLP:RED goes only to the countries named in `to`" in err
    code, _, err = run("message", "new", "seizure", "--handling", "red", "--to", "SV")
    assert (code, err) == (ExitCode.OK, "")


def test_to_refuses_a_code_that_is_not_a_country() -> None:
    code, out, err = run("message", "new", "seizure", "--to", "SV,XX")
    assert code == ExitCode.USAGE
    assert out == ""
    assert "'XX' is not an ISO 3166-1 alpha-2 country code" in err
