"""The directory an adapter trusts: accepted like the hub does, kept when a change is bad."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from adapters.deployment import AdapterHome, DirectoryFile
from adapters.errors import SigningKeyMissing
from adapters.keys import party_signer
from hub.admin.init import init_deployment
from hub.deployment import Deployment
from schemas.errors import GovernanceError


@pytest.fixture
def home(tmp_path: Path) -> AdapterHome:
    init_deployment(Deployment(tmp_path), ["GT", "SV"])
    return AdapterHome(tmp_path)


def test_loads_the_signed_directory_and_the_party_key(home: AdapterHome) -> None:
    directory = DirectoryFile(home)()
    assert directory.party_codes == ("GT", "SV")
    assert party_signer(directory, home.keys_dir, "GT").kid == "gt-system-k1"
    with pytest.raises(SigningKeyMissing, match="not a party"):
        party_signer(directory, home.keys_dir, "US")


def test_a_tampered_directory_is_refused_and_the_old_one_kept(home: AdapterHome) -> None:
    current = DirectoryFile(home)
    before = current()
    text = home.directory.read_text()
    home.directory.write_text(text.replace("version: 1", "version: 2"))
    stat = home.directory.stat()
    os.utime(home.directory, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    with capture_logs() as logs:
        assert current() is before
    assert [e["event"] for e in logs] == ["directory_refused"]
    with pytest.raises(GovernanceError):
        DirectoryFile(home)  # a fresh start refuses outright
