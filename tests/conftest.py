"""Shared test fixtures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import structlog
from hypothesis import settings

# Property tests check what is accepted and refused, not how fast: a per-example deadline
# fails them on a loaded 2-core CI machine (timing goals live in bench/).
settings.register_profile("enlace", deadline=None)
settings.load_profile("enlace")


@pytest.fixture(autouse=True)
def _structlog_as_found() -> Iterator[None]:
    """Each test starts with structlog's defaults: a command run in-process (its
    ``configure_logging``, e.g. at level warning) must not filter what a later test's
    ``capture_logs`` expects to see."""
    yield
    structlog.reset_defaults()
