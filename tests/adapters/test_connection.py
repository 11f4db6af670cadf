"""Which NATS login and address an adapter or source uses (``adapters.connection``)."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import pytest

from adapters.config import nats_url_from, party_from
from adapters.connection import ServerErrors, login_for
from adapters.errors import AdapterConfigError, PublishForbidden
from hub.server.tls import init_tls  # a test may make the CA the hub makes
from schemas.layout import Deployment


@pytest.fixture(autouse=True)
def _no_enlace_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "ENLACE_NATS_URL",
        "ENLACE_NATS_HOST",
        "ENLACE_NATS_PORT",
        "ENLACE_NATS_NKEY_SEED_FILE",
        "ENLACE_NATS_INBOX_PREFIX",
        "ENLACE_NATS_USER",
        "ENLACE_PARTY",
        "ENLACE_NATS_CA_FILE",
    ):
        monkeypatch.delenv(name, raising=False)


def kit(tmp_path: Path, settings: str, seed_mode: int | None = 0o600) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "enlace.yaml").write_text(settings, encoding="utf-8")
    if seed_mode is not None:
        seed = Deployment(tmp_path).seed_file("GT")
        seed.parent.mkdir(parents=True)
        seed.write_text("SUAxxx\n")
        seed.chmod(seed_mode)
    return tmp_path


def test_a_kit_logs_in_as_its_party_with_the_inbox_its_permissions_allow(tmp_path: Path) -> None:
    home = kit(tmp_path, "party: gt\nhub: {nats_url: 'nats://hub.example:4222'}\n")
    login = login_for(home, "GT")
    assert login.name == "GT"
    assert login.options == {
        "nkeys_seed": str(home / "nats" / "seeds" / "GT.nk"),
        "inbox_prefix": "_INBOX.GT",
    }
    assert "SUA" not in repr(login)
    assert login_for(home).name == "GT"  # the gateway, publish: the party itself
    assert nats_url_from(home) == "nats://hub.example:4222"


def test_a_kit_holds_no_other_country_s_login(tmp_path: Path) -> None:
    home = kit(tmp_path, "party: GT\n")
    with pytest.raises(AdapterConfigError, match=r"GT.s party kit.*no login of SV"):
        login_for(home, "SV")


def test_a_kit_s_missing_or_open_seed_is_named(tmp_path: Path) -> None:
    with pytest.raises(AdapterConfigError, match=r"seeds/GT\.nk: no readable nkey seed"):
        login_for(kit(tmp_path / "a", "party: GT\n", seed_mode=None), "GT")
    with pytest.raises(AdapterConfigError, match="readable by others"):
        login_for(kit(tmp_path / "b", "party: GT\n", seed_mode=0o644), "GT")


def test_environment_variables_override_the_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = kit(tmp_path, "party: GT\nhub: {nats_host: 10.0.0.1, nats_port: 4222}\n")
    other = tmp_path / "other.nk"
    other.write_text("SUAyyy\n")
    other.chmod(0o600)
    monkeypatch.setenv("ENLACE_NATS_NKEY_SEED_FILE", str(other))
    monkeypatch.setenv("ENLACE_NATS_INBOX_PREFIX", "_INBOX.GT")
    monkeypatch.setenv("ENLACE_NATS_PORT", "4333")
    assert login_for(home).options["nkeys_seed"] == str(other)
    assert nats_url_from(home) == "nats://10.0.0.1:4333"


def test_the_hub_s_machine_uses_the_country_s_seed_when_it_has_one(tmp_path: Path) -> None:
    home = kit(tmp_path, "hub: {nats_port: 4222}\n")
    assert party_from(home) is None
    assert login_for(home, "GT").options["inbox_prefix"] == "_INBOX.GT"
    assert login_for(home, "operator").options == {}  # no operator seed here: none
    with pytest.raises(AdapterConfigError, match="not a country code"):
        party_from(kit(tmp_path / "c", "party: Guatemala\n", seed_mode=None))


async def test_a_refused_publish_fails_at_once_naming_subject_and_login() -> None:
    errors = ServerErrors("nats://x", "GT")
    subject = "enlace.in.SV.gangs.gang_movement"

    async def never_answered() -> None:
        await errors(Exception(f'nats: permissions violation for publish to "{subject.lower()}"'))
        await asyncio.sleep(3600)

    with pytest.raises(PublishForbidden) as caught:
        await errors.guard(subject, never_answered())
    assert (caught.value.subject, caught.value.login) == (subject, "GT")
    assert "login GT" in caught.value.description and subject in caught.value.description


def test_a_kit_with_the_deployment_ca_verifies_the_server_with_it_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = kit(tmp_path / "kit", "party: GT\n")
    assert "tls" not in login_for(home).options  # no CA in the folder: nats-py's defaults
    ca = Deployment(home).tls_ca_cert
    ca.parent.mkdir(parents=True)
    ca.write_text(_a_ca_certificate(tmp_path / "ca"), encoding="utf-8")
    context = login_for(home).options["tls"]
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert len(context.get_ca_certs()) == 1  # the deployment CA, not the system's
    monkeypatch.setenv("ENLACE_NATS_CA_FILE", str(tmp_path / "nowhere.pem"))
    with pytest.raises(AdapterConfigError, match="ENLACE_NATS_CA_FILE"):
        login_for(home)


def _a_ca_certificate(folder: Path) -> str:
    return init_tls(Deployment(folder), ("localhost",), "t").files.ca_cert.read_text()
