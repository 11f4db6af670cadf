"""Every error of the operator console, each with a stable reason code.

Hung from :class:`hub.errors.HubError`; ``tests/test_error_trees.py`` derives this
drawing from the classes.

Tree::

    HubError (hub.errors)
    └── ConsoleError                       console_error
        ├── ConsoleBindRefused             console_bind_refused   a non-loopback address without TLS
        ├── OperatorError (ValueError)     operator_invalid       an account cannot be made
        │   ├── OperatorExists             operator_exists        the name is taken
        │   └── OperatorUnknown            operator_unknown       no account of that name
        └── OperatorsFileInvalid           operators_file_invalid operators.json cannot be read
"""

from __future__ import annotations

from hub.errors import HubError

__all__ = [
    "ConsoleBindRefused",
    "ConsoleError",
    "OperatorError",
    "OperatorExists",
    "OperatorUnknown",
    "OperatorsFileInvalid",
]


class ConsoleError(HubError):
    """Base of every error of the operator console."""

    code = "console_error"


class ConsoleBindRefused(ConsoleError):
    """The console was asked to listen beyond loopback, which needs TLS it does not have yet.

    Attributes:
        host: the address asked for.
    """

    code = "console_bind_refused"

    def __init__(self, host: str) -> None:
        super().__init__(
            f"the console may listen only on a loopback address (127.0.0.1, ::1, localhost) "
            f"until it serves TLS; {host!r} is not one. Set console.host (or "
            "ENLACE_CONSOLE_HOST) to 127.0.0.1 and reach it through an SSH tunnel"
        )
        self.host = host


class OperatorError(ConsoleError, ValueError):
    """An operator account cannot be made or changed (name, role or password refused)."""

    code = "operator_invalid"


class OperatorExists(OperatorError):
    code = "operator_exists"

    def __init__(self, name: str) -> None:
        super().__init__(
            f"an operator named {name!r} exists already; remove it first to replace it"
        )
        self.name = name


class OperatorUnknown(OperatorError):
    code = "operator_unknown"

    def __init__(self, name: str) -> None:
        super().__init__(f"no operator named {name!r}; see `enlace operators list`")
        self.name = name


class OperatorsFileInvalid(ConsoleError):
    """``operators.json`` is not what ``enlace operators`` writes.

    Attributes:
        path: the file.
    """

    code = "operators_file_invalid"

    def __init__(self, path: str, why: str) -> None:
        super().__init__(f"{path}: {why}; fix or remove it, then `enlace operators add`")
        self.path = path
