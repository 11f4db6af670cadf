"""`enlace up` starts one adapter process per country, for all of that country's sinks."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.deployment import Deployment
from hub.up.children import AdapterChildren, AdapterProcess


async def test_one_child_per_country_runs_all_its_sinks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[list[str]] = []
    # Record each child's command line instead of starting it (what it runs is the point).
    monkeypatch.setattr(AdapterProcess, "start", lambda self: started.append(self.command()))
    children = AdapterChildren(Deployment(tmp_path), "nats://127.0.0.1:1", lambda cc: None)

    await children.start([("GT", "folder"), ("SV", "folder"), ("GT", "archive")])

    assert [(p.country, p.sinks) for p in children.processes] == [
        ("GT", ["folder", "archive"]),
        ("SV", ["folder"]),
    ]
    assert [cmd[cmd.index("run") + 1 :] for cmd in started] == [
        ["--country", "GT", "--sink", "folder", "--sink", "archive"],
        ["--country", "SV", "--sink", "folder"],
    ]
    assert children.running == [("GT", "folder"), ("GT", "archive"), ("SV", "folder")]
    assert children.processes[0].log_path.name == "adapter-GT-folder+archive.log"

    # A sink a reload adds to a running country gets a child of its own (until restart).
    await children.start([("GT", "audit")])
    assert [(p.country, p.sinks) for p in children.processes][-1] == ("GT", ["audit"])
    assert ("GT", "audit") in children.running
