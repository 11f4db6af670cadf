"""canonical_json writes exactly the bytes the json module writes.

Every stored signature over governance data and every audit leaf was made of the bytes
``json`` wrote (sorted keys, compact, UTF-8, no NaN). canonical_json has orjson write
them where it writes the same: this checks that they are the same bytes on arbitrary
data, floats (small, large, negative zero) and nulls included, and what orjson takes
otherwise (integers beyond 64 bits, keys that are not strings, subclasses, NaN, values
that are not JSON) is written or refused as json does.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.audit.entries import AuditEntry
from schemas.canonical import canonical_json, orjson_canonical

_REFERENCE = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
)


def reference(data: Any) -> bytes:
    return _REFERENCE.encode(data).encode("utf-8")


_scalars = (
    st.booleans()
    | st.none()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.floats(min_value=-1e-3, max_value=1e-3)  # around where orjson writes otherwise
    | st.text()
)
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
    assert canonical_json(data) == reference(data)


@pytest.mark.parametrize(
    "number",
    [1e-5, 1.5e-05, -9.999e-05, 1e-7, 5e-324, 0.0001, -0.0, 1e15, 1e16, 1.7976931348623157e308],
)
def test_floats_where_orjson_writes_otherwise_are_json_modules(number: float) -> None:
    assert canonical_json({"n": [number]}) == reference({"n": [number]})


def test_orjson_writes_what_it_writes_alike_and_nothing_else() -> None:
    """The fast path is taken (not only the json module's, which would pass the tests
    above on its own) and left where orjson's bytes differ."""
    plain = {"b": [1, 2.5, "x", True], "a": {"z": -0.0, "y": 12345.678}}
    assert orjson_canonical(plain) == reference(plain)
    for differs in [1e-5, 1e-7, float("nan"), None, 2**64]:
        assert orjson_canonical({"v": differs}) is None, differs
    assert orjson_canonical({"v": 2e19}) == reference({"v": 2e19})
    assert orjson_canonical({"v": 2e19}, read_by_orjson=True) is None  # maybe 2**64 + …


def test_nan_and_infinity_are_refused() -> None:
    for value in [math.nan, math.inf, -math.inf]:
        with pytest.raises(ValueError):
            canonical_json({"v": [value]})


def test_an_audit_entry_holds_no_float_and_no_null() -> None:
    """What keeps audit entries on orjson's path: no field may hold a float, and
    ``to_json`` leaves absent (None) fields out."""
    for name, field in AuditEntry.model_fields.items():
        assert "float" not in str(field.annotation), name
    entry = AuditEntry.model_validate({"kind": "received", "message_id": "m1", "size": 1})
    assert None not in entry.to_json().values()
    assert orjson_canonical(entry.to_json()) == entry.canonical()


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
        assert canonical_json(data) == reference(data)


@dataclasses.dataclass
class _Point:
    x: int


@pytest.mark.parametrize("value", [_Point(1), datetime.datetime(2026, 1, 1), {1, 2}, b"raw"])
def test_what_json_refuses_is_refused(value: Any) -> None:
    with pytest.raises(TypeError):
        reference({"v": value})
    with pytest.raises(TypeError):
        canonical_json({"v": value})


def test_a_lone_surrogate_is_refused_as_before() -> None:
    with pytest.raises(UnicodeEncodeError):
        reference({"v": "\ud800"})
    with pytest.raises(UnicodeEncodeError):
        canonical_json({"v": "\ud800"})
