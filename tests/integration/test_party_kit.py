"""A party runs its side from its kit: another folder, another process, no other variable.

The demo's ``enlace up`` runs the hub on its embedded nats-server (with US's sink only);
``enlace party kit GT`` is copied to a folder of its own (GT's machine), and GT's
adapters, gateway, watcher and publish run from there with a clean environment (no
``ENLACE_*`` but ``ENLACE_HOME``). GT receives exactly what is routed to it, publishes
only as itself, and its kit holds nothing of another party.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import pytest

from hub.admin.init import init_demo
from hub.deployment import Deployment
from hub.governance.keystore import KeyStore
from hub.server.process import free_port, terminate
from schemas.common import new_message_id
from schemas.govdoc import rfc3339
from schemas.jws import sign_detached
from schemas.trust import load_directory, load_trust_root
from tests.integration.demokit import ENLACE
from tests.integration.upkit import WAIT, spawn, wait_for
from tests.integration.upkit import Running as Hub

pytestmark = pytest.mark.integration

STOP_WITHIN = 5.0  # seconds a stopped command may take (the bound)


@dataclass
class Machine:
    """GT's machine: its kit folder and the clean environment commands run in there."""

    kit: Path
    env: dict[str, str]

    def enlace(self, *args: str) -> subprocess.CompletedProcess[str]:
        return _run([ENLACE, *args], self.env, self.kit.parent)

    def start(self, name: str, *args: str) -> tuple[subprocess.Popen[bytes], Path]:
        err = self.kit.parent / f"{name}.err"
        out = self.kit.parent / f"{name}.out"
        with out.open("wb") as stdout, err.open("wb") as stderr:
            process = subprocess.Popen(
                [ENLACE, *args], env=self.env, cwd=self.kit.parent, stdout=stdout, stderr=stderr
            )
        return process, err


def _run(command: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, env=env, cwd=cwd, capture_output=True, text=True, timeout=WAIT, check=False
    )


def clean_env(kit: Path) -> dict[str, str]:
    """What GT's machine has: a PATH, a HOME, and ENLACE_HOME; no other ENLACE_*."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENLACE_")}
    return {"PATH": env.get("PATH", ""), "HOME": str(kit.parent), "ENLACE_HOME": str(kit)}


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    dep = Deployment(tmp_path_factory.mktemp("hub") / "dep")
    init_demo(dep)
    env = dict(os.environ, ENLACE_NATS_PORT=str(free_port()), ENLACE_ADAPTERS='["US"]')
    out, err = dep.home / "up.out", dep.home / "up.err"
    command = [ENLACE, "--home", str(dep.home), "up", "--no-console", "--json-logs"]
    process = spawn(command, env, out, err)
    try:
        wait_for(
            lambda: "enlace up: ready" in out.read_text() or process.poll() is not None,
            "enlace up's ready line",
        )
        assert process.poll() is None, err.read_text()
        yield Hub(dep, env, process, err)
    finally:
        terminate(process, WAIT)


@pytest.fixture(scope="module")
def made(hub: Hub, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """``enlace party kit GT`` on the hub's machine: the folder and what --json printed."""
    folder = tmp_path_factory.mktemp("made") / "kit-GT"
    result = hub.enlace("party", "kit", "GT", str(folder), "--nats-url", hub.url)
    assert result.returncode == 0, result.stderr
    again = hub.enlace("party", "kit", "GT", str(folder), "--with-poc-keys", "--force", "--json")
    assert again.returncode == 0, again.stderr
    return folder, again.stdout


@pytest.fixture(scope="module")
def gt(made: tuple[Path, str], tmp_path_factory: pytest.TempPathFactory) -> Machine:
    """The kit, copied to GT's machine (another folder: nothing refers back to the hub's)."""
    kit = tmp_path_factory.mktemp("gt-machine") / "enlace-gt"
    shutil.copytree(made[0], kit)
    return Machine(kit, clean_env(kit))


@pytest.fixture(scope="module")
def gt_adapters(gt: Machine) -> Iterator[subprocess.Popen[bytes]]:
    process, err = gt.start("adapters", "adapter", "run", "--all")
    try:
        wait_for(
            lambda: "consuming" in err.read_text() or process.poll() is not None,
            "GT's adapters",
        )
        assert process.poll() is None, err.read_text()
        yield process
    finally:
        terminate(process, WAIT)


def message_file(dep: Deployment, folder: Path, poc: str, sample: str, **fields: object) -> Path:
    """A fresh copy of a demo sample sent by ``poc`` (signed beside it unless ``unsigned``)."""
    directory = load_directory(dep.directory, load_trust_root(dep.trust_root))
    record = directory.poc(poc)
    assert record is not None
    message = json.loads((dep.samples_dir / f"{sample}.json").read_bytes())
    message.update(
        id=new_message_id(),
        issued_at=rfc3339(datetime.now(UTC)),
        sender={"country": record.country, "agency": record.agency, "poc": poc},
        **fields,
    )
    raw = json.dumps(message).encode()
    path = folder / f"{message['id']}.json"
    path.write_bytes(raw)
    kid, key = KeyStore(dep.keys_dir).current_poc_key(directory, poc)
    path.with_name(path.name + ".jws").write_text(sign_detached(raw, key, kid))
    return path


