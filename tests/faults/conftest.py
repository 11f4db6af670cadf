"""The fault suite's table: each fault test adds its row; the run prints them at its end
and writes them to ``.enlace-faults.md`` (or ``$ENLACE_FAULT_TABLE``) for ``make faults``."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from _pytest.terminal import TerminalReporter

from tests.faults.harness import SCALE
from tests.faults.table import ROWS, render, table_path


def pytest_terminal_summary(terminalreporter: TerminalReporter, config: pytest.Config) -> None:
    if not ROWS:
        return
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    text = f"Fault suite, {stamp}, ENLACE_FAULT_SCALE={SCALE:g}\n\n" + render(ROWS)
    terminalreporter.section("fault table")
    terminalreporter.write(text)
    table_path(config.rootpath).write_text(text, encoding="utf-8")
