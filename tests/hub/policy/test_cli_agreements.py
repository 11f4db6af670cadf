"""``enlace agreements new|sign|verify|list|explain`` as an operator runs them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from hub.admin.init import init_demo
from hub.cli import cli
from hub.cli.exit_codes import ExitCode
from hub.deployment import Deployment
from schemas.amendments import correction_of
from schemas.common import PARTIES


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("pristine") / "enlace"
    init_demo(Deployment(home))
    return home


@pytest.fixture
def home(pristine: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "enlace"
    shutil.copytree(pristine, copy)
    return copy


def run(home: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["--home", str(home), "agreements", *args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def test_list_shows_the_demo_agreements_in_force(home: Path) -> None:
    code, out, _ = run(home, "list", "--json")
    assert code == ExitCode.OK
    listed = json.loads(out)["agreements"]
    assert {a["id"] for a in listed} >= {"gang-movements", "seizure-statistics", "terrorism-red"}
    assert all(a["in_force"] and a["missing"] == [] for a in listed)


def test_new_then_every_party_signs_then_it_is_in_force(home: Path) -> None:
    code, out, _ = run(
        home, "new", "--id", "cr-pa-border", "--title", "Border alerts CR-PA",
        "--parties", "CR,PA", "--themes", "border_security", "--types", "border_alert",
    )  # fmt: skip
    assert code == ExitCode.OK, out
    path = home / "agreements" / "cr-pa-border.yaml"
    assert path.is_file()
    code, out, _ = run(home, "verify", str(path), "--json")
    assert code == ExitCode.FAILED
    (info,) = json.loads(out)["agreements"]
    assert info["missing"] == ["CR", "PA"] and info["reason"] == "not_signed"
    code, out, _ = run(home, "sign", str(path), "--party", "CR")
    assert code == ExitCode.OK and "still missing: PA" in out
    code, out, _ = run(home, "sign", str(path), "--party", "PA")
    assert code == ExitCode.OK and "in force" in out
    code, out, _ = run(home, "verify", str(path))
    assert code == ExitCode.OK and "signed by: CR, PA" in out


def test_a_party_not_named_cannot_sign(home: Path) -> None:
    path = home / "agreements" / "disaster-alerts.yaml"
    text = path.read_text()
    path.write_text(text.replace("- US\n", "", 1))  # drop US from the parties
    code, _, err = run(home, "sign", str(path), "--party", "US")
    assert code == ExitCode.GOVERNANCE
    assert "US is not a party" in err


def test_a_changed_text_is_no_longer_in_force(home: Path) -> None:
    path = home / "agreements" / "gang-movements.yaml"
    path.write_text(path.read_text().replace("max_tlp: amber", "max_tlp: red"))
    code, out, _ = run(home, "verify")
    assert code == ExitCode.FAILED
    assert "gang-movements: NOT in force (not_signed)" in out
    assert "changed after signing" in out


def test_a_malformed_file_is_refused_with_file_line_field(home: Path) -> None:
    path = home / "agreements" / "gang-movements.yaml"
    path.write_text(path.read_text().replace("max_tlp: amber", "max_tlp: purple"))
    code, _, err = run(home, "list")
    assert code == ExitCode.GOVERNANCE
    assert "gang-movements.yaml:" in err and "'max_tlp'" in err
    code, out, _ = run(home, "verify")
    assert code == ExitCode.GOVERNANCE and "refused" in out


def test_explain_names_view_agreement_and_flow(home: Path) -> None:
    code, out, _ = run(home, "explain", str(home / "samples" / "seizure.json"), "--json")
    assert code == ExitCode.OK
    result = json.loads(out)
    parties = {p["party"]: p for p in result["parties"]}
    sender = result["sender"]
    assert parties[sender]["reason"] == "sender_self"
    for cc in PARTIES:
        if cc != sender:
            assert parties[cc]["receives"] and parties[cc]["view"] == "statistics"
            assert (parties[cc]["agreement"], parties[cc]["flow"]) == (
                "seizure-statistics",
                "statistics",
            )


def test_explain_at_a_time_after_the_window(home: Path) -> None:
    sample = str(home / "samples" / "gang_movement.json")
    code, out, _ = run(home, "explain", sample, "--at", "2100-01-01T00:00:00Z")
    assert code == ExitCode.OK
    assert "does not receive: expired" in out
    assert "nobody receives this message" in out


def test_explain_a_reply_finds_the_request_beside_it(home: Path) -> None:
    request = json.loads((home / "samples" / "firearm_trace_request.json").read_text())
    code, out, _ = run(home, "explain", str(home / "samples" / "firearm_trace_result.json"))
    assert code == ExitCode.OK
    requester = request["sender"]["country"]
    assert f"-> {requester}: receives view 'full' under firearm-traces flow results" in out
    assert "reply_not_requester" in out


def test_explain_a_correction_says_the_record_routes_it(home: Path, tmp_path: Path) -> None:
    sample = home / "samples" / "gang_movement.json"
    fix = tmp_path / "fix.json"
    fix.write_text(json.dumps(correction_of(sample.read_bytes())))
    original = json.loads(sample.read_text())["id"]
    code, _, err = run(home, "explain", str(fix))
    assert code == ExitCode.OK
    assert f"amends {original}: the hub sends it to exactly the parties" in err
    code, _, err = run(home, "explain", str(sample))
    assert "amends" not in err


def test_explain_a_file_that_is_not_a_message(home: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("[1]")
    code, _, err = run(home, "explain", str(bad))
    assert code == ExitCode.FAILED and "invalid_envelope" in err


def test_without_a_deployment(tmp_path: Path) -> None:
    code, _, _ = run(tmp_path / "none", "list")
    assert code == ExitCode.NO_DEPLOYMENT
