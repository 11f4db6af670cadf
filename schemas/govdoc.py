"""Governance documents: versioned YAML with line numbers, validation and signatures.

The trust root, the directory and the sharing agreements are YAML files. Loading one
keeps the line of every value so that an error names file, line and field. A document's
``signatures`` list holds detached JWS (see :mod:`schemas.jws`) over the canonical JSON
(:mod:`schemas.canonical`) of the document without its ``signatures`` — so a signature
survives re-formatting of the YAML but not a change of any value.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TypeVar

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError

from schemas.canonical import canonical_json
from schemas.errors import (
    BadSignature,
    GovernanceBadSignature,
    GovernanceFileError,
    GovernanceUnsigned,
    MalformedSignature,
)
from schemas.jws import parse_detached, sign_detached, verify_detached

__all__ = [
    "DocumentSignature",
    "GovDoc",
    "dump_yaml",
    "load_document",
    "parse_document",
    "rfc3339",
]

M = TypeVar("M", bound=BaseModel)
Path_ = tuple[str | int, ...]


def rfc3339(value: datetime) -> str:
    """RFC 3339 UTC with a ``Z`` suffix and whole seconds, the form governance files use."""
    return value.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class DocumentSignature:
    """One signature on a document: who signed, with which key, and the detached JWS."""

    signer: str
    kid: str
    jws: str


def _plain(node: Any, path: Path_, lines: dict[Path_, int]) -> Any:
    """ruamel's round-trip tree to plain Python, recording the line of every value."""
    if isinstance(node, CommentedMap):
        out: dict[str, Any] = {}
        for key in node:
            if not isinstance(key, str):
                raise ValueError(f"key {key!r} is not a string", path)
            try:
                line, _col = node.lc.key(key)
                lines[(*path, key)] = line + 1
            except (KeyError, TypeError):
                pass
            out[key] = _plain(node[key], (*path, key), lines)
        return out
    if isinstance(node, CommentedSeq):
        items = []
        for i, item in enumerate(node):
            try:
                line, _col = node.lc.item(i)
                lines[(*path, i)] = line + 1
            except (KeyError, TypeError):
                pass
            items.append(_plain(item, (*path, i), lines))
        return items
    if isinstance(node, datetime):
        value = node if node.tzinfo else node.replace(tzinfo=UTC)
        return rfc3339(value)
    if isinstance(node, date):
        return node.isoformat()
    if isinstance(node, bool | int | float | str) or node is None:
        # ruamel subclasses (ScalarFloat, LiteralScalarString…) become plain values
        if isinstance(node, bool) or node is None:
            return node
        for base in (int, float, str):
            if isinstance(node, base):
                return base(node)
    raise ValueError(f"unsupported YAML value {node!r}", path)


