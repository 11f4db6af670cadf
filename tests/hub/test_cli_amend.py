"""``enlace correct`` and ``enlace retract`` as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from hub.cli import cli
from hub.cli.exit_codes import ExitCode
from schemas.amendments import amended_id, amendment_kind
from schemas.message import parse_message


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def sent(tmp_path: Path) -> Path:
    path = tmp_path / "seizure.json"
    code, _, _ = run("message", "new", "seizure", "--poc", "gt-narcotics", "-o", str(path))
    assert code == ExitCode.OK
    return path


def test_correct_writes_the_next_version_to_edit(tmp_path: Path) -> None:
    original = sent(tmp_path)
    target = tmp_path / "v2.json"
    code, out, err = run("correct", str(original), "-o", str(target))

    assert (code, out) == (ExitCode.OK, "")
    before = parse_message(original.read_bytes()).envelope
    after = parse_message(target.read_bytes()).envelope
    assert f"correction of {before.id}" in err
    assert after.id != before.id and amended_id(after) == before.id
    assert amendment_kind(after) == "correction"
    assert (after.type, after.theme, after.sender) == (before.type, before.theme, before.sender)
    assert after.payload == before.payload  # the user edits what changed


def test_a_correction_of_a_correction_names_the_previous_version(tmp_path: Path) -> None:
    original = sent(tmp_path)
    _, v2, _ = run("correct", str(original))
    (tmp_path / "v2.json").write_text(v2)
    _, v3, _ = run("correct", str(tmp_path / "v2.json"))

    assert json.loads(v3)["corrects"] == json.loads(v2)["id"]


def test_retract_writes_a_retraction_from_the_same_sender_and_theme(tmp_path: Path) -> None:
    original = sent(tmp_path)
    code, out, _ = run("retract", str(original), "--reason", "error", "--detail", "sent twice")

    assert code == ExitCode.OK
    before = parse_message(original.read_bytes()).envelope
    message = parse_message(out.encode())
    assert message.type == "retraction"
    assert (message.envelope.theme, message.envelope.sender) == (before.theme, before.sender)
    assert message.envelope.handling == before.handling
    assert message.envelope.payload == {
        "original_id": before.id,
        "reason": "error",
        "detail": "sent twice",
    }


def test_an_unknown_reason_or_a_file_that_is_no_message_is_a_usage_error(tmp_path: Path) -> None:
    original = sent(tmp_path)
    code, _, _ = run("retract", str(original), "--reason", "bored")
    assert code == ExitCode.USAGE
    junk = tmp_path / "junk.json"
    junk.write_text('{"id": 1}')
    for args in (("correct", str(junk)), ("retract", str(junk), "--reason", "error")):
        code, _, err = run(*args)
        assert code == ExitCode.USAGE
        assert "junk.json" in err and "invalid_envelope" in err
