"""A NATS connection's errors while the server is away: a line per kind, not a traceback.

The hub's connections try again every 0.25 s through a restart of the server; nats-py's
default error callback logged each failed try with its whole traceback. The real client
against a port where nothing listens: one warning per kind of error per 10 s, saying how
many were left out.
"""

from __future__ import annotations

import asyncio

import nats
import pytest
from structlog.testing import capture_logs

from hub.server import connection_errors
from hub.server.connection_errors import ErrorReporter
from hub.server.process import free_port


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_one_warning_per_kind_per_quiet_period_saying_how_many_were_left_out() -> None:
    clock = _Clock()
    reporter = ErrorReporter("enlace-hub", clock)
    with capture_logs() as logs:
        refused = [reporter.report(ConnectionRefusedError(111, "refused")) for _ in range(40)]
        assert reporter.report(TimeoutError("no answer"))  # another kind: its own line
        clock.now += connection_errors.QUIET_SECONDS
        assert reporter.report(ConnectionRefusedError(111, "refused"))
    assert refused == [True] + [False] * 39
    assert [(e["error"], e["left_out"]) for e in logs] == [
        ("ConnectionRefusedError", 0),
        ("TimeoutError", 0),
        ("ConnectionRefusedError", 39),
    ]
    assert all(e["connection"] == "enlace-hub" and e["log_level"] == "warning" for e in logs)


class _Counting(ErrorReporter):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.seen: list[Exception] = []

    def report(self, exc: Exception) -> bool:
        self.seen.append(exc)
        return super().report(exc)


async def test_nats_py_reports_a_refused_first_connection_through_it() -> None:
    reporter = _Counting("enlace-console")
    nobody = f"nats://127.0.0.1:{free_port()}"
    refused = (nats.errors.NoServersError, OSError, TimeoutError)
    with capture_logs() as logs, pytest.raises(refused):
        await asyncio.wait_for(
            nats.connect(
                nobody,
                error_cb=reporter.on_error,
                max_reconnect_attempts=3,
                reconnect_time_wait=0.05,
            ),
            10,
        )
    assert len(reporter.seen) >= 3  # every try went through the reporter…
    assert [e["event"] for e in logs] == ["nats_connection_error"]  # …logged once
