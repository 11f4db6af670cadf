"""Each ``errors.py`` draws its tree in its docstring: the drawing is the classes.

The drawing is read line by line. A class line is ``Name (Mixin, …)  code  words``: the
mixins are its bases other than its parent in the tree, the code is its ``code``, the
words are free. ``Name (package.module)`` on the first line anchors the tree to a parent
class drawn in another module; ``Name  → package.module`` stands for a subtree drawn in
that module. A line without ``├──`` / ``└──`` below the first continues the words above.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest

from schemas.errors import EnlaceError

PACKAGES = ("schemas", "hub", "adapters")
ROOT = Path(__file__).resolve().parents[1]
ERROR_MODULES = sorted(
    ".".join(path.relative_to(ROOT).with_suffix("").parts)
    for package in PACKAGES
    for path in (ROOT / package).rglob("errors.py")
)

_CLASS_LINE = re.compile(r"^((?:│   |    )*)(?:├── |└── )(.*)$")
_CLASS_TEXT = re.compile(r"^(?P<name>[A-Z]\w*)(?: \((?P<paren>[^)]*)\))?(?:\s+(?P<rest>.*))?$")


@dataclass(frozen=True, order=True)
class Node:
    """One class as a tree shows it.

    ``kind`` is ``class`` (drawn here: ``detail`` is its code, ``mixins`` its other
    bases), ``anchor`` (the parent, drawn in module ``detail``) or ``ref`` (the subtree
    drawn in module ``detail``).
    """

    name: str
    parent: str | None
    kind: str
    detail: str | None
    mixins: tuple[str, ...] = ()


def _all_modules() -> list[ModuleType]:
    modules = []
    for package in PACKAGES:
        root = importlib.import_module(package)
        modules.append(root)
        for info in pkgutil.walk_packages(root.__path__, f"{package}."):
            modules.append(importlib.import_module(info.name))
    return modules


def _ours(cls: type) -> bool:
    return cls.__module__.split(".")[0] in PACKAGES


def _tree_parent(cls: type[BaseException]) -> type[BaseException] | None:
    """The base a tree hangs ``cls`` from: its first Enlace base (None for the root)."""
    return next((b for b in cls.__bases__ if issubclass(b, EnlaceError)), None)


def derived(module: ModuleType) -> set[Node]:
    """The tree of ``module`` as its classes make it."""
    nodes: set[Node] = set()
    classes = [
        c
        for c in vars(module).values()
        if isinstance(c, type) and issubclass(c, BaseException) and c.__module__ == module.__name__
    ]
    for cls in classes:
        parent = _tree_parent(cls)
        mixins = tuple(b.__name__ for b in cls.__bases__ if b is not parent)
        code = cls.__dict__.get("code")
        above = parent.__name__ if parent is not None else None
        nodes.add(Node(cls.__name__, above, "class", code, mixins))
        if parent is not None and parent.__module__ != module.__name__:
            nodes.add(Node(parent.__name__, None, "anchor", parent.__module__))
        for sub in cls.__subclasses__():
            if _ours(sub) and sub.__module__ != module.__name__ and _tree_parent(sub) is cls:
                nodes.add(Node(sub.__name__, cls.__name__, "ref", sub.__module__))
    return nodes


def _drawing(module: ModuleType) -> list[str]:
    doc = module.__doc__ or ""
    assert "Tree::" in doc, f"{module.__name__} draws no tree (a 'Tree::' block)"
    lines = doc.split("Tree::", 1)[1].splitlines()
    block: list[str] = []
    for line in lines[1:]:
        if line.strip() and not line.startswith("    "):
            break
        block.append(line)
    while block and not block[-1].strip():
        block.pop()
    indent = min(len(x) - len(x.lstrip()) for x in block if x.strip())
    return [line[indent:].rstrip() for line in block if line.strip()]


def drawn(module: ModuleType) -> set[Node]:
    """The tree of ``module`` as its docstring draws it."""
    nodes: list[Node] = []
    stack: list[str] = []
    for number, line in enumerate(_drawing(module)):
        found = _CLASS_LINE.match(line)
        if found is None and number > 0:
            assert "── " not in line, f"{module.__name__}: cannot read {line!r}"
            continue  # the words of the line above, continued
        depth, text = (len(found.group(1)) // 4 + 1, found.group(2)) if found else (0, line)
        parsed = _CLASS_TEXT.match(text)
        assert parsed is not None, f"{module.__name__}: cannot read {line!r}"
        name, paren, rest = parsed["name"], parsed["paren"], parsed["rest"] or ""
        del stack[depth:]
        parent = stack[-1] if stack else None
        if depth == 0 and paren and "." in paren:
            nodes.append(Node(name, None, "anchor", paren))
        elif rest.startswith("→ "):
            nodes.append(Node(name, parent, "ref", rest.removeprefix("→ ").split()[0]))
        else:
            mixins = tuple(m.strip() for m in paren.split(",")) if paren else ()
            code = rest.split()[0] if rest else None
            nodes.append(Node(name, parent, "class", code, mixins))
        stack.append(name)
    names = [n.name for n in nodes]
    assert len(names) == len(set(names)), f"{module.__name__} draws a class twice"
    return set(nodes)


def test_every_package_has_its_errors_module() -> None:
    assert {"schemas.errors", "hub.errors", "adapters.errors"} <= set(ERROR_MODULES)


@pytest.mark.parametrize("name", ERROR_MODULES)
def test_drawing_is_the_classes(name: str) -> None:
    _all_modules()  # every subclass defined anywhere in the packages exists now
    module = importlib.import_module(name)
    want, have = derived(module), drawn(module)
    assert have == want, (
        f"{name}: the drawing differs from the classes\n"
        f"  drawn, not so in the classes: {sorted(have - want)}\n"
        f"  in the classes, not so drawn: {sorted(want - have)}"
    )


def test_every_error_lives_in_an_errors_module() -> None:
    stray = []
    for module in _all_modules():
        if module.__name__ in ERROR_MODULES:
            continue
        for value in vars(module).values():
            if not (isinstance(value, type) and issubclass(value, BaseException)):
                continue
            if value.__module__ != module.__name__:
                continue
            # A private exception that never leaves its module (a parser's control flow)
            # is not an error of the project; anything public or Enlace is.
            if issubclass(value, EnlaceError) or not value.__name__.startswith("_"):
                stray.append(f"{module.__name__}.{value.__name__}")
    assert stray == []


def test_every_error_has_its_own_code() -> None:
    _all_modules()
    pending: list[type[EnlaceError]] = [EnlaceError]
    missing = []
    while pending:
        cls = pending.pop()
        if _ours(cls) and "code" not in cls.__dict__:
            missing.append(cls.__name__)
        pending.extend(cls.__subclasses__())
    assert missing == []


def test_a_changed_tree_is_noticed() -> None:
    """The reader is strict enough to see a class hung from the wrong parent."""
    module = ModuleType("example.errors")
    module.__doc__ = "Tree::\n\n    EnlaceError (schemas.errors)\n    └── Odd   odd_code\n"

    class Odd(EnlaceError):
        code = "odd_code"

    Odd.__module__ = module.__name__
    module.Odd = Odd  # type: ignore[attr-defined]  # a module built here, for the test
    assert drawn(module) == derived(module)
    module.__doc__ = module.__doc__.replace("└── Odd", "└── Other")
    assert drawn(module) != derived(module)
