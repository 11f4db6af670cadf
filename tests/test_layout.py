"""The layout's rules (STYLE.md, issue 19), read from the source with ``ast``.

Dependencies point one way: ``hub`` → ``schemas``, ``adapters`` → ``schemas``; inside
``hub`` only ``cli/`` and ``up/`` import ``adapters``; only ``hub/cli/`` exits the process;
``bench/`` stands beside ``tests/``, not on it. Modules and classes stay small, the hub's
top level stays a facade over its rooms, and the hub has one pull loop.

A rule that does not hold yet is marked ``xfail(strict=True)`` naming what is missing:
the change that makes it hold turns the mark into a failure, and the mark goes with it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("schemas", "hub", "adapters")
CODE = (*PACKAGES, "bench")
MAX_MODULE_LINES = 450
MAX_CLASS_LINES = 250
MAX_HUB_TOP_MODULES = 8
PULL_LOOP = "hub/jetstream/pull.py"
SINK_LOOP = "adapters/runner.py"
FETCH = "schemas/pull.py"

# Modules over the line limit today, and what is under way about each.
LONG_MODULES: dict[str, str] = {}
LONG_CLASSES: dict[str, str] = {}


def _sources(*tops: str) -> list[Path]:
    return sorted(p for top in tops for p in (ROOT / top).rglob("*.py"))


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


@cache
def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def imported(path: Path, root: Path = ROOT) -> set[str]:
    """Every module ``path`` imports (absolute names; relative imports resolved from ``root``)."""
    names: set[str] = set()
    package = list(path.relative_to(root).parent.parts)
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            names.add(module)
            # `from hub import cli` imports the module hub.cli.
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def _imports_from(path: Path, *tops: str) -> list[str]:
    return sorted(
        name for name in imported(path) if any(name == t or name.startswith(f"{t}.") for t in tops)
    )


def offenders(paths: list[Path], *tops: str) -> dict[str, list[str]]:
    """Each file that imports one of ``tops`` (package or module), with what it imports."""
    found = {_rel(p): _imports_from(p, *tops) for p in paths}
    return {path: names for path, names in found.items() if names}


def exits(path: Path) -> Iterator[int]:
    """Lines where ``path`` ends the process: ``raise SystemExit`` or ``sys.exit(…)``."""
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.Raise) and node.exc is not None:
            exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            if isinstance(exc, ast.Name) and exc.id == "SystemExit":
                yield node.lineno
        elif isinstance(node, ast.Call):
            func = node.func
            if (
                isinstance(func, ast.Attribute)
                and func.attr == "exit"
                and isinstance(func.value, ast.Name)
                and func.value.id == "sys"
            ):
                yield node.lineno
        elif (
            isinstance(node, ast.ImportFrom)
            and node.module == "sys"
            and any(alias.name == "exit" for alias in node.names)
        ):
            yield node.lineno


def _outside_cli(paths: list[Path]) -> list[Path]:
    return [p for p in paths if not _rel(p).startswith("hub/cli/")]


# -- which way dependencies point ---------------------------------------------------------------


def test_schemas_imports_neither_hub_nor_adapters() -> None:
    assert offenders(_sources("schemas"), "hub", "adapters") == {}


def test_adapters_never_imports_hub() -> None:
    assert offenders(_sources("adapters"), "hub") == {}


def test_inside_hub_only_cli_and_up_import_adapters() -> None:
    rooms = [p for p in _sources("hub") if not _rel(p).startswith(("hub/cli/", "hub/up/"))]
    assert offenders(rooms, "adapters") == {}


def test_nothing_outside_hub_cli_imports_it() -> None:
    assert offenders(_outside_cli(_sources(*CODE)), "hub.cli") == {}


def test_nothing_outside_hub_cli_ends_the_process() -> None:
    found = {_rel(p): list(exits(p)) for p in _outside_cli(_sources(*CODE))}
    assert {path: lines for path, lines in found.items() if lines} == {}


def test_bench_does_not_import_tests() -> None:
    assert offenders(_sources("bench"), "tests") == {}


# -- sizes ----------------------------------------------------------------------------------------


def test_hub_top_level_is_a_facade_over_its_rooms() -> None:
    modules = sorted(p.name for p in (ROOT / "hub").glob("*.py"))
    assert len(modules) <= MAX_HUB_TOP_MODULES, modules


def _sized(known: dict[str, str], key: str) -> pytest.MarkDecorator | tuple[()]:
    if key not in known:
        return ()
    return pytest.mark.xfail(strict=True, reason=f"over the limit: {known[key]}")


@pytest.mark.parametrize(
    "path",
    [pytest.param(p, id=_rel(p), marks=_sized(LONG_MODULES, _rel(p))) for p in _sources(*CODE)],
)
def test_no_module_over_the_line_limit(path: Path) -> None:
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_MODULE_LINES, f"{_rel(path)} has {lines} lines"


def _classes() -> list[tuple[Path, ast.ClassDef]]:
    return [
        (p, node)
        for p in _sources(*CODE)
        for node in ast.walk(_tree(p))
        if isinstance(node, ast.ClassDef)
    ]


@pytest.mark.parametrize(
    ("path", "node"),
    [
        pytest.param(
            p,
            node,
            id=f"{_rel(p)}::{node.name}",
            marks=_sized(LONG_CLASSES, f"{_rel(p)}::{node.name}"),
        )
        for p, node in _classes()
    ],
)
def test_no_class_over_the_line_limit(path: Path, node: ast.ClassDef) -> None:
    assert node.end_lineno is not None  # set by ast.parse
    lines = node.end_lineno - node.lineno + 1
    assert lines <= MAX_CLASS_LINES, f"{_rel(path)}: class {node.name} has {lines} lines"


def test_size_exceptions_name_real_modules_and_classes() -> None:
    """A split that renames or removes a module or class must take its mark away too."""
    modules = {_rel(p) for p in _sources(*CODE)}
    classes = {f"{_rel(p)}::{node.name}" for p, node in _classes()}
    assert set(LONG_MODULES) <= modules
    assert set(LONG_CLASSES) <= classes


# -- one pull loop --------------------------------------------------------------------------------


def test_one_fetch_for_hub_and_adapters() -> None:
    # hub and adapters may not import each other: the fetch they share lives in schemas.
    fetching = [_rel(p) for p in _sources(*PACKAGES) if ".fetch(" in p.read_text(encoding="utf-8")]
    assert fetching == [FETCH]


def test_the_hub_and_the_adapters_fetch_in_their_loops_only() -> None:
    users = {
        _rel(p)
        for p in _sources("hub", "adapters")
        if "fetch_first_then_rest" in p.read_text(encoding="utf-8")
    }
    assert users == {PULL_LOOP, SINK_LOOP}


# -- the reader itself ----------------------------------------------------------------------------


def test_the_reader_sees_every_way_to_import_and_exit(tmp_path: Path) -> None:
    (tmp_path / "hub" / "room").mkdir(parents=True)
    sample = tmp_path / "hub" / "room" / "x.py"
    sample.write_text(
        "import adapters.base\n"
        "from hub import cli\n"
        "from ..cli.context import fail\n"
        "from sys import exit\n"
        "import sys\n"
        "def f():\n"
        "    sys.exit(2)\n"
        "def g():\n"
        "    raise SystemExit\n"
    )
    assert {"adapters.base", "hub.cli", "hub.cli.context"} <= imported(sample, tmp_path)
    assert sorted(exits(sample)) == [4, 7, 9]
