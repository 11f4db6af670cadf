"""Operator accounts of the console: ``<home>/operators.json`` (mode 0600), argon2id hashes.

Only the hash of a password is ever stored. Roles: ``viewer`` sees metadata;
``auditor`` may also open quarantined bytes (each view audited).
"""

from __future__ import annotations

import functools
import json
import re
import secrets
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from hub.console.errors import OperatorError, OperatorExists, OperatorsFileInvalid, OperatorUnknown
from hub.deployment import Deployment
from hub.server.private_files import write_private

__all__ = [
    "DEMO_OPERATOR",
    "MIN_PASSWORD",
    "Operator",
    "OperatorStore",
    "Role",
    "add_demo_operator",
    "new_password",
]

DEMO_OPERATOR = "demo"
MIN_PASSWORD = 12
_NAME = re.compile(r"^[a-z][a-z0-9_.-]{1,31}$")
# argon2-cffi's defaults are RFC 9106's low-memory profile of argon2id.
_HASHER = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """Checked against when the name is unknown, so a wrong name costs what a wrong
    password does. Made at the first login, not at import: one argon2 hash is ~0.2 s,
    which every `enlace` command paid at start."""
    return _HASHER.hash(secrets.token_urlsafe(16))


class Role(StrEnum):
    VIEWER = "viewer"
    AUDITOR = "auditor"


@dataclass(frozen=True)
class Operator:
    """One account: its name, its role and its password's argon2id hash."""

    name: str
    role: Role
    password_hash: str


def new_password() -> str:
    """A random password people can type (about 120 bits)."""
    return secrets.token_urlsafe(15)


class OperatorStore:
    """The deployment's operator accounts, read and written whole (small file, rare writes)."""

    def __init__(self, deployment: Deployment) -> None:
        self.path: Path = deployment.home / "operators.json"

    def list(self) -> list[Operator]:
        """Every account, by name.

        Raises:
            OperatorsFileInvalid: the file is not what this class writes.
        """
        if not self.path.is_file():
            return []
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            return [
                Operator(name, Role(row["role"]), str(row["hash"]))
                for name, row in sorted(data["operators"].items())
            ]
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise OperatorsFileInvalid(str(self.path), f"not an operators file ({exc})") from None

    def add(self, name: str, role: Role, password: str) -> Operator:
        """Create an account; only the password's hash is kept.

        Args:
            name: the login name (2-32 of a-z 0-9 _ . -, starting with a letter).
            role: what the account may see and do.
            password: the password, hashed here and never stored as given.

        Raises:
            OperatorError: the name or password is refused (says why).
            OperatorExists: an account of that name exists.
        """
        if not _NAME.match(name):
            raise OperatorError(
                f"operator name {name!r} refused: 2-32 of a-z 0-9 _ . -, starting with a letter"
            )
        if len(password) < MIN_PASSWORD:
            raise OperatorError(f"password refused: at least {MIN_PASSWORD} characters")
        accounts = {op.name: op for op in self.list()}
        if name in accounts:
            raise OperatorExists(name)
        accounts[name] = Operator(name, role, _HASHER.hash(password))
        self._write(accounts)
        return accounts[name]

    def remove(self, name: str) -> None:
        """Delete an account (its sessions end at their next request).

        Raises:
            OperatorUnknown: no account of that name.
        """
        accounts = {op.name: op for op in self.list()}
        if accounts.pop(name, None) is None:
            raise OperatorUnknown(name)
        self._write(accounts)

    def get(self, name: str) -> Operator | None:
        return next((op for op in self.list() if op.name == name), None)

    def authenticate(self, name: str, password: str) -> Operator | None:
        """The account if ``password`` is its password, else None (same cost either way)."""
        dummy = _dummy_hash()  # made at the first login whatever the name: the same cost
        account = self.get(name)
        try:
            _HASHER.verify(account.password_hash if account else dummy, password)
        except (VerificationError, InvalidHashError):
            return None
        return account

    def _write(self, accounts: dict[str, Operator]) -> None:
        data = {
            "operators": {
                op.name: {"role": op.role.value, "hash": op.password_hash}
                for op in sorted(accounts.values(), key=lambda o: o.name)
            }
        }
        write_private(self.path, (json.dumps(data, indent=2) + "\n").encode())


def add_demo_operator(deployment: Deployment) -> str:
    """The demo's operator (``demo``, auditor) with a fresh password, returned to print once."""
    password = new_password()
    OperatorStore(deployment).add(DEMO_OPERATOR, Role.AUDITOR, password)
    return password
