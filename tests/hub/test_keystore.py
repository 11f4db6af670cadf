from __future__ import annotations

import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hub.errors import KeyStoreError
from hub.governance.keystore import KeyKind, KeyStore, load_key_file
from schemas.jws import private_key_pem, sign_detached, verify_detached
from tests.factories import EPOCH, make_directory


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_keys_are_written_owner_only_and_load_back(tmp_path: Path) -> None:
    store = KeyStore(tmp_path / "keys")
    key = store.create(KeyKind.POC, "gt-gangs", "gt-gangs-k1")
    path = store.path(KeyKind.POC, "gt-gangs", "gt-gangs-k1")
    assert path == tmp_path / "keys" / "poc" / "gt-gangs" / "gt-gangs-k1.pem"
    assert _mode(path) == 0o600
    assert _mode(path.parent) == _mode(path.parent.parent) == _mode(tmp_path / "keys") == 0o700
    loaded = store.load(KeyKind.POC, "gt-gangs", "gt-gangs-k1")
    jws = sign_detached(b"x", loaded, "gt-gangs-k1")
    verify_detached(b"x", jws, key.public_key())


def test_each_kind_has_its_folder(tmp_path: Path) -> None:
    store = KeyStore(tmp_path / "keys")
    store.create(KeyKind.HUB, None, "hub-k1")
    store.create(KeyKind.COMMISSION, "GT", "gt-commission-k1")
    store.create(KeyKind.PARTY, "GT", "gt-system-k1")
    assert (tmp_path / "keys/hub/hub-k1.pem").is_file()
    assert store.kids(KeyKind.COMMISSION, "GT") == ["gt-commission-k1"]
    assert store.owners(KeyKind.PARTY) == ["GT"]
    assert store.kids(KeyKind.POC, "nobody") == []


def test_an_existing_key_is_never_overwritten(tmp_path: Path) -> None:
    store = KeyStore(tmp_path / "keys")
    store.create(KeyKind.HUB, None, "hub-k1")
    before = store.path(KeyKind.HUB, None, "hub-k1").read_bytes()
    with pytest.raises(KeyStoreError, match="already exists"):
        store.create(KeyKind.HUB, None, "hub-k1")
    assert store.path(KeyKind.HUB, None, "hub-k1").read_bytes() == before


def test_a_key_readable_by_others_is_refused_without_showing_it(tmp_path: Path) -> None:
    store = KeyStore(tmp_path / "keys")
    key = store.create(KeyKind.POC, "gt-gangs", "gt-gangs-k1")
    path = store.path(KeyKind.POC, "gt-gangs", "gt-gangs-k1")
    path.chmod(0o644)
    with pytest.raises(KeyStoreError) as info:
        store.load(KeyKind.POC, "gt-gangs", "gt-gangs-k1")
    message = info.value.description
    assert "0644" in message
    assert f"chmod 600 {path}" in message
    body = private_key_pem(key).decode().splitlines()[1]
    assert body not in message


def test_missing_and_foreign_key_files(tmp_path: Path) -> None:
    with pytest.raises(KeyStoreError, match="not found") as missing:
        load_key_file(tmp_path / "none.pem")
    assert missing.value.path == tmp_path / "none.pem"
    junk = tmp_path / "junk.pem"
    junk.write_text("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    junk.chmod(0o600)
    with pytest.raises(KeyStoreError, match="not an Ed25519"):
        load_key_file(junk)


def test_an_owner_name_cannot_leave_the_store(tmp_path: Path) -> None:
    store = KeyStore(tmp_path / "keys")
    with pytest.raises(KeyStoreError, match="plain owner"):
        store.create(KeyKind.POC, "../escape", "k1")


def test_the_current_poc_key_is_the_newest_valid_one_held_here(tmp_path: Path) -> None:
    now = EPOCH + timedelta(days=30)
    td = make_directory(
        parties=("GT",),
        themes=("gangs",),
        key_validity={"gt-gangs-k1": {"not_after": now + timedelta(days=1)}},
    )
    store = KeyStore(tmp_path / "keys")
    store.write(KeyKind.POC, "gt-gangs", "gt-gangs-k1", td.keys["gt-gangs-k1"])
    kid, _key = store.current_poc_key(td.directory, "gt-gangs", at=now)
    assert kid == "gt-gangs-k1"
    with pytest.raises(KeyStoreError, match="no poc key of gt-gangs is both valid"):
        store.current_poc_key(td.directory, "gt-gangs", at=now + timedelta(days=2))
    with pytest.raises(KeyStoreError, match="no point of contact 'hn-gangs'"):
        store.current_poc_key(td.directory, "hn-gangs", at=datetime.now(UTC))


def test_a_relative_store_writes_where_it_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `make up` runs `enlace --home .enlace init .enlace --demo`: a relative key store.
    monkeypatch.chdir(tmp_path)
    store = KeyStore(Path(".enlace") / "keys")
    store.create(KeyKind.COMMISSION, "BZ", "bz-commission-k1")
    path = tmp_path / ".enlace" / "keys" / "commission" / "BZ" / "bz-commission-k1.pem"
    assert path.is_file()
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
