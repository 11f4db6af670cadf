"""Public functions with three or more parameters say what each is (Google-style ``Args:``).

Read from the source with ``ast``: every public function and public method (not ``self``
or ``cls``; ``*args``/``**kwargs`` not counted) of ``schemas``, ``hub``, ``adapters`` and
``bench`` that takes three or more parameters has an ``Args:`` section naming each one.

Left out, each for a reason: click commands (each option carries its ``help=``, which
``--help`` shows), constructors (``__init__``: a class says what it holds; an error's
attributes are its documented fields), and methods a library calls with its own signature
(named below).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CODE = ("schemas", "hub", "adapters", "bench")
MIN_PARAMS = 3

# Methods whose signature a library fixes and documents; ours only fills them in.
LIBRARY_HOOKS = {
    "settings_customise_sources",  # pydantic-settings: the sources, in its order
}


def _params(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> list[str]:
    args = fn.args
    names = [a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)]
    return names[1:] if names[:1] in (["self"], ["cls"]) else names


def _is_click_command(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    for decorator in fn.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        text = ast.unparse(target)
        if text.startswith("click.") or re.search(r"\.(command|group)$", text):
            return True
    return False


def undocumented(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> list[str]:
    """The parameters of ``fn`` its docstring's ``Args:`` section does not name."""
    doc = ast.get_docstring(fn) or ""
    _, found, section = doc.partition("Args:")
    names = _params(fn)
    if not found:
        return names
    return [
        n for n in names if not re.search(rf"^\s+\**{re.escape(n)}(?: \([^)]*\))?:", section, re.M)
    ]


def _public_functions(
    node: ast.AST, public: bool
) -> Iterator[ast.FunctionDef | ast.AsyncFunctionDef]:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.ClassDef):
            yield from _public_functions(child, public and not child.name.startswith("_"))
        elif (
            isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            and public
            and not child.name.startswith("_")
        ):
            yield child


def missing_args(path: Path) -> list[str]:
    """``name:line: parameters`` of each function in ``path`` that breaks the rule."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    public = not path.name.startswith("_") or path.name == "__init__.py"
    found = []
    for fn in _public_functions(tree, public):
        if len(_params(fn)) < MIN_PARAMS or fn.name in LIBRARY_HOOKS or _is_click_command(fn):
            continue
        if missing := undocumented(fn):
            found.append(f"{fn.name}:{fn.lineno}: {', '.join(missing)}")
    return found


def test_public_functions_with_three_or_more_parameters_document_them() -> None:
    found = {
        path.relative_to(ROOT).as_posix(): missing
        for top in CODE
        for path in sorted((ROOT / top).rglob("*.py"))
        if (missing := missing_args(path))
    }
    assert found == {}


def test_the_reader_finds_what_is_undocumented_and_skips_what_is_exempt(tmp_path: Path) -> None:
    sample = tmp_path / "room.py"
    sample.write_text(
        "import click\n"
        "def bare(a, b, c): pass\n"
        "def partly(a, b, c):\n"
        '    """Half.\n\n    Args:\n        a: one.\n        b (int): two.\n    """\n'
        "def whole(a, *, b, c=1, **extra):\n"
        '    """All.\n\n    Args:\n        a: one.\n        b: two.\n        c: three.\n    """\n'
        "def two(a, b): pass\n"
        "def _private(a, b, c): pass\n"
        "class Thing:\n"
        "    def __init__(self, a, b, c): pass\n"
        "    def method(self, a, b, c): pass\n"
        "    @classmethod\n"
        "    def make(cls, a, b): pass\n"
        "class _Hidden:\n"
        "    def method(self, a, b, c): pass\n"
        "@click.command()\n"
        "def cmd(a, b, c): pass\n"
        "@group.command('x')\n"
        "def sub(a, b, c): pass\n"
    )
    assert missing_args(sample) == ["bare:2: a, b, c", "partly:3: c", "method:22: a, b, c"]
