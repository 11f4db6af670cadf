"""NATS logins: nkeys with private seed files; deny by default, each party on its own subjects."""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from hub.deployment import Deployment
from hub.errors import ConfigError
from hub.server.logins import (
    HUB_USER,
    OPERATOR_USER,
    SYSTEM_USER,
    authorization_block,
    ensure_credentials,
    hub_permissions,
    legacy_credentials_path,
    load_user,
    operator_permissions,
    party_permissions,
    public_keys_path,
    read_logins,
    seed_path,
    seeds_dir,
    system_permissions,
)
from schemas.common import PARTIES


def _users(block: str) -> dict[str, dict[str, object]]:
    """The user entries of a rendered block: a ``# name`` comment, then one JSON object
    (other comments explain the block)."""
    lines = [line.strip() for line in block.splitlines()]
    return {
        name.removeprefix("# "): json.loads(entry)
        for name, entry in itertools.pairwise(lines)
        if name.startswith("# ") and entry.startswith("{")
    }


def _seeds(dep: Deployment) -> list[str]:
    return [p.read_text().strip() for p in seeds_dir(dep).glob("*.nk")]


def test_a_party_may_publish_only_under_its_own_code() -> None:
    perms = party_permissions("GT", ["sink-GT-folder"])
    publish = perms["publish"]["allow"]
    assert "enlace.in.GT.>" in publish
    assert {"enlace.receipt.GT", "enlace.deadletter.GT"} <= set(publish)
    for subject in publish:
        others = set(re.findall(r"\b[A-Z]{2}\b", subject)) - {"GT", "JS", "API", "ACK"}
        assert not others, f"{subject} names another country"
    assert not any(s.startswith(("enlace.in.>", "enlace.out.")) for s in publish)
    # On streams: its own dead letters' info, reading and removing one; its own outcomes'
    # info and reading one (by id: a direct get); nothing else.
    assert {s for s in publish if s.startswith("$JS.API.STREAM")} == {
        "$JS.API.STREAM.INFO.DEADLETTER_GT",
        "$JS.API.STREAM.MSG.GET.DEADLETTER_GT",
        "$JS.API.STREAM.MSG.DELETE.DEADLETTER_GT",
        "$JS.API.STREAM.INFO.OUTCOMES_GT",
        "$JS.API.STREAM.MSG.GET.OUTCOMES_GT",
    }
    assert {s for s in publish if s.startswith("$JS.API.DIRECT")} == {
        "$JS.API.DIRECT.GET.OUTCOMES_GT",
        "$JS.API.DIRECT.GET.OUTCOMES_GT.enlace.outcome.GT.>",
    }


def test_a_party_reads_deliveries_only_through_its_own_sink_consumers() -> None:
    publish = party_permissions("GT", ["sink-GT-folder"])["publish"]["allow"]
    assert "$JS.API.CONSUMER.MSG.NEXT.DELIVERY.sink-GT-folder" in publish
    assert "$JS.ACK.DELIVERY.sink-GT-folder.>" in publish
    # No consumer verb but fetch, info and ack, and only on its own named consumers: a
    # create of an existing durable updates it (another country's consumer re-pointed).
    consumer_verbs = {s for s in publish if s.startswith("$JS.API.CONSUMER.")}
    assert consumer_verbs == {
        "$JS.API.CONSUMER.INFO.DELIVERY.sink-GT-folder",
        "$JS.API.CONSUMER.MSG.NEXT.DELIVERY.sink-GT-folder",
    }


def test_a_party_subscribes_only_to_its_inbox_and_notices() -> None:
    subscribe = party_permissions("GT")["subscribe"]["allow"]
    assert "_INBOX.>" not in subscribe
    assert "_INBOX.GT.>" in subscribe
    assert all("GT" in s for s in subscribe)


def test_the_hub_may_not_remove_audit_data() -> None:
    perms = hub_permissions()
    deny = perms["publish"]["deny"]
    for stream in ("AUDIT", "AUDIT_CHECKPOINTS", "AUDIT_WITNESS"):
        assert f"$JS.API.STREAM.DELETE.{stream}" in deny
        assert f"$JS.API.STREAM.PURGE.{stream}" in deny
        assert f"$JS.API.STREAM.MSG.DELETE.{stream}" in deny
        # Nor change their configuration (limits would drop entries) or restore over them.
        assert f"$JS.API.STREAM.UPDATE.{stream}" in deny
        assert f"$JS.API.STREAM.RESTORE.{stream}" in deny
    assert "$JS.API.ACCOUNT.>" in deny
    assert "$JS.API.>" in perms["publish"]["allow"]


