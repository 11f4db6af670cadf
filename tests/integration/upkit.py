"""A running ``enlace up`` of the demo (with HN's folder sink alone), for the tests that
change things under it: ``enlace reload`` (test_up_reload, test_up_cluster) and ``enlace
nats rotate`` (test_nats_rotate). Each test module starts its own. A party joins by
:func:`join_party`, :func:`agree` and :func:`add_sink`, then ``enlace reload``.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client as NatsClient

from hub.admin.directory import key_record, open_for_change, save_new_version
from hub.admin.init import init_demo
from hub.deployment import Deployment
from hub.governance.keystore import KeyKind, KeyStore
from hub.policy.signing import sign_agreement_file
from hub.server.logins import load_user
from hub.server.process import free_port, terminate
from schemas.govdoc import dump_yaml, load_document, rfc3339
from tests.integration.demokit import ENLACE

__all__ = [
    "WAIT",
    "Running",
    "add_sink",
    "agree",
    "applied",
    "demo_with_hn_sink",
    "join_party",
    "login",
    "own_subjects_only",
    "run_demo_with_hn_sink",
    "spawn",
    "start_up",
    "wait_for",
]

WAIT = 60.0  # generous upper bound on a loaded CI machine; never a timing assertion


@dataclass
class Running:
    dep: Deployment
    env: dict[str, str]
    process: subprocess.Popen[bytes]
    err: Path

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.env['ENLACE_NATS_PORT']}"

    @property
    def config(self) -> Path:
        return self.dep.nats_dir / "nats-server.conf"

    def enlace(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [ENLACE, "--home", str(self.dep.home), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=WAIT,
            check=False,
        )

    def events(self, name: str) -> list[dict[str, object]]:
        lines = self.err.read_text(errors="replace").splitlines()
        return [e for e in map(_json_or_none, lines) if e is not None and e["event"] == name]

    def reload(self) -> None:
        result = self.enlace("reload")
        assert result.returncode == 0, result.stderr


def _json_or_none(line: str) -> dict[str, object] | None:
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) and "event" in value else None


def wait_for(condition: Callable[[], object], what: str, within: float = WAIT) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"waited {within} s for {what}")


def _only_hn_sink(dep: Deployment) -> None:
    """The demo's adapters section with HN's sink alone (fewer processes, a faster test)."""
    lines = dep.config_file.read_text(encoding="utf-8").splitlines(keepends=True)
    kept = [ln for ln in lines if not ln.startswith("  ") or "inbox/" not in ln or "HN" in ln]
    dep.config_file.write_text("".join(kept), encoding="utf-8")


def spawn(command: list[str], env: dict[str, str], out: Path, err: Path) -> subprocess.Popen[bytes]:
    """``enlace up`` in the background, its output and its log in ``out`` and ``err``."""
    with out.open("wb") as stdout, err.open("wb") as stderr:
        return subprocess.Popen(command, env=env, stdout=stdout, stderr=stderr)


def demo_with_hn_sink(base: Path, register_all: bool = False) -> tuple[Deployment, dict[str, str]]:
    """A demo deployment in ``base/dep`` with HN's folder sink alone, and the environment
    of an ``enlace up`` of it on a free port.

    With ``register_all`` the nine countries' sinks stay configured (their DELIVERY
    consumers exist and fill up) while ``enlace up`` runs HN's adapter alone.
    """
    dep = Deployment(base / "dep")
    init_demo(dep)
    env = dict(os.environ, ENLACE_NATS_PORT=str(free_port()))
    env.pop("ENLACE_ADAPTERS", None)
    if register_all:
        env["ENLACE_ADAPTERS"] = '["HN"]'
    else:
        _only_hn_sink(dep)
    return dep, env


def start_up(
    dep: Deployment, env: dict[str, str], *args: str, adapter_log: str | None = "adapter-HN-folder"
) -> Running:
    """``enlace up`` of ``dep`` (``args`` added), once ready and ``adapter_log``'s adapter
    consuming (HN's folder sink by default; None: not waited for).

    The first start writes ``up.out``/``up.err`` beside the deployment, each next one its
    own ``up-N.out``/``up-N.err``. The caller stops it (:func:`terminate`).
    """
    n = len(list(dep.home.glob("up*.out")))
    out, err = (
        (dep.home / f"up-{n}.out", dep.home / f"up-{n}.err")
        if n
        else (
            dep.home / "up.out",
            dep.home / "up.err",
        )
    )
    command = [ENLACE, "--home", str(dep.home), "up", "--json-logs", *args]
    process = spawn(command, env, out, err)
    up = Running(dep, env, process, err)
    try:
        wait_for(
            lambda: "enlace up: ready" in out.read_text() or process.poll() is not None,
            "the ready line",
        )
        assert process.poll() is None, err.read_text()
        if adapter_log is not None and "--no-adapters" not in args:
            # HN's adapter reads the directory as it starts: let it, before a test breaks it.
            log_file = dep.state_dir / "logs" / f"{adapter_log}.log"
            offset = log_file.stat().st_size if log_file.is_file() else 0
            wait_for(
                lambda: log_file.is_file() and "consuming" in log_file.read_text()[offset:],
                f"the adapter of {adapter_log}",
            )
    except BaseException:
        terminate(process, WAIT)
        raise
    return up


def run_demo_with_hn_sink(
    tmp_path_factory: pytest.TempPathFactory, register_all: bool = False
) -> Iterator[Running]:
    """``enlace up`` on a demo deployment with HN's folder sink alone, until closed (see
    :func:`demo_with_hn_sink` for ``register_all``)."""
    dep, env = demo_with_hn_sink(tmp_path_factory.mktemp("reload"), register_all)
    up = start_up(dep, env)
    try:
        yield up
    finally:
        terminate(up.process, WAIT)  # a clean stop: SIGTERM


async def login(up: Running, name: str, errors: list[str], url: str | None = None) -> NatsClient:
    """``name``'s login to ``url`` (``enlace up``'s server by default), its errors kept."""

    async def record(err: Exception) -> None:
        errors.append(str(err))

    return await nats.connect(
        url or up.url,
        max_reconnect_attempts=0,
        error_cb=record,
        **load_user(up.dep, name).connect_options(),
    )


def join_party(dep: Deployment, cc: str) -> str:
    """``cc`` joins by consensus: its commission key in the trust root, then a new directory
    version listing it (with a gangs POC) signed by every party, all ten keys being here.

    Returns:
        The POC's id.
    """
    store = KeyStore(dep.keys_dir)
    since = datetime.now(UTC).replace(microsecond=0)
    commission = f"{cc.lower()}-commission-k1"
    trust_root = load_document(dep.trust_root).data
    record = key_record(commission, store.create(KeyKind.COMMISSION, cc, commission), since)
    trust_root["commission_keys"].append({"party": cc, **record})
    dump_yaml(trust_root, dep.trust_root)
    draft = open_for_change(dep)
    poc = f"{cc.lower()}-gangs"
    system = store.create(KeyKind.PARTY, cc, f"{cc.lower()}-system-k1")
    signing = store.create(KeyKind.POC, poc, f"{poc}-k1")
    draft.data["parties"].append(
        {
            "code": cc,
            "name": "Mexico",
            "role": "member",
            "keys": [key_record(f"{cc.lower()}-system-k1", system, since)],
        }
    )
    draft.data["pocs"].append(
        {
            "id": poc,
            "country": cc,
            "agency": "Guardia Nacional",
            "themes": ["gangs"],
            "keys": [key_record(f"{poc}-k1", signing, since)],
        }
    )
    outcome = save_new_version(draft)
    assert outcome.accepted, outcome.as_dict()
    return poc


def agree(dep: Deployment, sender: str, recipient: str) -> None:
    """An agreement, signed by both, that ``sender``'s gang movements go to ``recipient``."""
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    path = dep.agreements_dir / f"gangs-{sender.lower()}-{recipient.lower()}.yaml"
    data = {
        "id": f"gangs-{sender.lower()}-{recipient.lower()}",
        "title": f"Gang movements from {sender} to {recipient}",
        "parties": [recipient, sender],
        "themes": ["gangs"],
        "types": ["gang_movement"],
        "max_tlp": "amber",
        "valid_from": rfc3339(start),
        "valid_until": rfc3339(start + timedelta(days=30)),
        "flows": [{"name": "reports", "from": sender, "to": recipient, "view": "full"}],
    }
    dump_yaml(data, path)
    store = KeyStore(dep.keys_dir)
    for party in (recipient, sender):
        kid = f"{party.lower()}-commission-k1"
        sign_agreement_file(path, party, kid, store.load(KeyKind.COMMISSION, party, kid))


