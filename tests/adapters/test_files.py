"""Durable batch writes of the file sinks, both ways (syncfs and per-file fsync): what is on
disk after, in which order the names appear, and that a failed sync is an error."""

from __future__ import annotations

import ctypes
import errno
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from adapters.sinks import _files


@pytest.fixture(params=["syncfs", "fsync"])
def way(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    if request.param == "fsync":
        monkeypatch.setattr(_files, "_SYNCFS", None)
    elif _files._SYNCFS is None:
        pytest.skip("no syncfs reporting write-back errors here (Linux >= 5.8)")
    yield request.param


def test_a_batch_lands_whole_named_in_order_and_without_temporaries(
    tmp_path: Path, way: str
) -> None:
    other = tmp_path / "other"
    other.mkdir()
    files = [(tmp_path / "a.json.jws", b"sig"), (other / "b", b"x"), (tmp_path / "a.json", b"{}")]
    with ThreadPoolExecutor(2) as pool:
        _files.write_all(files, pool)
    assert [p.read_bytes() for p, _ in files] == [b"sig", b"x", b"{}"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "a.json.jws", "other"]
    assert [p.name for p in other.iterdir()] == ["b"]
    # Renamed in the order given: the last one named is the newest entry.
    assert (tmp_path / "a.json").stat().st_ctime_ns >= (tmp_path / "a.json.jws").stat().st_ctime_ns


def test_a_folder_that_refuses_writes_leaves_nothing_named(tmp_path: Path, way: str) -> None:
    missing = tmp_path / "gone"
    with ThreadPoolExecutor(2) as pool, pytest.raises(OSError):
        _files.write_all([(tmp_path / "a", b"1"), (missing / "b", b"2")], pool)
    assert not (tmp_path / "a").exists()


def test_a_failed_syncfs_is_an_error_naming_the_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing(fd: int) -> int:
        ctypes.set_errno(errno.EIO)
        return -1

    monkeypatch.setattr(_files, "_SYNCFS", failing)
    with pytest.raises(OSError) as caught:
        _files.sync_folders([tmp_path])
    assert caught.value.errno == errno.EIO
    assert caught.value.filename == str(tmp_path)


def test_one_syncfs_per_filesystem(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []

    def counting(fd: int) -> int:
        calls.append(os.fstat(fd).st_dev)
        return 0

    monkeypatch.setattr(_files, "_SYNCFS", counting)
    (tmp_path / "x").mkdir()
    _files.sync_folders([tmp_path, tmp_path / "x", tmp_path])
    assert len(calls) == 1


def test_without_syncfs_each_folder_is_fsynced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[str] = []
    monkeypatch.setattr(_files, "_SYNCFS", None)
    monkeypatch.setattr(_files, "fsync_dir", lambda folder: synced.append(str(folder)))
    (tmp_path / "x").mkdir()
    _files.sync_folders([tmp_path, tmp_path / "x", tmp_path])
    assert synced == [str(tmp_path), str(tmp_path / "x")]
