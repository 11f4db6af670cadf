"""canonical_json_plain writes exactly the bytes of canonical_json (the json module's).

Every stored signature over governance data and every audit leaf was made of the bytes
``json`` wrote (sorted keys, compact, UTF-8, no NaN). The audit writer now has orjson
write its entries: this checks that they are the same bytes on arbitrary data without
floats and nulls, including what orjson takes otherwise (integers beyond 64 bits, keys
that are not strings, subclasses, values that are not JSON), and that an audit entry
cannot hold a float.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.audit.entries import AuditEntry
from schemas.canonical import canonical_json, canonical_json_plain

_REFERENCE = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
)


def reference(data: Any) -> bytes:
    return _REFERENCE.encode(data).encode("utf-8")


_scalars = st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | st.text()
_json = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=5)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text(max_size=8), inner, max_size=5)
    ),
    max_leaves=30,
)


@settings(max_examples=600, deadline=None)
@given(_json)
def test_the_bytes_are_json_modules_canonical_bytes(data: Any) -> None:
    assert canonical_json_plain(data) == canonical_json(data) == reference(data)


def test_an_audit_entry_holds_no_float_and_no_null() -> None:
    """What lets the writer use canonical_json_plain: no field may hold a float, and
    ``to_json`` leaves absent (None) fields out."""
    for name, field in AuditEntry.model_fields.items():
        assert "float" not in str(field.annotation), name
    entry = AuditEntry.model_validate({"kind": "received", "message_id": "m1", "size": 1})
    assert None not in entry.to_json().values()


class _Word(enum.StrEnum):
    A = "alpha"


class _Number(enum.IntEnum):
    ONE = 1


def test_subclasses_of_json_types_are_written_as_json_writes_them() -> None:
    for data in [
        {"word": _Word.A, "number": _Number.ONE, "t": (1, "x")},
        {3: "int key", 1: _Word.A},
        {"big": [2**64, -(2**63) - 1, 2**64 - 1]},
    ]:
        assert canonical_json_plain(data) == reference(data)


@dataclasses.dataclass
class _Point:
    x: int


@pytest.mark.parametrize("value", [_Point(1), datetime.datetime(2026, 1, 1), {1, 2}, b"raw"])
def test_what_json_refuses_is_refused(value: Any) -> None:
    with pytest.raises(TypeError):
        reference({"v": value})
    with pytest.raises(TypeError):
        canonical_json_plain({"v": value})


def test_a_lone_surrogate_is_refused_as_before() -> None:
    with pytest.raises(UnicodeEncodeError):
        reference({"v": "\ud800"})
    with pytest.raises(UnicodeEncodeError):
        canonical_json_plain({"v": "\ud800"})
