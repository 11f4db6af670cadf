"""The rendered NATS permissions: deny by default, each party on its own subjects only."""

from __future__ import annotations

import json
import re
from pathlib import Path

from hub.deployment import Deployment
from hub.natsauth import (
    HUB_USER,
    OPERATOR_USER,
    authorization_block,
    ensure_credentials,
    hub_permissions,
    load_user,
    operator_permissions,
    party_permissions,
)
from schemas.common import PARTIES


def _users(block: str) -> dict[str, dict[str, object]]:
    """The user entries of a rendered block (each is one JSON object per line)."""
    entries = [json.loads(line) for line in block.splitlines() if line.strip().startswith("{")]
    return {e["user"]: e for e in entries}


def test_a_party_may_publish_only_under_its_own_code() -> None:
    perms = party_permissions("GT", ["sink-GT-folder"])
    publish = perms["publish"]["allow"]
    assert "enlace.in.GT.>" in publish
    assert {"enlace.receipt.GT", "enlace.deadletter.GT"} <= set(publish)
    for subject in publish:
        others = set(re.findall(r"\b[A-Z]{2}\b", subject)) - {"GT", "JS", "API", "ACK"}
        assert not others, f"{subject} names another country"
    assert not any(s.startswith(("enlace.in.>", "enlace.out.")) for s in publish)
    # On streams: its own dead letters' info and removing one of them, nothing else.
    assert {s for s in publish if s.startswith("$JS.API.STREAM")} == {
        "$JS.API.STREAM.INFO.DEADLETTER_GT",
        "$JS.API.STREAM.MSG.DELETE.DEADLETTER_GT",
    }


def test_a_party_reads_deliveries_only_through_its_own_sink_consumers() -> None:
    publish = party_permissions("GT", ["sink-GT-folder"])["publish"]["allow"]
    assert "$JS.API.CONSUMER.MSG.NEXT.DELIVERY.sink-GT-folder" in publish
    assert "$JS.ACK.DELIVERY.sink-GT-folder.>" in publish
    # Creating a consumer on DELIVERY is allowed only with GT's own filter in the subject.
    creates = [s for s in publish if s.startswith("$JS.API.CONSUMER.CREATE.DELIVERY.")]
    assert creates and all(s.endswith(".enlace.out.GT.>") for s in creates)
    assert not any("DURABLE.CREATE" in s for s in publish)


def test_a_party_subscribes_only_to_its_inbox_and_notices() -> None:
    subscribe = party_permissions("GT")["subscribe"]["allow"]
    assert "_INBOX.>" not in subscribe
    assert "_INBOX.GT.>" in subscribe
    assert all("GT" in s for s in subscribe)


def test_the_hub_may_not_remove_audit_data() -> None:
    perms = hub_permissions()
    deny = perms["publish"]["deny"]
    for stream in ("AUDIT", "AUDIT_CHECKPOINTS"):
        assert f"$JS.API.STREAM.DELETE.{stream}" in deny
        assert f"$JS.API.STREAM.PURGE.{stream}" in deny
        assert f"$JS.API.STREAM.MSG.DELETE.{stream}" in deny
    assert "$JS.API.>" in perms["publish"]["allow"]


def test_every_login_gets_permissions_in_the_block(tmp_path: Path) -> None:
    dep = Deployment(tmp_path)
    ensure_credentials(dep, PARTIES)
    users = _users(authorization_block(dep, {"GT": ["sink-GT-folder"]}))
    assert set(users) == {*PARTIES, HUB_USER, OPERATOR_USER}
    assert all("permissions" in entry for entry in users.values())
    gt = users["GT"]["permissions"]
    assert isinstance(gt, dict)
    assert "$JS.ACK.DELIVERY.sink-GT-folder.>" in gt["publish"]["allow"]
    # HN's block does not mention GT's consumer.
    assert "sink-GT-folder" not in json.dumps(users["HN"])


def test_a_login_hides_its_password(tmp_path: Path) -> None:
    dep = Deployment(tmp_path)
    ensure_credentials(dep, ["GT"])
    user = load_user(dep, "GT")
    assert user.password not in repr(user)
    assert user.connect_options()["inbox_prefix"] == "_INBOX.GT"


def test_the_operator_login_only_reads() -> None:
    perms = operator_permissions()
    publish = perms["publish"]["allow"]
    assert not any(s.startswith("enlace.") for s in publish)
    writes = ("CREATE.INGRESS", "CREATE.DELIVERY", "STREAM.CREATE", "STREAM.DELETE", "PURGE")
    assert not any(w in s for s in publish for w in writes)
    assert perms["subscribe"]["allow"] == [f"_INBOX.{OPERATOR_USER}.>"]
