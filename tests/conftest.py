"""Shared test fixtures, and the fault suite's table at the end of the run."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import structlog
from _pytest.terminal import TerminalReporter
from hypothesis import settings

from tests.faults.harness import SCALE
from tests.faults.table import ROWS, from_plain, render, table_path, to_plain

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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Slow files first: the fault suite's, then the integration files, then the rest, each
    file whole and in collection order. With pytest-xdist (make test, ``--dist loadfile
    --no-loadscope-reorder``) the two processes then finish together, instead of one
    running the last fault rows while the other has nothing left."""
    ranks: dict[str, int] = {}
    for item in items:
        rank = (
            0
            if item.get_closest_marker("faults")
            else 1
            if item.get_closest_marker("integration")
            else 2
        )
        ranks[item.path.as_posix()] = min(rank, ranks.get(item.path.as_posix(), rank))
    items.sort(key=lambda item: ranks[item.path.as_posix()])  # stable: in order within a rank


# -- the fault table: each fault test adds its row (tests/faults/table.py); the run prints
# them at its end and writes them to .enlace-faults.md (or $ENLACE_FAULT_TABLE). With
# pytest-xdist (make test) the rows are recorded in the workers and printed by the
# controller, which runs no test: each worker hands its rows over as it finishes.


def pytest_sessionfinish(session: pytest.Session) -> None:
    workeroutput: dict[str, Any] | None = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["fault_rows"] = to_plain(ROWS)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """A pytest-xdist worker finished: take its fault rows (the hook exists with xdist)."""
    ROWS.extend(from_plain(getattr(node, "workeroutput", {}).get("fault_rows", [])))


def pytest_terminal_summary(terminalreporter: TerminalReporter, config: pytest.Config) -> None:
    if not ROWS or hasattr(config, "workerinput"):
        return
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    text = f"Fault suite, {stamp}, ENLACE_FAULT_SCALE={SCALE:g}\n\n" + render(ROWS)
    terminalreporter.section("fault table")
    terminalreporter.write(text)
    table_path(config.rootpath).write_text(text, encoding="utf-8")