def test_every_login_gets_permissions_in_the_block(tmp_path: Path) -> None:
    dep = Deployment(tmp_path)
    keys = ensure_credentials(dep, PARTIES)
    users = _users(authorization_block(dep, {"GT": ["sink-GT-folder"]}))
    assert set(users) == {*PARTIES, HUB_USER, OPERATOR_USER, SYSTEM_USER}
    assert all("permissions" in entry for entry in users.values())
    assert all(users[name]["nkey"] == keys[name] for name in users)
    gt = users["GT"]["permissions"]
    assert isinstance(gt, dict)
    assert "$JS.ACK.DELIVERY.sink-GT-folder.>" in gt["publish"]["allow"]
    # HN's block does not mention GT's consumer.
    assert "sink-GT-folder" not in json.dumps(users["HN"])


def test_the_server_block_holds_public_keys_only(tmp_path: Path) -> None:
    dep = Deployment(tmp_path)
    keys = ensure_credentials(dep, PARTIES)
    block = authorization_block(dep)
    seeds = _seeds(dep)
    assert len(seeds) == len(PARTIES) + 3
    assert all(seed.startswith("SU") and seed not in block for seed in seeds)
    assert "password" not in block and "user" not in json.dumps(_users(block))
    assert all(key.startswith("U") and key in block for key in keys.values())
    # The public list says nothing secret either.
    assert not any(seed in public_keys_path(dep).read_text() for seed in seeds)


def test_seeds_are_private_files_one_per_login(tmp_path: Path) -> None:
    dep = Deployment(tmp_path)
    ensure_credentials(dep, ["GT", "SV"])
    assert seeds_dir(dep).stat().st_mode & 0o777 == 0o700
    files = sorted(p.name for p in seeds_dir(dep).iterdir())
    assert files == ["GT.nk", "SV.nk", "hub.nk", "operator.nk", "system.nk"]
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in seeds_dir(dep).iterdir())


def test_a_login_gives_the_seed_file_not_the_seed(tmp_path: Path) -> None:
    dep = Deployment(tmp_path)
    ensure_credentials(dep, ["GT"])
    user = load_user(dep, "GT")
    seed = seed_path(dep, "GT").read_text().strip()
    options = user.connect_options()
    assert options == {
        "nkeys_seed": str(seed_path(dep, "GT").resolve()),
        "inbox_prefix": "_INBOX.GT",
    }
    assert seed not in repr(user) and seed not in json.dumps(options)
    assert load_user(dep, HUB_USER).inbox_prefix == "_INBOX"


def test_logins_are_stable_and_new_parties_get_their_own(tmp_path: Path) -> None:
    dep = Deployment(tmp_path)
    first = ensure_credentials(dep, ["GT"])
    gt_seed = seed_path(dep, "GT").read_bytes()
    again = ensure_credentials(dep, ["GT", "SV"])
    assert again["GT"] == first["GT"] and again[HUB_USER] == first[HUB_USER]
    assert seed_path(dep, "GT").read_bytes() == gt_seed
    assert "SV" in again and again["SV"] != again["GT"]
    with pytest.raises(ConfigError, match="no NATS login for 'MX'"):
        load_user(dep, "MX")


def test_a_seed_handed_to_its_country_keeps_the_login_on_the_server(tmp_path: Path) -> None:
    dep = Deployment(tmp_path)
    keys = ensure_credentials(dep, ["GT"])
    seed_path(dep, "GT").unlink()  # GT took its seed away from the hub's machine
    assert ensure_credentials(dep, ["GT"])["GT"] == keys["GT"]
    assert not seed_path(dep, "GT").exists()
    assert keys["GT"] in authorization_block(dep)
    with pytest.raises(ConfigError, match="seed of NATS login 'GT' is not at"):
        load_user(dep, "GT")


def test_a_seed_readable_by_others_is_refused(tmp_path: Path) -> None:
    dep = Deployment(tmp_path)
    ensure_credentials(dep, ["GT"])
    seed_path(dep, "GT").chmod(0o644)
    with pytest.raises(ConfigError, match="readable by others; run `chmod 600"):
        load_user(dep, "GT")


def test_a_seed_of_another_key_is_refused_without_showing_it(tmp_path: Path) -> None:
    dep = Deployment(tmp_path)
    ensure_credentials(dep, ["GT", "SV"])
    sv_seed = seed_path(dep, "SV").read_bytes()
    seed_path(dep, "GT").write_bytes(sv_seed)
    with pytest.raises(ConfigError, match="not the seed of the public key listed for 'GT'") as err:
        load_user(dep, "GT")
    assert sv_seed.decode().strip() not in str(err.value)
    seed_path(dep, "GT").write_bytes(b"SUNOTASEED\n")
    with pytest.raises(ConfigError, match="not an nkey user seed") as err:
        ensure_credentials(dep, ["GT"])
    assert "SUNOTASEED" not in str(err.value) and err.value.__cause__ is None