def published(hub: Hub, path: Path) -> dict[str, object]:
    result = hub.enlace("publish", str(path), "--json")
    assert result.returncode in (0, 9), result.stderr
    outcome: dict[str, object] = json.loads(result.stdout)
    return outcome


def recipients(outcome: dict[str, object]) -> set[str]:
    said = outcome["outcome"]
    assert isinstance(said, dict)
    return {r["country"] for r in said["recipients"]}


def delivered_ids(inbox: Path) -> set[str]:
    return {p.stem for p in inbox.glob("*.json")} if inbox.is_dir() else set()


def test_the_kit_holds_its_party_s_secrets_and_no_other(
    hub: Hub, made: tuple[Path, str], gt: Machine
) -> None:
    folder, printed = made
    kit_files = [p for p in gt.kit.rglob("*") if p.is_file()]
    kit_bytes = [p.read_bytes() for p in kit_files]
    theirs = [
        p
        for p in (*hub.dep.seeds_dir.glob("*.nk"), *hub.dep.keys_dir.rglob("*.pem"))
        if p.name != "GT.nk" and "/GT/" not in str(p) and "/gt-" not in str(p)
    ]
    assert len(theirs) > 50  # every other party's seed and keys, the hub's, the commissions'
    for secret in theirs:
        body = secret.read_bytes().strip()
        assert not any(body in data for data in kit_bytes), f"{secret} is in the kit"
    assert sorted(p.name for p in (gt.kit / "nats" / "seeds").iterdir()) == ["GT.nk"]
    assert (gt.kit / "nats" / "seeds" / "GT.nk").read_bytes() == (
        hub.dep.seed_file("GT").read_bytes()
    )
    # The deployment CA (public): the kit verifies the hub's NATS with it. No TLS key.
    assert (gt.kit / "nats" / "tls" / "ca.pem").read_bytes() == hub.dep.tls_ca_cert.read_bytes()
    assert os.listdir(gt.kit / "nats" / "tls") == ["ca.pem"]
    assert sorted(p.name for p in (gt.kit / "keys").iterdir()) == ["party", "poc"]
    assert os.listdir(gt.kit / "keys" / "party") == ["GT"]
    assert all(p.startswith("gt-") for p in os.listdir(gt.kit / "keys" / "poc"))
    # Secrets 0600 in folders 0700, as written (the copy keeps the modes).
    listed = json.loads(printed)
    secret_paths = [f["path"] for f in listed["files"] if f["secret"]]
    assert "nats/seeds/GT.nk" in secret_paths and any("keys/poc/" in p for p in secret_paths)
    for relative in secret_paths:
        assert (folder / relative).stat().st_mode & 0o777 == 0o600
    assert folder.stat().st_mode & 0o777 == 0o700
    # --json names paths, never a secret's content.
    assert hub.dep.seed_file("GT").read_text().strip() not in printed


def test_a_folder_with_something_in_it_is_refused_without_force(
    hub: Hub, made: tuple[Path, str]
) -> None:
    folder, _ = made
    result = hub.enlace("party", "kit", "SV", str(folder))
    assert result.returncode == 1
    assert "not empty" in result.stderr and "--force" in result.stderr
    assert not (folder / "nats" / "seeds" / "SV.nk").exists()


def test_gt_receives_exactly_what_is_routed_to_it(
    hub: Hub, gt: Machine, gt_adapters: subprocess.Popen[bytes], tmp_path: Path
) -> None:
    to_gt = message_file(hub.dep, tmp_path, "sv-gangs", "gang_movement")
    to_us_only = message_file(hub.dep, tmp_path, "gt-small-arms", "firearm_trace_request")
    routed = {to_gt.stem: recipients(published(hub, to_gt))}
    routed[to_us_only.stem] = recipients(published(hub, to_us_only))
    assert "GT" in routed[to_gt.stem] and routed[to_us_only.stem] == {"US"}
    gt_inbox = gt.kit / "inbox" / "GT"
    us_inbox = hub.dep.home / "inbox" / "US"
    # Both are delivered where they go (US's sink runs on the hub's machine) …
    wait_for(lambda: to_gt.stem in delivered_ids(gt_inbox), "GT's delivery in its kit's sink")
    wait_for(lambda: to_us_only.stem in delivered_ids(us_inbox), "US's delivery")
    # … and GT's sink holds what was routed to GT, nothing else.
    expected = {mid for mid, countries in routed.items() if "GT" in countries}
    assert delivered_ids(gt_inbox) == expected
    # The recipient checks it from its own kit, and sees its sink's state.
    check = gt.enlace("verify", str(gt_inbox / f"{to_gt.stem}.json"))
    assert check.returncode == 0, check.stdout + check.stderr
    assert "valid: delivery" in check.stdout
    status = gt.enlace("adapter", "status", "--json")
    assert status.returncode == 0, status.stderr
    [row] = json.loads(status.stdout)
    assert (row["country"], row["state"]) == ("GT", "ok")


