"""How an adapter process logs in to NATS (``adapters.service.connect``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.errors import AdapterConfigError
from adapters.service import connect


async def test_a_missing_seed_file_is_named_not_taken_for_a_down_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "seeds" / "GT.nk"
    monkeypatch.setenv("ENLACE_NATS_NKEY_SEED_FILE", str(missing))
    with pytest.raises(AdapterConfigError, match=f"{missing}: no readable nkey seed file"):
        await connect("nats://127.0.0.1:1")
