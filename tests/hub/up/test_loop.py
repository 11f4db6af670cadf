"""``enlace up``'s event loop: uvloop where asked for and installed, else asyncio's."""

from __future__ import annotations

import asyncio

import pytest
import uvloop

from hub.config import HubSettings
from hub.up.loop import loop_factory, run


async def _loop_kind() -> str:
    return "uvloop" if isinstance(asyncio.get_running_loop(), uvloop.Loop) else "asyncio"


def test_the_hub_runs_on_uvloop_by_default() -> None:
    assert HubSettings().uvloop is True
    assert run(_loop_kind(), use_uvloop=HubSettings().uvloop) == "uvloop"


def test_the_setting_keeps_asyncios_own_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENLACE_UVLOOP", "false")
    settings = HubSettings()
    assert settings.uvloop is False
    assert loop_factory(settings.uvloop) is None
    assert run(_loop_kind(), use_uvloop=settings.uvloop) == "asyncio"


def test_without_uvloop_installed_asyncio_runs_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "uvloop", None)  # import uvloop now raises ImportError
    assert loop_factory(True) is None
    assert run(_loop_kind(), use_uvloop=True) == "asyncio"


def test_an_error_in_the_coroutine_comes_out_of_run() -> None:
    async def broken() -> None:
        raise ValueError("from inside the loop")

    with pytest.raises(ValueError, match="inside the loop"):
        run(broken(), use_uvloop=True)
