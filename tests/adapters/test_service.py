"""How an adapter process logs in to NATS (``adapters.service.connect``) and logs its
errors (``plain_logs``)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import structlog

from adapters.errors import AdapterConfigError
from adapters.service import connect, plain_logs


async def test_a_missing_seed_file_is_named_not_taken_for_a_down_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "seeds" / "GT.nk"
    monkeypatch.setenv("ENLACE_NATS_NKEY_SEED_FILE", str(missing))
    with pytest.raises(AdapterConfigError, match=f"{missing}: no readable nkey seed file"):
        await connect("nats://127.0.0.1:1")


def test_an_adapter_logs_a_traceback_plain_without_the_frames_values() -> None:
    # rich's traceback (structlog's default) printed each frame's locals: deliveries'
    # content in the log, and seconds of the event loop per error under load.
    out = io.StringIO()
    plain_logs()  # structlog's defaults (tests/conftest.py), as in a new process
    structlog.configure(logger_factory=lambda *_: structlog.PrintLogger(out))
    secret = "TLP:RED payload"  # a local of the failing frame
    try:
        raise TimeoutError(f"nats: timeout ({len(secret)})")
    except TimeoutError:
        structlog.get_logger("test").exception("batch_failed_will_retry", count=1)
    logged = out.getvalue()
    assert "batch_failed_will_retry" in logged
    assert "Traceback (most recent call last)" in logged and "TimeoutError: nats" in logged
    assert "TLP:RED" not in logged and "╭" not in logged  # no locals, no rich panel