def test_gt_publishes_as_itself_only(hub: Hub, gt: Machine, tmp_path: Path) -> None:
    own = gt.kit.parent / "own.json"
    made = gt.enlace("message", "new", "gang_movement", "--country", "GT", "--poc", "gt-gangs")
    assert made.returncode == 0, made.stderr
    own.write_text(made.stdout)
    result = gt.enlace("publish", str(own))  # signed in the kit, with gt-gangs' key
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("accepted")
    # A message of SV's, signed by SV's point of contact: GT's login may not publish it.
    theirs = message_file(hub.dep, tmp_path, "sv-gangs", "gang_movement")
    refused = gt.enlace("publish", str(theirs))
    assert refused.returncode == 11, refused.stdout + refused.stderr
    assert "enlace.in.SV.gangs.gang_movement" in refused.stderr
    assert "login GT" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_gt_witnesses_the_log_from_its_kit_and_verify_counts_it(hub: Hub, gt: Machine) -> None:
    def witnessed_latest() -> bool:
        # One round with GT's own login and systems key, on GT's machine …
        round_ = gt.enlace("witness", "--once", "--json")
        assert round_.returncode == 0, round_.stdout + round_.stderr
        assert json.loads(round_.stdout)["GT"]["status"] in ("cosigned", "unchanged", "nothing")
        # … then the hub's record: GT among the witnesses of the latest checkpoint.
        result = hub.enlace("audit", "verify", "--json")
        assert result.returncode == 0, result.stdout + result.stderr
        return "GT" in json.loads(result.stdout)["witnesses"]["parties"]

    wait_for(witnessed_latest, "GT's cosignature of the latest checkpoint")
    assert (gt.kit / "state" / "witness" / "GT.checkpoint").exists()


@pytest.mark.parametrize(
    "command",
    [
        ("adapter", "run", "--all"),
        ("adapter", "watch", "--poc", "gt-gangs", "--folder", "outbox"),
        ("gateway", "--port", "{port}"),
    ],
    ids=["adapters", "watcher", "gateway"],
)
def test_sigterm_and_sigint_stop_it_cleanly(
    gt: Machine, command: tuple[str, ...], hub: Hub
) -> None:
    for sig in (signal.SIGTERM, signal.SIGINT):
        port = free_port()
        args = [a.format(port=port) for a in command]
        process, err = gt.start(f"stop-{command[0]}-{sig}", *args)
        try:
            wait_for(partial(_started, process, err, port), f"{' '.join(command)} to start")
            assert process.poll() is None, err.read_text()
            process.send_signal(sig)
            assert process.wait(STOP_WITHIN) == 0, err.read_text()
        finally:
            terminate(process, WAIT)
        assert "Traceback" not in err.read_text()


def _started(process: subprocess.Popen[bytes], err: Path, port: int) -> bool:
    """It exited, or says it works (adapters, watcher), or listens on ``port`` (gateway)."""
    if process.poll() is not None or any(w in err.read_text() for w in ("consuming", "watching")):
        return True
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.parametrize(
    "command",
    [
        ("adapter", "run", "--all"),
        ("adapter", "status"),
        ("adapter", "watch", "--poc", "gt-gangs", "--folder", "outbox"),
        ("gateway",),
        ("publish", "-"),
    ],
    ids=["adapters", "status", "watcher", "gateway", "publish"],
)
def test_nats_unreachable_exits_6_naming_the_url_and_why(
    gt: Machine, command: tuple[str, ...]
) -> None:
    nowhere = f"nats://127.0.0.1:{free_port()}"
    env = dict(gt.env, ENLACE_NATS_URL=nowhere)
    stdin = ""
    if command[0] == "publish":
        made = gt.enlace("message", "new", "gang_movement", "--country", "GT", "--poc", "gt-gangs")
        stdin = made.stdout
    result = subprocess.run(
        [ENLACE, *command],
        env=env,
        cwd=gt.kit.parent,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=WAIT,
        check=False,
    )
    assert result.returncode == 6, result.stdout + result.stderr
    assert f"cannot reach NATS at {nowhere}" in result.stderr
    assert "Connect call failed" in result.stderr or "refused" in result.stderr.lower()
    assert "Traceback" not in result.stderr
    assert result.stderr.count("nats_connect_failed") <= 3  # one line per attempt at most


def test_enlace_up_refuses_a_party_kit(gt: Machine) -> None:
    result = gt.enlace("up", "--no-console")
    assert result.returncode == 2
    assert "GT's party kit" in result.stderr and "adapter run --all" in result.stderr
