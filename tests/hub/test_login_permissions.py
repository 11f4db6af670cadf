"""Permissions of the NATS logins: each built from the subjects of ``schemas.subjects``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hub.deployment import Deployment
from hub.errors import ConfigError
from hub.server.logins import (
    HUB_USER,
    OPERATOR_USER,
    SYSTEM_USER,
    authorization_block,
    ensure_credentials,
    load_user,
    login_permissions,
    public_keys_path,
)
from schemas.subjects import (
    deadletter_subject,
    inbox_filter,
    ingress_filter,
    outcome_filter,
    receipt_subject,
    rejected_subject,
)


def test_a_party_publishes_and_hears_its_own_subjects_only() -> None:
    perms = login_permissions("SV", {"SV": ["sink-SV-folder"]})
    publish = perms["publish"]["allow"]
    assert publish[:3] == [ingress_filter("SV"), receipt_subject("SV"), deadletter_subject("SV")]
    assert perms["subscribe"]["allow"] == [
        inbox_filter("SV"),
        outcome_filter("SV"),
        rejected_subject("SV"),
    ]


def test_each_login_connects_with_the_inbox_it_may_hear(tmp_path: Path) -> None:
    dep = Deployment(tmp_path)
    ensure_credentials(dep, ["GT"])
    for name in ("GT", OPERATOR_USER, SYSTEM_USER, HUB_USER):
        prefix = load_user(dep, name).inbox_prefix
        heard = login_permissions(name)["subscribe"]["allow"]
        assert f"{prefix}.>" in heard


def test_a_login_of_no_known_role_or_country_is_refused_with_what_to_do(tmp_path: Path) -> None:
    dep = Deployment(tmp_path)
    keys = ensure_credentials(dep, ["GT"])
    # A login added by hand: nothing says what it may do, so the server gets no block.
    keys["intruder"] = keys["GT"]
    public_keys_path(dep).write_text(json.dumps(keys))
    with pytest.raises(ConfigError, match=r"'intruder'.*nats/nkeys.json"):
        authorization_block(dep)
