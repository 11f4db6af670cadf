"""``enlace up`` as people run it: a subprocess on a demo deployment, stopped by signals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from hub.admin.init import init_demo
from hub.deployment import Deployment
from hub.server.process import free_port, terminate

pytestmark = pytest.mark.integration

ENLACE = str(Path(sys.executable).parent / "enlace")
WAIT = 60.0  # generous upper bounds on a loaded CI machine; never a timing assertion


@dataclass
class Up:
    home: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes]
    out: Path
    err: Path

    def enlace(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [ENLACE, "--home", str(self.home), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=WAIT,
            check=False,
        )

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.env['ENLACE_NATS_PORT']}"

    def log(self) -> str:
        return self.err.read_text(errors="replace")


def _wait_for(condition: object, what: str) -> None:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"waited {WAIT} s for {what}")


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    home = tmp_path_factory.mktemp("up") / "dep"
    init_demo(Deployment(home))
    env = dict(os.environ)
    env.update(
        ENLACE_NATS_PORT=str(free_port()),
        # One sink adapter is enough to see a delivery land; fewer processes, faster test.
        ENLACE_ADAPTERS='["HN"]',
    )
    out, err = home / "up.out", home / "up.err"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(
            [ENLACE, "--home", str(home), "up", "--json-logs"],
            env=env,
            stdout=stdout,
            stderr=stderr,
        )
    running = Up(home, env, process, out, err)
    try:
        _wait_for(
            lambda: "enlace up: ready" in out.read_text() or process.poll() is not None,
            "the ready line",
        )
        assert process.poll() is None, running.log()
        yield running
    finally:
        # SIGTERM first: a SIGKILLed `enlace up` would orphan its nats-server and adapters.
        terminate(process, WAIT)


def test_ready_line_says_where_things_are(up: Up) -> None:
    text = up.out.read_text()
    assert f"nats://127.0.0.1:{up.env['ENLACE_NATS_PORT']}" in text
    assert str(up.home / "nats" / "seeds") in text
    assert "HN/folder" in text
    assert (up.home / "state" / "hub.pid").read_text().strip() == str(up.process.pid)
    # The generated server config names who may do what: private, and no secret in it.
    config = up.home / "nats" / "nats-server.conf"
    assert config.stat().st_mode & 0o077 == 0
    rendered = config.read_text()
    assert "nkey" in rendered and "password" not in rendered
    seeds = list((up.home / "nats" / "seeds").glob("*.nk"))
    assert {p.stem for p in seeds} >= {"hub", "operator", "GT", "HN"}
    for seed in seeds:
        assert seed.stat().st_mode & 0o777 == 0o600
        assert seed.read_text().strip() not in rendered


def test_a_signed_sample_from_gt_lands_in_hn_inbox(up: Up) -> None:
    sample = up.home / "samples" / "gang_movement.json"
    message = json.loads(sample.read_text())
    result = up.enlace("publish", str(sample), "--poc", message["sender"]["poc"], "--json")
    assert result.returncode == 0, result.stderr
    delivered = up.home / "inbox" / "HN" / f"{message['id']}.json"
    _wait_for(delivered.exists, f"{delivered}")
    assert (delivered.parent / f"{message['id']}.json.jws").exists()

    def trail_kinds() -> list[str]:
        # No --nats-url: the audit command finds the server in the deployment's settings.
        shown = up.enlace("audit", "show", message["id"], "--json")
        assert shown.returncode == 0, shown.stderr
        lines = [line for line in shown.stdout.splitlines() if line.startswith("{")]
        return [json.loads(line)["kind"] for line in lines]  # JSON Lines, one entry each

    # HN's sink signed a receipt and the hub put it on the record: the whole trail.
    _wait_for(lambda: "delivered" in trail_kinds(), "HN's receipt in the audit trail")
    assert {"received", "routed", "delivered"} <= set(trail_kinds())


def test_the_party_whose_sink_runs_here_witnesses_the_log(up: Up) -> None:
    def witnesses() -> list[str]:
        result = up.enlace("audit", "verify", "--json")
        assert result.returncode == 0, result.stdout + result.stderr
        report = json.loads(result.stdout)["witnesses"]
        assert report["refusals"] == [] and report["forged"] == []
        return list(report["parties"])

    # HN's witness (its login, its system key) cosigns the latest checkpoint once it
    # checked the proof from the one before.
    _wait_for(lambda: witnesses() == ["HN"], "HN's cosignature of the latest checkpoint")
    assert (up.home / "state" / "witness" / "HN.checkpoint").exists()
    shown = up.enlace("audit", "verify")
    assert "witnesses: 1 of 9 parties cosigned the latest checkpoint" in shown.stdout


def test_status_shows_streams_and_the_hub_consumer(up: Up) -> None:
    result = up.enlace("status", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    streams = {s["stream"]: s for s in report["streams"]}
    # Each country's own ingress stream, read by the hub (what it finished is gone).
    assert any(c["consumer"] == "hub" for c in streams["INGRESS_GT"]["consumers"])
    assert "INGRESS" not in streams
    assert streams["AUDIT"]["messages"] >= 1


def test_a_broken_agreement_on_reload_is_refused_and_the_hub_keeps_running(up: Up) -> None:
    agreement = sorted((up.home / "agreements").glob("*.yaml"))[0]
    good = agreement.read_bytes()
    agreement.write_text("id: [unclosed\n", encoding="utf-8")
    try:
        result = up.enlace("reload")
        assert result.returncode == 0, result.stderr
        _wait_for(lambda: "governance_refused" in up.log(), "the refusal in the log")
    finally:
        agreement.write_bytes(good)
    refusal = next(
        json.loads(line) for line in up.log().splitlines() if "governance_refused" in line
    )
    assert agreement.name in refusal["error"]
    assert up.process.poll() is None
    result = up.enlace("reload")
    assert result.returncode == 0
    _wait_for(lambda: "governance_reloaded" in up.log(), "the accepted reload")
    tail = up.enlace("audit", "tail", "--json", "--nats-url", up.url)
    assert tail.returncode == 0, tail.stderr
    kinds = [json.loads(line) for line in tail.stdout.splitlines() if line.startswith("{")]
    assert any(e["kind"] == "governance" and e.get("outcome") == "refused" for e in kinds)


def test_a_revoked_key_is_a_key_event_on_the_record_after_reload(up: Up) -> None:
    result = up.enlace("keys", "revoke", "hn-narcotics-k1")
    assert result.returncode == 0, result.stderr
    assert up.enlace("reload").returncode == 0

    def key_events() -> list[dict[str, str]]:
        tail = up.enlace("audit", "tail", "--json", "-n", "50")
        assert tail.returncode == 0, tail.stderr
        entries = [json.loads(line) for line in tail.stdout.splitlines() if line.startswith("{")]
        return [e for e in entries if e["kind"] == "key_event"]

    _wait_for(lambda: bool(key_events()), "the key event")
    event = key_events()[-1]
    assert (event["outcome"], event["version"], event["owner"]) == (
        "revoked",
        "hn-narcotics-k1",
        "hn-narcotics",
    )


def test_a_second_up_of_the_same_deployment_is_refused_with_the_first_ones_pid(up: Up) -> None:
    result = up.enlace("up", "--no-adapters")
    assert result.returncode == 8, result.stderr  # busy: refused, the first one untouched
    assert f"already runs for this deployment (pid {up.process.pid})" in result.stderr
    assert up.process.poll() is None
    assert (up.home / "state" / "hub.pid").read_text().strip() == str(up.process.pid)


def test_sigterm_stops_everything_cleanly(up: Up) -> None:
    up.process.send_signal(signal.SIGTERM)
    assert up.process.wait(WAIT) == 0, up.log()
    assert not (up.home / "state" / "hub.pid").exists()
    assert '"stopped"' in up.log()
    result = up.enlace("status")
    assert result.returncode == 6
