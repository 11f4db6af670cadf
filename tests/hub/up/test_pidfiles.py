"""hub.up.pidfiles: records that tell a leftover child from a stranger, and the claim."""

from __future__ import annotations

import dataclasses
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.errors import UpBusy
from hub.up.pidfiles import ProcessRecord, claim, read_record, stop_leftovers

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    """A real process in its own group, as `enlace up` starts its children."""
    proc = subprocess.Popen(["sleep", "300"], start_new_session=True)
    yield proc
    proc.kill()
    proc.wait()


def _record(proc: subprocess.Popen[bytes], role: str = "adapter") -> ProcessRecord:
    record = ProcessRecord.of(proc.pid, role)
    assert record is not None
    return record


def test_a_record_names_one_process_and_survives_the_disk(
    tmp_path: Path, sleeper: subprocess.Popen[bytes]
) -> None:
    record = _record(sleeper)
    assert record.cmdline == ("sleep", "300") and record.runs()
    record.write(tmp_path / "r.json")
    assert read_record(tmp_path / "r.json") == record
    assert (tmp_path / "r.json").stat().st_mode & 0o077 == 0
    # The same pid with another start time or command line is another process.
    assert not dataclasses.replace(record, started=record.started - 1).runs()
    assert not dataclasses.replace(record, cmdline=("nats-server",)).runs()
    assert read_record(tmp_path / "missing.json") is None
    (tmp_path / "bad.json").write_text("{not json")
    assert read_record(tmp_path / "bad.json") is None


def test_a_child_recorded_the_moment_popen_returns_has_its_command_line() -> None:
    # Popen returns once exec closed the child's error pipe, while /proc may still show an
    # empty command line (arguments not yet mapped): a record taken then would never match.
    for _ in range(30):
        proc = subprocess.Popen(["sleep", "30"], start_new_session=True)
        try:
            record = ProcessRecord.of(proc.pid, "adapter")
            assert record is not None and record.cmdline == ("sleep", "30")
        finally:
            proc.kill()
            proc.wait()


def test_a_dead_process_does_not_run(sleeper: subprocess.Popen[bytes]) -> None:
    record = _record(sleeper)
    sleeper.kill()
    sleeper.wait()
    assert not record.runs()


def test_a_recorded_leftover_is_stopped_and_forgotten(
    tmp_path: Path, sleeper: subprocess.Popen[bytes]
) -> None:
    _record(sleeper).write(tmp_path / "adapter-HN-folder.json")
    stopped = stop_leftovers(tmp_path)
    assert [r.pid for r in stopped] == [sleeper.pid]
    assert sleeper.wait(5) != 0  # SIGTERM to its group
    assert list(tmp_path.iterdir()) == []


def test_a_stranger_on_a_recorded_pid_is_left_alone(
    tmp_path: Path, sleeper: subprocess.Popen[bytes]
) -> None:
    record = _record(sleeper)
    dataclasses.replace(record, started=record.started + 7).write(tmp_path / "a.json")
    dataclasses.replace(record, cmdline=("nats-server", "-c", "x")).write(tmp_path / "b.json")
    assert stop_leftovers(tmp_path) == []
    assert sleeper.poll() is None
    assert list(tmp_path.iterdir()) == []  # the records were wrong: they go


def test_a_leftover_that_cannot_be_signalled_is_refused_with_its_pid(tmp_path: Path) -> None:
    if os.getuid() == 0:
        pytest.skip("root may signal any process")
    init = ProcessRecord.of(1, "nats-server")  # another user's process: signals refused
    if init is None:
        pytest.skip("pid 1 not visible")
    init.write(tmp_path / "nats-server.json")
    with pytest.raises(UpBusy) as refused:
        stop_leftovers(tmp_path, grace=0.1)
    assert refused.value.pids == [1]
    assert "nats-server pid 1" in str(refused.value)
    assert (tmp_path / "nats-server.json").exists()  # kept for the next try


def test_one_claim_at_a_time_and_a_stale_pid_file_goes(tmp_path: Path) -> None:
    hub_pid = tmp_path / "hub.pid"
    hub_pid.write_text("999999999\n")  # left by an `enlace up` that died
    first = claim(tmp_path, hub_pid)
    assert not hub_pid.exists()
    me = read_record(tmp_path / "ups" / f"{os.getpid()}.json")
    assert me is not None and me.pid == os.getpid() and me.role == "up"
    with pytest.raises(UpBusy, match=f"pid {os.getpid()}") as refused:
        claim(tmp_path, hub_pid)
    assert refused.value.pids == [os.getpid()]
    first.release()
    assert list((tmp_path / "ups").iterdir()) == []
    claim(tmp_path, hub_pid).release()


def test_hub_replicas_by_url_share_the_deployment_but_not_with_an_embedded_one(
    tmp_path: Path,
) -> None:
    hub_pid = tmp_path / "hub.pid"
    first = claim(tmp_path, hub_pid, alone=False)
    second = claim(tmp_path, hub_pid, alone=False)  # a second hub replica: welcome
    with pytest.raises(UpBusy):
        claim(tmp_path, hub_pid)  # one with its embedded server: not beside them
    first.release()
    second.release()
    embedded = claim(tmp_path, hub_pid)
    with pytest.raises(UpBusy):
        claim(tmp_path, hub_pid, alone=False)  # nor a replica beside an embedded one
    embedded.release()


def test_a_live_up_is_refused_even_without_its_lock(
    tmp_path: Path, sleeper: subprocess.Popen[bytes]
) -> None:
    # The lock file was removed under it; its record still names a live process.
    _record(sleeper, "up").write(tmp_path / "ups" / f"{sleeper.pid}.json")
    with pytest.raises(UpBusy) as refused:
        claim(tmp_path, tmp_path / "hub.pid")
    assert refused.value.pids == [sleeper.pid]
    assert sleeper.poll() is None


def test_children_are_recorded_and_forgotten_by_name(
    tmp_path: Path, sleeper: subprocess.Popen[bytes]
) -> None:
    held = claim(tmp_path, tmp_path / "hub.pid")
    held.record_child("nats-server", sleeper.pid, "nats-server")
    record = read_record(tmp_path / "children" / "nats-server.json")
    assert record is not None and record.role == "nats-server" and record.runs()
    held.forget_child("nats-server")
    assert not (tmp_path / "children" / "nats-server.json").exists()
    held.release()
