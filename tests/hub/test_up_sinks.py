"""The sinks ``enlace up`` runs and permits: ``hub.up.sinks``."""

from __future__ import annotations

from pathlib import Path

from hub.config import load_settings
from hub.deployment import Deployment
from hub.up.sinks import configured_sinks, delivery_consumers, sink_pairs, sink_register

_ADAPTERS = """\
hub:
  adapters: [GT]
adapters:
  GT: {sink: folder, path: inbox/GT}
  US:
    - {sink: folder, path: inbox/US}
    - {sink: jsonl, name: archive, path: archive/US.jsonl}
"""


def _deployment(tmp_path: Path) -> Deployment:
    (tmp_path / "enlace.yaml").write_text(_ADAPTERS)
    return Deployment(tmp_path)


def test_up_runs_the_sinks_of_the_countries_it_is_told(tmp_path: Path) -> None:
    dep = _deployment(tmp_path)
    assert configured_sinks(dep, load_settings(dep.home)) == [("GT", "folder")]


def test_every_configured_sink_is_registered_and_permitted(tmp_path: Path) -> None:
    register = sink_register(_deployment(tmp_path))
    assert register == {"GT": ["folder"], "US": ["folder", "archive"]}
    pairs = sink_pairs(register)
    assert pairs == [("GT", "folder"), ("US", "folder"), ("US", "archive")]
    assert delivery_consumers(pairs) == {
        "GT": ["sink-GT-folder"],
        "US": ["sink-US-folder", "sink-US-archive"],
    }