@dataclass
class GovDoc:
    """A loaded governance document: plain data, where each value stood, and its signatures."""

    path: Path
    data: dict[str, Any]
    lines: dict[Path_, int] = field(default_factory=dict)

    def line_of(self, loc: Path_) -> int | None:
        """Line of ``loc``, or of its nearest enclosing value that has one."""
        while loc:
            if loc in self.lines:
                return self.lines[loc]
            loc = loc[:-1]
        return 1

    def error(self, problem: str, loc: Path_ = ()) -> GovernanceFileError:
        """An error naming this file, the line of ``loc`` and the dotted field."""
        dotted = ".".join(str(p) for p in loc) or None
        return GovernanceFileError(self.path, problem, line=self.line_of(loc), field=dotted)

    def validate(self, model: type[M]) -> M:
        """Validate the document (without its signatures) against ``model``."""
        try:
            return model.model_validate(self.body())
        except ValidationError as exc:
            first = exc.errors()[0]
            raise self.error(str(first["msg"]), tuple(first["loc"])) from None

    def body(self) -> dict[str, Any]:
        """The document without its ``signatures``: what is signed."""
        return {k: v for k, v in self.data.items() if k != "signatures"}

    def signing_bytes(self) -> bytes:
        return canonical_json(self.body())

    def signatures(self) -> list[DocumentSignature]:
        """The signatures the document carries, checked for form only."""
        raw = self.data.get("signatures", [])
        if not isinstance(raw, list):
            raise self.error("must be a list of {signer, kid, jws}", ("signatures",))
        out = []
        for i, item in enumerate(raw):
            loc: Path_ = ("signatures", i)
            if not isinstance(item, dict) or set(item) != {"signer", "kid", "jws"}:
                raise self.error("a signature is {signer, kid, jws}", loc)
            if not all(isinstance(item[k], str) for k in ("signer", "kid", "jws")):
                raise self.error("signer, kid and jws are strings", loc)
            try:
                header, _sig = parse_detached(item["jws"])
            except MalformedSignature as exc:
                raise self.error(exc.description, (*loc, "jws")) from None
            if header.kid != item["kid"]:
                raise self.error(f"jws is by key {header.kid!r}, not {item['kid']!r}", loc)
            out.append(DocumentSignature(item["signer"], item["kid"], item["jws"]))
        return out

    def verify_signatures(
        self, key_for: Callable[[str, str], Ed25519PublicKey | None]
    ) -> dict[str, DocumentSignature]:
        """Check every signature; returns the valid ones by signer.

        Args:
            key_for: ``(signer, kid) -> public key`` or None when the trust root has no such key.

        Raises:
            GovernanceUnsigned: the document carries no signature at all.
            GovernanceBadSignature: a signature is by an unknown key or does not match.
        """
        signatures = self.signatures()
        if not signatures:
            raise GovernanceUnsigned(f"{self.path}: the document is not signed")
        payload = self.signing_bytes()
        valid: dict[str, DocumentSignature] = {}
        for i, sig in enumerate(signatures):
            key = key_for(sig.signer, sig.kid)
            line = self.line_of(("signatures", i))
            if key is None:
                raise GovernanceBadSignature(
                    f"{self.path}:{line}: signature by {sig.signer!r} uses key {sig.kid!r}, "
                    "which the trust root does not hold for that signer"
                )
            try:
                verify_detached(payload, sig.jws, key)
            except (BadSignature, MalformedSignature):
                raise GovernanceBadSignature(
                    f"{self.path}:{line}: signature by {sig.signer!r} ({sig.kid}) does not "
                    "match the document; it was changed after signing — sign it again"
                ) from None
            valid[sig.signer] = sig
        return valid

    def with_signature(self, signer: str, kid: str, key: Ed25519PrivateKey) -> dict[str, Any]:
        """The document data with a (new or replaced) signature by ``signer``.

        Args:
            signer: the party signing (its former signature, if any, is replaced).
            kid: the id of the commission key signing.
            key: that key.

        Returns:
            The document's data, its signatures sorted by signer.
        """
        jws = sign_detached(self.signing_bytes(), key, kid)
        kept = [s for s in self.signatures() if s.signer != signer]
        sigs = [{"signer": s.signer, "kid": s.kid, "jws": s.jws} for s in kept]
        sigs.append({"signer": signer, "kid": kid, "jws": jws})
        sigs.sort(key=lambda s: s["signer"])
        return {**self.body(), "signatures": sigs}


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    return yaml


def parse_document(text: str, path: Path | str) -> GovDoc:
    """Parse YAML text of a governance document; errors name the file and line."""
    path = Path(path)
    try:
        tree = _yaml().load(text)
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise GovernanceFileError(path, f"not valid YAML: {problem}", line=line) from None
    except (TypeError, ValueError, RecursionError) as exc:
        # ruamel raises these for YAML it parses but cannot build, e.g. a list used as a
        # mapping key (`? [a]: b`) or nesting too deep; a governance file never needs them.
        problem = f"unsupported YAML construct ({type(exc).__name__}: {exc})"
        raise GovernanceFileError(path, problem) from None
    if not isinstance(tree, CommentedMap):
        raise GovernanceFileError(path, "a governance document is a YAML mapping", line=1)
    lines: dict[Path_, int] = {}
    try:
        data = _plain(tree, (), lines)
    except ValueError as exc:
        problem, loc = exc.args
        doc = GovDoc(path, {}, lines)
        raise doc.error(problem, loc) from None
    return GovDoc(path, data, lines)


def load_document(path: Path | str) -> GovDoc:
    """Read and parse a governance document from disk."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise GovernanceFileError(path, "file not found") from None
    except UnicodeDecodeError as exc:
        raise GovernanceFileError(path, f"not UTF-8: {exc.reason}") from None
    return parse_document(text, path)


def dump_yaml(data: dict[str, Any], path: Path | str) -> None:
    """Write plain data as block-style YAML (atomically: temp file then rename)."""
    path = Path(path)
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    # ruamel.yaml sets this attribute to None in YAML.__init__ without an annotation, so
    # mypy takes its type to be None; False (keep the keys in the order given) is valid.
    yaml.sort_base_mapping_type_on_output = False  # type: ignore[assignment]
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        yaml.dump(data, fh)
    tmp.replace(path)
