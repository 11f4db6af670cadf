"""Every error of the ``schemas`` package, each with a stable reason code.

The reason code (``err.code``) is what a refused message's notice carries, what the
audit log records and what ``enlace verify`` prints: it never changes once published.
What a caller needs beyond the sentence is an attribute: ``message_id`` on every message
and signature error (None where the check does not know it), ``kid`` on signature errors,
``field``, ``path``, ``subject`` where the error has them.

The errors of ``hub`` (:mod:`hub.errors`) and ``adapters`` (:mod:`adapters.errors`) hang
from :class:`EnlaceError`; their trees are drawn there (``→`` names the module).
``tests/test_error_trees.py`` derives each drawing from the classes.

Tree::

    EnlaceError (Exception)                 error                 an Enlace error (base)
    ├── MessageError (ValueError)           invalid_message       a message is refused
    │   ├── MessageTooLarge                 too_large             (size, limit)
    │   ├── MalformedJson                   malformed_json
    │   ├── DuplicateKey                    duplicate_key         (path)
    │   ├── InvalidEnvelope                 invalid_envelope      (field)
    │   ├── UnknownMessageType              unknown_type          (type, version, known)
    │   ├── ThemeNotAllowed                 theme_not_allowed     (type, theme, allowed)
    │   ├── SchemaInvalid                   schema_invalid        (field)
    │   ├── SubjectMismatch                 subject_mismatch      (subject)
    │   └── ReceiptBatchInvalid             receipt_batch_invalid a RECEIPTS message of
    │       │                                                     many receipts is malformed
    │       └── ReceiptBatchTooLarge        receipt_batch_too_large (count, limit)
    ├── SignatureError (ValueError)         signature_error       a signature does not hold
    │   ├── MalformedSignature              malformed_signature
    │   ├── UnknownKey                      unknown_key
    │   ├── KeyNotYetValid                  key_not_yet_valid
    │   ├── KeyExpired                      key_expired
    │   ├── KeyRevoked                      key_revoked
    │   ├── BadSignature                    bad_signature
    │   └── SenderMismatch                  sender_mismatch
    ├── GovernanceError (ValueError)        governance_error      a governance file is refused
    │   ├── GovernanceFileError             governance_invalid    (path, line, field, problem)
    │   ├── GovernanceUnsigned              governance_unsigned
    │   ├── GovernanceBadSignature          governance_bad_signature
    │   └── GovernanceStaleVersion          governance_stale_version
    ├── TlogError (ValueError)              tlog_invalid          a signed note or log proof fails
    ├── HubError                            → hub.errors
    └── AdapterError                        → adapters.errors
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

__all__ = [
    "REASON_CODES",
    "BadSignature",
    "DuplicateKey",
    "EnlaceError",
    "GovernanceBadSignature",
    "GovernanceError",
    "GovernanceFileError",
    "GovernanceStaleVersion",
    "GovernanceUnsigned",
    "InvalidEnvelope",
    "KeyExpired",
    "KeyNotYetValid",
    "KeyRevoked",
    "MalformedJson",
    "MalformedSignature",
    "MessageError",
    "MessageTooLarge",
    "ReceiptBatchInvalid",
    "ReceiptBatchTooLarge",
    "SchemaInvalid",
    "SenderMismatch",
    "SignatureError",
    "SubjectMismatch",
    "ThemeNotAllowed",
    "TlogError",
    "UnknownKey",
    "UnknownMessageType",
]


class EnlaceError(Exception):
    """Base of every Enlace error.

    Attributes:
        code: stable machine-readable reason code.
        description: a sentence for people: what was wrong and what to do.
    """

    code: ClassVar[str] = "error"

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description

    def __str__(self) -> str:
        return f"{self.code}: {self.description}"


class MessageError(EnlaceError, ValueError):
    """A message was refused before its signature was even considered, or after it.

    Attributes:
        message_id: the message's id, when the check that refused it had read it.
    """

    code = "invalid_message"

    def __init__(self, description: str, *, message_id: str | None = None) -> None:
        super().__init__(description)
        self.message_id = message_id


class MessageTooLarge(MessageError):
    code = "too_large"

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"message is {size} bytes; the limit is {limit} bytes")
        self.size = size
        self.limit = limit


class MalformedJson(MessageError):
    code = "malformed_json"


class DuplicateKey(MessageError):
    """A JSON object in the message names the same key twice.

    JSON parsers disagree on which of two values wins (most keep the last, some the first,
    some refuse), and recipients get the exact bytes: the hub refuses rather than route on
    one reading while a recipient acts on another.

    Attributes:
        path: dotted path of the repeated key as the sender wrote it
            (``handling``, ``payload.persons.0.name``).
    """

    code = "duplicate_key"

    def __init__(self, path: str) -> None:
        super().__init__(
            f"key {path} appears twice in the message; JSON readers disagree on which value "
            "counts, so give each key once"
        )
        self.path = path


class InvalidEnvelope(MessageError):
    code = "invalid_envelope"

    def __init__(self, description: str, field: str | None = None) -> None:
        super().__init__(description)
        self.field = field


class UnknownMessageType(MessageError):
    code = "unknown_type"

    def __init__(self, type_: str, version: int, known: list[str]) -> None:
        super().__init__(
            f"unknown message type {type_!r} version {version}; known: {', '.join(known)}"
        )
        self.type = type_
        self.version = version
        self.known = known


class ThemeNotAllowed(MessageError):
    code = "theme_not_allowed"

    def __init__(
        self, type_: str, theme: str, allowed: list[str], *, message_id: str | None = None
    ) -> None:
        super().__init__(
            f"type {type_!r} may not travel under theme {theme!r}; allowed: {', '.join(allowed)}",
            message_id=message_id,
        )
        self.type = type_
        self.theme = theme
        self.allowed = allowed


class SchemaInvalid(MessageError):
    code = "schema_invalid"

    def __init__(
        self, description: str, field: str | None = None, *, message_id: str | None = None
    ) -> None:
        super().__init__(description, message_id=message_id)
        self.field = field


class SubjectMismatch(MessageError):
    """The subject a message came on disagrees with its body.

    Attributes:
        subject: the subject it came on.
    """

    code = "subject_mismatch"

    def __init__(
        self, description: str, *, subject: str | None = None, message_id: str | None = None
    ) -> None:
        super().__init__(description, message_id=message_id)
        self.subject = subject


class ReceiptBatchInvalid(MessageError):
    """A RECEIPTS message announced as a batch of signed receipts cannot be unpacked.

    The whole message is refused: none of what it carries can be told apart reliably.
    (A readable batch whose receipts fail their own checks is not this: each of those is
    refused on its own.)
    """

    code = "receipt_batch_invalid"


class ReceiptBatchTooLarge(ReceiptBatchInvalid):
    """A batch of receipts carries (or announces) more receipts than one message may.

    Attributes:
        count: how many it carries or announces.
        limit: the most one message may carry.
    """

    code = "receipt_batch_too_large"

    def __init__(self, count: int, limit: int) -> None:
        super().__init__(
            f"a batch of {count} receipts; one RECEIPTS message carries at most {limit}: "
            "publish the receipts in batches of that many"
        )
        self.count = count
        self.limit = limit


class SignatureError(EnlaceError, ValueError):
    """A detached signature does not hold for the message it came with.

    Attributes:
        kid: the key the signature names, when it could be read.
        message_id: the signed message's id, when the check knows it.
    """

    code = "signature_error"

    def __init__(
        self, description: str, *, kid: str | None = None, message_id: str | None = None
    ) -> None:
        super().__init__(description)
        self.kid = kid
        self.message_id = message_id


class MalformedSignature(SignatureError):
    code = "malformed_signature"


class UnknownKey(SignatureError):
    code = "unknown_key"

    def __init__(self, kid: str) -> None:
        super().__init__(f"no key {kid!r} in the directory", kid=kid)


class KeyNotYetValid(SignatureError):
    code = "key_not_yet_valid"


class KeyExpired(SignatureError):
    code = "key_expired"


class KeyRevoked(SignatureError):
    code = "key_revoked"


class BadSignature(SignatureError):
    code = "bad_signature"


class SenderMismatch(SignatureError):
    code = "sender_mismatch"


class GovernanceError(EnlaceError, ValueError):
    """A governance file (trust root, directory, agreement) is refused."""

    code = "governance_error"


class GovernanceFileError(GovernanceError):
    """A governance file is malformed: names the file, the line and the field."""

    code = "governance_invalid"

    def __init__(
        self, path: Path | str, problem: str, line: int | None = None, field: str | None = None
    ) -> None:
        where = str(path) + (f":{line}" if line is not None else "")
        what = f" field {field!r}:" if field else ""
        super().__init__(f"{where}:{what} {problem}")
        self.path = Path(path)
        self.line = line
        self.field = field
        self.problem = problem


class GovernanceUnsigned(GovernanceError):
    code = "governance_unsigned"


class GovernanceBadSignature(GovernanceError):
    code = "governance_bad_signature"


class GovernanceStaleVersion(GovernanceError):
    code = "governance_stale_version"


class TlogError(EnlaceError, ValueError):
    """A signed note, checkpoint, cosignature or consistency proof does not hold."""

    code = "tlog_invalid"


def _all_codes() -> dict[str, type[EnlaceError]]:
    codes: dict[str, type[EnlaceError]] = {}
    pending: list[type[EnlaceError]] = [EnlaceError]
    while pending:
        cls = pending.pop()
        codes[cls.code] = cls
        pending.extend(cls.__subclasses__())
    return codes


REASON_CODES: dict[str, type[EnlaceError]] = _all_codes()
"""Every reason code of this package, mapped to its error class."""
