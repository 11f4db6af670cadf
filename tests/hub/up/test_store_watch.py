"""StoreWatch: a failed store is found in nats-server's log and given back once there is room."""

from __future__ import annotations

from pathlib import Path

from hub.up.store_watch import StoreWatch

CRITICAL = (
    b"[7] 2026/12/06 03:26:50.611815 [ERR] Filestore [AUDIT] Critical write error: "
    b"write /x/msgs/1.blk: no space left on device\n"
)
STORE_FAILED = (
    b"[7] 2026/12/06 03:26:50.175012 [ERR] JetStream failed to store a msg on stream "
    b"'$G > AUDIT': write /x: no space left on device\n"
)


def watch(tmp_path: Path, min_free: int) -> StoreWatch:
    log = tmp_path / "nats-server.log"
    log.write_bytes(b"[7] old run [ERR] Filestore [DELIVERY] Critical write error: x\n")
    w = StoreWatch(log, tmp_path, min_free=min_free)
    w.restarted()  # what the log said before this server started does not count
    return w


def test_a_critical_write_error_names_its_stream(tmp_path: Path) -> None:
    w = watch(tmp_path, min_free=0)
    assert not w.should_restart()
    with w.log_path.open("ab") as fh:
        fh.write(STORE_FAILED)  # a refused write alone: the store is not marked failed
    assert not w.should_restart()
    with w.log_path.open("ab") as fh:
        fh.write(CRITICAL)
    assert w.should_restart()
    assert w.failed == {"AUDIT"}


def test_a_line_still_being_written_waits_for_its_end(tmp_path: Path) -> None:
    w = watch(tmp_path, min_free=0)
    with w.log_path.open("ab") as fh:
        fh.write(CRITICAL[:60])
    assert not w.should_restart()
    with w.log_path.open("ab") as fh:
        fh.write(CRITICAL[60:])
    assert w.should_restart()


def test_no_restart_until_the_disk_has_room(tmp_path: Path) -> None:
    w = watch(tmp_path, min_free=2**62)  # more than any disk here has free
    with w.log_path.open("ab") as fh:
        fh.write(CRITICAL)
    assert not w.should_restart()
    assert w.failed == {"AUDIT"}  # remembered until a restart
    w.min_free = 0
    assert w.should_restart()
    w.restarted()
    assert not w.should_restart()
