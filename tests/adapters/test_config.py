"""The adapters: section of enlace.yaml and where adapters find NATS."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.base import SinkContext
from adapters.config import RetrySettings, load_adapters_config, nats_url_from
from adapters.errors import AdapterConfigError
from adapters.keys import Signer
from adapters.sources.prepare import Prepared, PublishReceipt
from schemas.outcomes import Outcome
from tests.factories import make_directory


def write(home: Path, text: str) -> Path:
    home.mkdir(exist_ok=True)
    (home / "enlace.yaml").write_text(text)
    return home


def test_one_sink_or_a_list_per_country(tmp_path: Path) -> None:
    home = write(
        tmp_path,
        "hub:\n  nats_port: 4333\n"
        "adapters:\n"
        "  GT: {sink: folder, path: inbox/GT}\n"
        "  US:\n"
        "    - {sink: webhook, url: 'https://x.example/in'}\n"
        "    - {sink: jsonl, name: archive, path: us.jsonl, retry: {max_attempts: 3}}\n",
    )
    config = load_adapters_config(home)
    assert [(cc, s.sink_name) for cc, s in config.entries()] == [
        ("GT", "folder"),
        ("US", "webhook"),
        ("US", "archive"),
    ]
    assert config.sink("GT").options == {"path": "inbox/GT"}
    archive = config.sink("US", "archive")
    assert archive.retry == RetrySettings(max_attempts=3)
    with pytest.raises(AdapterConfigError, match="several sinks"):
        config.sink("US")
    with pytest.raises(AdapterConfigError, match="no sink is configured for SV"):
        config.sink("SV")
    assert nats_url_from(home) == "nats://127.0.0.1:4333"


def test_errors_name_the_line_and_field(tmp_path: Path) -> None:
    home = write(tmp_path, "adapters:\n  GT:\n    sink: folder\n    retry: {max_attempts: 0}\n")
    with pytest.raises(AdapterConfigError) as info:
        load_adapters_config(home)
    assert "enlace.yaml:4" in info.value.description
    assert "adapters.GT.retry.max_attempts" in info.value.description


def test_not_a_country(tmp_path: Path) -> None:
    with pytest.raises(AdapterConfigError, match="adapters"):
        load_adapters_config(write(tmp_path, "adapters:\n  Guatemala: {sink: folder}\n"))


def test_no_file_no_sinks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_adapters_config(tmp_path).entries() == []
    monkeypatch.setenv("ENLACE_NATS_URL", "nats://elsewhere:4222")
    assert nats_url_from(tmp_path) == "nats://elsewhere:4222"
    assert nats_url_from(tmp_path, "nats://flag:1") == "nats://flag:1"


DIRECTORY = make_directory(parties=("GT",), themes=("gangs",)).directory


class _NoPublisher:
    async def publish(self, prepared: Prepared, signer: Signer) -> PublishReceipt:
        raise AssertionError("not called")

    async def outcome(self, message_id: str, country: str) -> Outcome | None:
        raise AssertionError("not called")


PUBLISHER = _NoPublisher()


def test_builtin_adapters_satisfy_their_protocols(tmp_path: Path) -> None:
    from adapters.base import Sink, Source
    from adapters.registry import build_sink
    from adapters.sources.folder_watch import FolderWatcher

    context = SinkContext(country="GT", state_dir=tmp_path, base_dir=tmp_path)
    options = {
        "folder": {"path": "x"},
        "jsonl": {"path": "x.jsonl"},
        "webhook": {"url": "https://x.example"},
        "postgres": {"dsn": "postgresql:///x"},
    }
    for name, opts in options.items():
        assert isinstance(build_sink(name, opts, context), Sink)
    watcher: Source = FolderWatcher(tmp_path, "gt-gangs", lambda: DIRECTORY, tmp_path, PUBLISHER)
    assert callable(watcher.run)  # and mypy checks the assignment against the Protocol
