"""``enlace nats rotate`` while ``enlace up`` runs with its embedded server.

A running ``enlace up`` (``upkit``) (the demo with HN's folder sink): HN's
login is rotated; the server reloads at once, refuses HN's old seed and lets the new one
in, and ``enlace up`` restarts HN's adapter, which logs in with the new seed. A
connection made with a rotated key is closed by the server at the reload.
"""

from __future__ import annotations

import asyncio
import json
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import nats
import nats.errors
import pytest

from hub.server.logins import load_user, public_keys_path, seed_path
from schemas.tls import client_context
from tests.integration.upkit import WAIT, Running, login, run_demo_with_hn_sink, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    yield from run_demo_with_hn_sink(tmp_path_factory)


@dataclass
class Rotated:
    up: Running
    old_seed: Path
    outcome: dict[str, object]


def _applied(up: Running, login: str) -> list[dict[str, object]]:
    return [e for e in up.events("reload_applied") if e.get("logins_rotated") == [login]]


@pytest.fixture(scope="module")
def rotated(running: Running, tmp_path_factory: pytest.TempPathFactory) -> Rotated:
    """HN's login rotated through the CLI; HN's old seed kept aside (0600)."""
    old = tmp_path_factory.mktemp("old") / "HN.nk"
    old.write_bytes(seed_path(running.dep, "HN").read_bytes())
    old.chmod(0o600)
    result = running.enlace("nats", "rotate", "HN", "--json")
    assert result.returncode == 0, result.stderr
    wait_for(lambda: _applied(running, "HN"), "the rotation applied")
    return Rotated(running, old, json.loads(result.stdout))


def test_rotate_reports_the_new_key_in_force(rotated: Rotated) -> None:
    outcome, dep = rotated.outcome, rotated.up.dep
    assert outcome["hub_running"] is True and outcome["applied"] is True
    assert outcome["public_key"] == json.loads(public_keys_path(dep).read_text())["HN"]
    assert outcome["public_key"] != outcome["old_public_key"]
    seed = seed_path(dep, "HN")
    assert stat.S_IMODE(seed.stat().st_mode) == 0o600
    assert seed.read_bytes() != rotated.old_seed.read_bytes()
    assert str(outcome["public_key"]) in rotated.up.config.read_text()
    assert str(outcome["old_public_key"]) not in rotated.up.config.read_text()


async def test_the_old_seed_is_refused_and_the_new_one_let_in(rotated: Rotated) -> None:
    errors: list[str] = []

    async def record(err: Exception) -> None:
        errors.append(str(err))

    with pytest.raises(nats.errors.Error):
        await nats.connect(
            rotated.up.url,
            nkeys_seed=str(rotated.old_seed),
            inbox_prefix="_INBOX.HN",
            tls=client_context(rotated.up.dep.tls_ca_cert),  # past TLS, to the login
            allow_reconnect=False,
            max_reconnect_attempts=0,
            connect_timeout=5,
            error_cb=record,
        )
    assert any("authorization violation" in e.lower() for e in errors), errors

    nc = await login(rotated.up, "HN", [])
    try:
        info = await nc.jetstream(timeout=5).stream_info("DEADLETTER_HN")
    finally:
        await nc.close()
    assert info.config.name == "DEADLETTER_HN"


def test_the_country_adapter_is_restarted_with_the_new_seed(rotated: Rotated) -> None:
    up = rotated.up
    assert _applied(up, "HN")[-1]["adapters_restarted"] == ["HN/folder"]
    adapter_log = up.dep.state_dir / "logs" / "adapter-HN-folder.log"
    # Its second start: it logged in (with the new seed) and consumes again.
    wait_for(lambda: adapter_log.read_text().count("consuming") >= 2, "HN's adapter")
    assert not [e for e in up.events("adapter_exited") if e["country"] == "HN"]


async def test_a_connection_with_a_rotated_key_is_dropped_and_cannot_come_back(
    rotated: Rotated,
) -> None:
    up = rotated.up
    dropped, refused = asyncio.Event(), asyncio.Event()

    async def on_disconnect() -> None:
        dropped.set()

    async def record(err: Exception) -> None:
        if "authorization violation" in str(err).lower():
            refused.set()

    held = await nats.connect(
        up.url,
        reconnect_time_wait=0.1,
        disconnected_cb=on_disconnect,
        error_cb=record,
        **load_user(up.dep, "operator").connect_options(),
    )
    try:
        result = await asyncio.to_thread(up.enlace, "nats", "rotate", "operator")
        assert result.returncode == 0, result.stderr
        assert "accepts the new seed and refuses the old one" in result.stdout
        await asyncio.wait_for(dropped.wait(), WAIT)
        # nats-py reconnects with the public key it computed at connect: refused for ever,
        # which is why `enlace up` restarts the adapters of a rotated login.
        await asyncio.wait_for(refused.wait(), WAIT)
    finally:
        await held.close()
    # The operator commands read the new seed from the same file.
    status = await asyncio.to_thread(up.enlace, "status", "--json")
    assert status.returncode == 0, status.stderr
