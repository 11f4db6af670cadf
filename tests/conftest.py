"""Shared test fixtures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import structlog


@pytest.fixture(autouse=True)
def _structlog_as_found() -> Iterator[None]:
    """Each test starts with structlog's defaults: a command run in-process (its
    ``configure_logging``, e.g. at level warning) must not filter what a later test's
    ``capture_logs`` expects to see."""
    yield
    structlog.reset_defaults()
