"""Sink details the contract suite does not reach: HTTP answer classes, HMAC, torn files,
option errors, the entry points."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import random
from pathlib import Path

import httpx
import pytest

from adapters.base import SinkContext
from adapters.config import RetrySettings
from adapters.delivery import Delivery, parse_delivery
from adapters.errors import (
    AdapterConfigError,
    PermanentSinkError,
    TransientSinkError,
    UnknownSink,
)
from adapters.registry import build_sink, sink_names
from adapters.runner import backoff_delay, fetch_batch, reason_of
from adapters.sinks import _files
from adapters.sinks.folder import FolderSink
from adapters.sinks.jsonl import JsonlSink
from adapters.sinks.webhook import HDR_HMAC, WebhookSink
from schemas.countersign import sha256_digest
from schemas.pull import FULL_FETCH
from schemas.subjects import HDR_ORIGINAL_DIGEST, HDR_SIGNATURE, HDR_VIEW


def delivery(message_id: str = "01JD0000000000000000000000") -> Delivery:
    body = json.dumps({"id": message_id, "payload": {}}).encode()
    headers = {
        HDR_SIGNATURE: "e30..c2ln",
        HDR_VIEW: "full",
        HDR_ORIGINAL_DIGEST: sha256_digest(body),
    }
    return parse_delivery("enlace.out.GT.gangs.gang_movement", headers, body, "GT")


def context(tmp_path: Path) -> SinkContext:
    return SinkContext(country="GT", state_dir=tmp_path / "state", base_dir=tmp_path)


def test_builtin_sinks_are_entry_points(tmp_path: Path) -> None:
    assert {"folder", "jsonl", "webhook", "postgres"} <= set(sink_names())
    assert isinstance(build_sink("folder", {"path": "x"}, context(tmp_path)), FolderSink)
    with pytest.raises(UnknownSink, match="installed: folder"):
        build_sink("ftp", {}, context(tmp_path))


@pytest.mark.parametrize(
    ("name", "options", "words"),
    [
        ("folder", {}, "adapters.GT \\(folder sink\\) option 'path'"),
        ("webhook", {"url": "not a url"}, "option 'url'"),
        ("webhook", {"url": "https://x.example", "hmac_secret_env": "NOPE_UNSET"}, "NOPE_UNSET"),
        ("postgres", {}, "exactly one of dsn or dsn_env"),
        ("postgres", {"dsn": "x", "table": "drop table;"}, "option 'table'"),
        (
            "webhook",
            {"url": "https://x.example", "signing_secret_env": "NOPE_UNSET"},
            "environment variable NOPE_UNSET \\(signing_secret_env\\) is not set",
        ),
        (
            "webhook",
            {"url": "https://x.example", "signing_secret_file": "missing.secret"},
            "cannot read .*missing.secret \\(signing_secret_file\\)",
        ),
        (
            "webhook",
            {"url": "https://x.example", "signing_secret_file": "short.secret"},
            "holds 5 bytes; Standard Webhooks uses 24 to 64",
        ),
        (
            "webhook",
            {"url": "https://x.example", "signing_secret_file": "garbled.secret"},
            "is not whsec_ followed by base64",
        ),
        (
            "webhook",
            {"url": "https://x.example", "signing_secret_env": "A", "signing_secret_file": "b"},
            "give one of signing_secret_env and signing_secret_file",
        ),
    ],
)
def test_bad_options_are_named(
    tmp_path: Path, name: str, options: dict[str, str], words: str
) -> None:
    (tmp_path / "short.secret").write_text("whsec_c2hvcnQ=")  # base64 of 5 bytes
    (tmp_path / "garbled.secret").write_text("whsec_not base64!")
    with pytest.raises(AdapterConfigError, match=words):
        build_sink(name, options, context(tmp_path))


@pytest.mark.parametrize(
    ("status", "error", "reason"),
    [
        (503, TransientSinkError, "sink_unavailable"),
        (429, TransientSinkError, "sink_unavailable"),
        (400, PermanentSinkError, "http_400"),
        (404, PermanentSinkError, "http_404"),
    ],
)
async def test_webhook_answer_classes(
    tmp_path: Path, status: int, error: type[TransientSinkError | PermanentSinkError], reason: str
) -> None:
    client = httpx.AsyncClient(transport=httpx.MockTransport(lambda _: httpx.Response(status)))
    sink = WebhookSink("https://intake.example/", tmp_path / "ledger.sqlite", client=client)
    await sink.open()
    with pytest.raises(error) as info:
        await sink.deliver(delivery())
    assert reason_of(info.value) == reason
    assert not await sink.already_delivered("01JD0000000000000000000000")
    await sink.close()


async def test_webhook_timeout_is_transient(tmp_path: Path) -> None:
    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    client = httpx.AsyncClient(transport=httpx.MockTransport(timeout))
    sink = WebhookSink("https://intake.example/", tmp_path / "l.sqlite", client=client)
    await sink.open()
    with pytest.raises(TransientSinkError):
        await sink.deliver(delivery())
    await sink.close()


async def test_webhook_signs_with_hmac_and_remembers(tmp_path: Path) -> None:
    seen: list[httpx.Request] = []

    def ok(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    client = httpx.AsyncClient(transport=httpx.MockTransport(ok))
    ledger = tmp_path / "l.sqlite"
    sink = WebhookSink("https://intake.example/", ledger, hmac_secret=b"s3cret", client=client)
    await sink.open()
    d = delivery()
    assert not (await sink.deliver(d)).duplicate
    await sink.close()
    # A new process with the same ledger does not POST it again.
    again = WebhookSink(
        "https://intake.example/",
        ledger,
        client=httpx.AsyncClient(transport=httpx.MockTransport(ok)),
    )
    await again.open()
    assert (await again.deliver(d)).duplicate
    await again.close()
    [request] = seen
    expected = hmac.new(b"s3cret", request.content, hashlib.sha256).hexdigest()
    assert request.headers[HDR_HMAC] == f"sha256={expected}"
    assert request.headers[HDR_SIGNATURE] == "e30..c2ln"
    assert request.headers["Idempotency-Key"] == "01JD0000000000000000000000"


async def test_jsonl_drops_a_torn_last_line(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    sink = JsonlSink(path)
    await sink.open()
    await sink.deliver(delivery("01JD0000000000000000000001"))
    with path.open("ab") as fh:
        fh.write(b'{"id": "01JD0000000000000000000002", "raw": "cut sh')  # crash mid-append
    reopened = JsonlSink(path)
    await reopened.open()
    assert await reopened.already_delivered("01JD0000000000000000000001")
    assert not await reopened.already_delivered("01JD0000000000000000000002")
    await reopened.deliver(delivery("01JD0000000000000000000002"))
    ids = [json.loads(line)["id"] for line in path.read_bytes().splitlines()]
    assert ids == ["01JD0000000000000000000001", "01JD0000000000000000000002"]


async def test_folder_refuses_ids_that_are_not_file_names(tmp_path: Path) -> None:
    sink = FolderSink(tmp_path)
    with pytest.raises(PermanentSinkError) as info:
        await sink.deliver(delivery("../../etc/passwd"))
    assert info.value.reason == "unsafe_id"


def test_backoff_is_jittered_under_an_exponential_cap() -> None:
    retry = RetrySettings(backoff_base=0.5, backoff_max=4.0)
    rng = random.Random(1)
    for attempt, cap in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (9, 4.0)]:
        delays = [backoff_delay(attempt, retry, rng) for _ in range(200)]
        assert all(0 <= d <= cap for d in delays)
        assert max(delays) > cap * 0.8  # it does use the whole window


class _Sub:
    """Answers a first fetch with one delivery and the second with what it is asked."""

    def __init__(self) -> None:
        self.asked: list[tuple[int, float | None]] = []

    async def fetch(self, batch: int = 1, timeout: float | None = 5) -> list[int]:  # noqa: ASYNC109
        self.asked.append((batch, timeout))
        return list(range(batch))


async def test_a_sink_waits_for_a_full_batch_not_a_few_milliseconds() -> None:
    # A sink pays two file-system syncs per batch: the rest of a batch may take longer
    # than the hub's quick fetch to arrive on a busy machine, and is waited for.
    sub = _Sub()
    msgs = await fetch_batch(sub, 64, 1.0)  # type: ignore[arg-type]
    assert len(msgs) == 64
    assert sub.asked == [(1, 1.0), (63, FULL_FETCH)]


class _CountedSyncs:
    """Counts the file sinks' syncs (syncfs, or each folder fsynced), syncing for real."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        real_syncfs, real_fsync_dir = _files._SYNCFS, _files.fsync_dir

        def syncfs(fd: int) -> int:
            self.count += 1
            return real_syncfs(fd) if real_syncfs is not None else 0

        def fsync_dir(folder: Path) -> None:
            self.count += 1
            real_fsync_dir(folder)

        if real_syncfs is not None:
            monkeypatch.setattr(_files, "_SYNCFS", syncfs)
        monkeypatch.setattr(_files, "fsync_dir", fsync_dir)


async def test_a_folder_delivery_found_written_is_answered_only_after_a_sync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch written before a crash (or whose last sync failed) is on disk under its
    names, its renames maybe not durable: its redelivery, a duplicate, syncs first."""
    first = FolderSink(tmp_path)
    await first.open()
    await first.deliver(delivery("01JD0000000000000000000001"))
    await first.close()
    syncs = _CountedSyncs(monkeypatch)
    again = FolderSink(tmp_path)  # the next process
    await again.open()
    result = await again.deliver(delivery("01JD0000000000000000000001"))
    await again.close()
    assert result.duplicate
    assert syncs.count >= 1


async def test_jsonl_lines_found_at_open_are_synced_before_any_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "gt.jsonl"
    first = JsonlSink(path)
    await first.open()
    await first.deliver(delivery("01JD0000000000000000000001"))
    fsyncs: list[int] = []
    real_fsync = os.fsync

    def counted(fd: int) -> None:
        fsyncs.append(fd)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", counted)
    again = JsonlSink(path)  # the next process: the line may be only in the page cache
    await again.open()
    assert len(fsyncs) >= 2  # the file and its folder
    assert (await again.deliver(delivery("01JD0000000000000000000001"))).duplicate