def test_hostile_login_names_cannot_leave_the_seeds_folder(tmp_path: Path) -> None:
    dep = Deployment(tmp_path)
    with pytest.raises(ConfigError, match="not a valid NATS login name"):
        ensure_credentials(dep, ["../GT"])
    public_keys_path(dep).write_text(json.dumps({"GT": "not-a-key"}))
    with pytest.raises(ConfigError, match="field 'GT': not a public nkey"):
        read_logins(dep)


def _legacy_deployment(tmp_path: Path) -> Deployment:
    """A deployment as the password-login code left it: users.json and a config with them."""
    dep = Deployment(tmp_path)
    dep.nats_dir.mkdir(parents=True)
    users = {"GT": "pw-gt-secret", HUB_USER: "pw-hub-secret", OPERATOR_USER: "pw-op-secret"}
    legacy_credentials_path(dep).write_text(json.dumps(users))
    (dep.nats_dir / "nats-server.conf").write_text('{"user": "GT", "password": "pw-gt-secret"}')
    return dep


def test_old_password_logins_are_refused_with_what_to_do(tmp_path: Path) -> None:
    dep = _legacy_deployment(tmp_path)
    with pytest.raises(ConfigError, match=r"password logins of an older Enlace.*`enlace up`"):
        read_logins(dep)
    with pytest.raises(ConfigError, match="password logins"):
        load_user(dep, "GT")


def test_old_password_logins_are_replaced_by_nkeys_and_said_so(tmp_path: Path) -> None:
    dep = _legacy_deployment(tmp_path)
    with capture_logs() as logs:
        keys = ensure_credentials(dep, ["SV"])
    assert set(keys) == {"GT", "SV", HUB_USER, OPERATOR_USER, SYSTEM_USER}
    # Both files that held the passwords are gone; `enlace up` writes a new config.
    assert not legacy_credentials_path(dep).exists()
    assert not (dep.nats_dir / "nats-server.conf").exists()
    migrated = [e for e in logs if e["event"] == "nats_logins_migrated"]
    assert len(migrated) == 1 and migrated[0]["logins"] == ["GT", HUB_USER, OPERATOR_USER]
    assert "secret" not in json.dumps(migrated[0])
    assert load_user(dep, "GT").connect_options()["inbox_prefix"] == "_INBOX.GT"


def test_the_operator_login_only_reads() -> None:
    perms = operator_permissions()
    publish = perms["publish"]["allow"]
    # One request on enlace.>: asking the hub to record a viewing of quarantined bytes
    # (the hub checks it and writes the entry); no other subject of the exchange.
    assert [s for s in publish if s.startswith("enlace.")] == ["enlace.operator.viewed"]
    assert "$JS.API.STREAM.MSG.GET.QUARANTINE" in publish
    assert not any("REJECTED" in s or "DIRECT.GET.QUARANTINE" in s for s in publish)
    writes = ("CREATE.INGRESS", "CREATE.DELIVERY", "STREAM.CREATE", "STREAM.DELETE", "PURGE")
    assert not any(w in s for s in publish for w in writes)
    assert perms["subscribe"]["allow"] == [f"_INBOX.{OPERATOR_USER}.>"]


def test_the_system_login_is_alone_in_the_servers_system_account(tmp_path: Path) -> None:
    dep = Deployment(tmp_path)
    keys = ensure_credentials(dep, ["GT"])
    block = authorization_block(dep)
    users, system = block.split("accounts {", 1)
    # In the global account, where the streams are: everyone but the system login.
    assert keys[SYSTEM_USER] not in users and keys["GT"] in users
    assert set(_users(system)) == {SYSTEM_USER}
    assert "SYS {" in system and block.endswith("system_account: SYS")


def test_the_system_login_hears_disconnects_and_publishes_nothing() -> None:
    perms = system_permissions()
    assert perms["publish"] == {"deny": [">"]}
    assert perms["subscribe"]["allow"] == ["$SYS.ACCOUNT.*.DISCONNECT", "_INBOX.system.>"]


def test_a_deployment_without_the_system_login_gets_no_system_account(tmp_path: Path) -> None:
    """Made before the system login (and not yet `enlace up` again): the block it had."""
    dep = Deployment(tmp_path)
    keys = ensure_credentials(dep, ["GT"])
    del keys[SYSTEM_USER]
    public_keys_path(dep).write_text(json.dumps(keys))
    block = authorization_block(dep)
    assert "accounts" not in block and "system_account" not in block
    assert set(_users(block)) == {"GT", HUB_USER, OPERATOR_USER}
