"""`enlace up` starts one adapter process for every sink it runs, of every country."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.deployment import Deployment
from hub.up.children import AdapterChildren, AdapterProcess


async def test_one_child_runs_every_sink_of_every_country(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[list[str]] = []
    # Record each child's command line instead of starting it (what it runs is the point).
    monkeypatch.setattr(AdapterProcess, "start", lambda self: started.append(self.command()))
    children = AdapterChildren(Deployment(tmp_path), "nats://127.0.0.1:1", lambda cc: None)

    await children.start([("GT", "folder"), ("SV", "folder"), ("GT", "archive")])

    assert [p.sinks for p in children.processes] == [
        [("GT", "folder"), ("SV", "folder"), ("GT", "archive")]
    ]
    assert [cmd[cmd.index("run") + 1 :] for cmd in started] == [
        ["--sink", "GT/folder", "--sink", "SV/folder", "--sink", "GT/archive"],
    ]
    assert children.running == [("GT", "folder"), ("SV", "folder"), ("GT", "archive")]
    assert children.processes[0].countries == ["GT", "SV"]
    assert children.processes[0].log_path.name == "adapters.log"

    # Sinks a reload adds get a child of their own (until restart), named apart.
    await children.start([("GT", "audit")])
    assert children.processes[-1].sinks == [("GT", "audit")]
    assert children.processes[-1].name == "adapter-GT-audit"
    await children.start([("US", "folder"), ("HN", "folder")])
    assert children.processes[-1].name == "adapters-2"
    assert ("GT", "audit") in children.running and len(started) == 3
    await children.start([])
    assert len(started) == 3


async def test_the_child_logs_in_as_each_country_with_the_deployment_s_seeds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(AdapterProcess, "start", lambda self: None)
    # A login of one country in the parent's environment would be every country's.
    monkeypatch.setenv("ENLACE_NATS_NKEY_SEED_FILE", str(tmp_path / "GT.nk"))
    monkeypatch.setenv("ENLACE_NATS_USER", "someone")
    asked: list[str] = []

    def login(cc: str) -> object:
        asked.append(cc)
        return object()  # stands for the deployment's login of cc (checked by login())

    children = AdapterChildren(Deployment(tmp_path), "nats://127.0.0.1:1", login)  # type: ignore[arg-type]
    await children.start([("GT", "folder"), ("SV", "folder")])
    env = children.processes[0].env
    assert asked == ["GT", "SV"]
    assert env["ENLACE_NATS_URL"] == "nats://127.0.0.1:1"
    assert "ENLACE_NATS_NKEY_SEED_FILE" not in env and "ENLACE_NATS_USER" not in env
