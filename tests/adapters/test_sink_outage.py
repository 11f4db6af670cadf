"""An outage of a sink's medium (disk full, read-only, no permission) is waited out, never
dead-lettered; a passing failure is still retried a bounded number of times."""

from __future__ import annotations

import errno
import random
from pathlib import Path

import pytest
import structlog

from adapters.base import DeliveryResult
from adapters.config import RetrySettings
from adapters.delivery import Delivery
from adapters.errors import RetriesExhausted, SinkOutage, TransientSinkError
from adapters.retries import deliver_with_retries
from adapters.sinks._storage import storage_error
from adapters.sinks.folder import FolderSink
from tests.adapters.test_sinks_unit import delivery


class Flaky:
    """A sink whose first writes fail with the errors given, in order."""

    def __init__(self, *failures: TransientSinkError) -> None:
        self.failures = list(failures)
        self.attempts = 0

    async def deliver(self, item: Delivery) -> DeliveryResult:
        self.attempts += 1
        if self.failures:
            raise self.failures.pop(0)
        return DeliveryResult("written")


async def run(sink: Flaky, retry: RetrySettings) -> tuple[DeliveryResult, list[float], int]:
    waits: list[float] = []
    kept_alive = 0

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    async def keepalive() -> None:
        nonlocal kept_alive
        kept_alive += 1

    result = await deliver_with_retries(
        sink,  # type: ignore[arg-type]  # only deliver() is used
        delivery(),
        retry,
        rng=random.Random(7),
        sleep=sleep,
        keepalive=keepalive,
        log=structlog.get_logger(),
    )
    return result, waits, kept_alive


async def test_an_outage_is_waited_out_however_many_attempts_it_takes() -> None:
    retry = RetrySettings(max_attempts=2, backoff_base=0.5, backoff_max=4.0)
    sink = Flaky(*(SinkOutage("disk full") for _ in range(50)))
    result, waits, kept_alive = await run(sink, retry)
    assert result.location == "written"
    assert sink.attempts == 51
    assert len(waits) == kept_alive == 50  # the ack deadline pushed out before every wait
    assert all(0 <= w <= retry.backoff_max for w in waits)


async def test_passing_failures_still_run_out_and_outages_do_not_count() -> None:
    retry = RetrySettings(max_attempts=3, backoff_base=0.1, backoff_max=1.0)
    sink = Flaky(
        SinkOutage("read-only"),
        TransientSinkError("timeout"),
        SinkOutage("read-only"),
        TransientSinkError("timeout"),
        TransientSinkError("timeout"),
    )
    with pytest.raises(RetriesExhausted, match="failed 3 times"):
        await run(sink, retry)
    assert sink.attempts == 5


@pytest.mark.parametrize(
    ("code", "outage"),
    [
        (errno.ENOSPC, True),
        (errno.EDQUOT, True),
        (errno.EROFS, True),
        (errno.EACCES, True),
        (errno.EPERM, True),
        (errno.EIO, False),
        (errno.EAGAIN, False),
    ],
)
def test_which_storage_errors_are_outages(code: int, outage: bool) -> None:
    err = storage_error(OSError(code, "x"), "inbox/x.json")
    assert isinstance(err, TransientSinkError)
    assert isinstance(err, SinkOutage) is outage


async def test_an_inbox_that_is_a_file_is_no_outage(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    sink = FolderSink(inbox)
    await sink.open()
    inbox.rmdir()
    inbox.write_text("a file where the folder should be")  # every write under it fails
    with pytest.raises(TransientSinkError) as info:
        await sink.deliver(delivery())
    # ENOTDIR is not an outage of the medium: retried, then dead-lettered.
    assert not isinstance(info.value, SinkOutage)