def add_sink(dep: Deployment, cc: str) -> None:
    text = dep.config_file.read_text(encoding="utf-8")
    dep.config_file.write_text(
        text + f"  {cc}: {{sink: folder, path: inbox/{cc}}}\n", encoding="utf-8"
    )


def applied(up: Running, cc: str) -> bool:
    """Whether a reload has applied the new party ``cc`` to NATS (its last log event)."""
    return any(e["new_parties"] == [cc] for e in up.events("reload_applied"))


async def own_subjects_only(up: Running, cc: str, url: str | None = None) -> str:
    """``cc``'s login publishes into its own ingress stream, then on GT's subject, which
    the server must refuse (asserted).

    Returns:
        The stream that took its own message.
    """
    errors: list[str] = []
    nc = await login(up, cc, errors, url)
    try:
        ack = await nc.jetstream(timeout=10).publish(f"enlace.in.{cc}.gangs.gang_movement", b"{}")
        await nc.publish("enlace.in.GT.gangs.gang_movement", b"{}")
        await nc.flush()
        for _ in range(100):
            if any("permissions violation" in e.lower() for e in errors):
                break
            await asyncio.sleep(0.05)
    finally:
        await nc.close()
    assert any("permissions violation" in e.lower() for e in errors), errors
    return ack.stream
