"""``enlace consent`` and ``enlace publish --consent`` on the demo deployment and a running hub.

GT publishes a ``no_onward`` report; SV's report derived from it is refused until SV
attaches GT's consent, made with ``enlace consent`` from GT's system key. HN's "consent"
to pass GT's report on is HN's word, not GT's: the hub refuses it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from hub.cli import cli
from hub.cli.exit_codes import ExitCode
from hub.deployment import Deployment
from hub.server.process import NatsServer
from schemas.common import new_message_id
from schemas.handling import SignedConsent
from tests.integration.demokit import demo_hub, run_enlace

pytestmark = pytest.mark.integration


def message_file(demo: Deployment, folder: Path, country: str, **fields: Any) -> Path:
    """The demo's gang movement sample as ``country``'s gangs POC sends it, unsigned."""
    message: dict[str, Any] = json.loads((demo.samples_dir / "gang_movement.json").read_bytes())
    poc = f"{country.lower()}-gangs"
    message |= {"id": new_message_id(), "sender": {**message["sender"], "country": country}}
    message["sender"]["poc"] = poc
    message |= fields
    path = folder / f"{message['id']}.json"
    path.write_text(json.dumps(message, ensure_ascii=False), encoding="utf-8")
    return path


def consent(demo: Deployment, *args: str) -> Any:
    return CliRunner().invoke(cli, ["--home", str(demo.home), "consent", *args])


def message_id(path: Path) -> str:
    return str(json.loads(path.read_bytes())["id"])


async def test_consent_lets_sv_pass_gts_report_on(
    demo: Deployment, nats_server: NatsServer, tmp_path: Path
) -> None:
    async with demo_hub(demo, nats_server.url):
        await _consent_lets_sv_pass_gts_report_on(demo, nats_server, tmp_path)


async def _consent_lets_sv_pass_gts_report_on(
    demo: Deployment, server: NatsServer, tmp_path: Path
) -> None:
    original = message_file(demo, tmp_path, "GT", conditions={"no_onward": True})
    sent = await run_enlace(demo, server.url, "publish", str(original), "--json")
    assert sent.returncode == 0, sent.stderr
    source = message_id(original)

    derived = message_file(demo, tmp_path, "SV", derived_from=[source])
    refused = await run_enlace(demo, server.url, "publish", str(derived), "--json")
    assert refused.returncode == ExitCode.REJECTED, refused.stderr
    assert json.loads(refused.stdout)["outcome"]["reason"] == "onward_not_allowed"

    made = consent(demo, source, "--to", "sv", "--country", "GT", "--json")
    assert made.exit_code == 0, made.output
    shown = json.loads(made.output)
    assert shown["consent"]["by"] == "SV" and shown["kid"] == "gt-system-k1"
    file = tmp_path / "consent.json"
    written = consent(demo, source, "--to", "SV", "--country", "GT", "--out", str(file))
    assert written.exit_code == 0, written.output
    assert SignedConsent.model_validate_json(file.read_bytes()).consent.sender == "GT"

    again = message_file(demo, tmp_path, "SV", derived_from=[source])
    args = ("publish", str(again), "--consent", str(file), "--json")
    allowed = await run_enlace(demo, server.url, *args)
    assert allowed.returncode == 0, allowed.stderr
    assert json.loads(allowed.stdout)["status"] == "accepted"

    foreign = tmp_path / "hn.json"
    hn = consent(demo, source, "--to", "SV", "--country", "HN", "--out", str(foreign))
    assert hn.exit_code == 0, hn.output  # HN may say so; it is not GT's word
    other = message_file(demo, tmp_path, "SV", derived_from=[source])
    args = ("publish", str(other), "--consent", str(foreign), "--json")
    not_gt = await run_enlace(demo, server.url, *args)
    assert not_gt.returncode == ExitCode.REJECTED, not_gt.stderr
    assert json.loads(not_gt.stdout)["outcome"]["reason"] == "onward_not_allowed"


async def test_what_the_commands_refuse(
    demo: Deployment, nats_server: NatsServer, tmp_path: Path
) -> None:
    server = nats_server
    source = new_message_id()
    assert consent(demo, source, "--to", "SV").exit_code == ExitCode.USAGE  # whose consent?
    assert consent(demo, source, "--to", "GT", "--country", "GT").exit_code == ExitCode.USAGE
    assert consent(demo, "not-an-id", "--to", "SV", "--country", "GT").exit_code == ExitCode.USAGE
    assert consent(demo, source, "--to", "XX", "--country", "GT").exit_code == ExitCode.USAGE

    good = tmp_path / "c.json"
    assert consent(demo, source, "--to", "SV", "--country", "GT", "--out", str(good)).exit_code == 0
    signed = message_file(demo, tmp_path, "SV", derived_from=[source])
    (signed.parent / (signed.name + ".jws")).write_text("x.y.z", encoding="ascii")
    late = await run_enlace(demo, server.url, "publish", str(signed), "--consent", str(good))
    assert late.returncode == ExitCode.FAILED
    assert "before signing" in late.stderr

    tampered = tmp_path / "t.json"
    data = json.loads(good.read_bytes())
    data["consent"]["by"] = "HN"
    tampered.write_text(json.dumps(data), encoding="utf-8")
    unsigned = message_file(demo, tmp_path, "SV", derived_from=[source])
    bad = await run_enlace(demo, server.url, "publish", str(unsigned), "--consent", str(tampered))
    assert bad.returncode == ExitCode.FAILED
    assert "bad_signature" in bad.stderr
