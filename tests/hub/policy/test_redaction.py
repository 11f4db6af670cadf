"""Views: full is the sender's bytes; a redaction drops and coarsens, and nothing else."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from hub.policy import redaction
from hub.policy.errors import RedactionError
from hub.policy.model import FULL_VIEW, RoundRule, ViewSpec
from hub.policy.redaction import apply_view, render_view, select
from schemas.canonical import canonical_json

MESSAGE: dict[str, Any] = {
    "id": "01JDZ5V7Q8Y2N6W3X4R5T6Y7U8",
    "type": "seizure",
    "payload": {
        "case_reference": "GT-2026-1",
        "location": {"lat": 14.634567, "lon": -90.513271, "description": "km 12"},
        "persons": [{"name": "A", "role": "suspect"}, {"name": "B", "role": "driver"}],
        "drugs": [{"substance": "cocaine", "mass_kg": 412.35, "packages": 400}],
        "flags": {"armed": True},
    },
}
STATS = ViewSpec(
    name="stats",
    drop=("payload.persons",),
    round=(RoundRule(field="payload.location", decimals=1),),
)


def test_full_view_is_the_raw_bytes_unchanged() -> None:
    raw = b'{ "id" : "x",  "payload": {"a": 1.123456} }'
    assert render_view(raw, FULL_VIEW) is not None
    assert render_view(raw, FULL_VIEW) == raw


def test_redacted_view_drops_and_rounds_and_is_canonical() -> None:
    out = render_view(json.dumps(MESSAGE, indent=2).encode(), STATS)
    data = json.loads(out)
    assert "persons" not in data["payload"]
    assert data["payload"]["location"] == {"lat": 14.6, "lon": -90.5, "description": "km 12"}
    assert data["payload"]["drugs"] == MESSAGE["payload"]["drugs"]  # untouched
    assert out == canonical_json(data)
    assert render_view(MESSAGE, STATS) == out


def test_the_input_is_not_changed() -> None:
    before = json.dumps(MESSAGE, sort_keys=True)
    apply_view(MESSAGE, STATS)
    assert json.dumps(MESSAGE, sort_keys=True) == before


def test_a_key_applies_to_each_item_of_a_list() -> None:
    view = ViewSpec(name="no-names", drop=("payload.persons.name",))
    data = apply_view(MESSAGE, view)
    assert data["payload"]["persons"] == [{"role": "suspect"}, {"role": "driver"}]


def test_rounding_leaves_integers_and_booleans() -> None:
    view = ViewSpec(name="coarse", round=(RoundRule(field="payload.*", decimals=0),))
    data = apply_view(MESSAGE, view)
    assert data["payload"]["drugs"][0] == {
        "substance": "cocaine",
        "mass_kg": 412.0,
        "packages": 400,
    }
    assert data["payload"]["flags"] == {"armed": True}


def test_deep_wildcard_drops_at_any_depth() -> None:
    view = ViewSpec(name="no-desc", drop=("payload.**.description", "payload.**.role"))
    data = apply_view(MESSAGE, view)
    assert list(select(data, "payload.**.description")) == []
    assert list(select(data, "payload.**.role")) == []
    assert data["payload"]["persons"] == [{"name": "A"}, {"name": "B"}]


def test_star_drops_every_child() -> None:
    data = apply_view(MESSAGE, ViewSpec(name="empty", drop=("payload.location.*",)))
    assert data["payload"]["location"] == {}


@pytest.mark.parametrize("path", ["sender.poc", "payload", "payload.**", "payload..x", "id"])
def test_only_payload_fields_can_be_redacted(path: str) -> None:
    with pytest.raises(ValidationError, match="payload field path"):
        ViewSpec(name="bad", drop=(path,))


def test_a_view_of_bytes_that_are_not_a_json_object_is_refused() -> None:
    with pytest.raises(RedactionError):
        render_view(b"[1, 2]", STATS)
    with pytest.raises(RedactionError):
        render_view(b"\xff", STATS)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.sampled_from(["a", "b", "persons", "lat"]), inner, max_size=4),
    max_leaves=30,
)  # fmt: skip
SEGMENT = st.sampled_from(["a", "b", "persons", "lat", "*", "**"])


@st.composite
def paths(draw: st.DrawFn) -> str:
    segments = draw(st.lists(SEGMENT, min_size=1, max_size=4))
    if segments[-1] == "**":
        segments[-1] = "lat"
    return ".".join(["payload", *segments])


@settings(max_examples=300, deadline=None)
@given(JSON, st.lists(paths(), min_size=1, max_size=3), st.integers(0, 3))
def test_any_payload_any_path_drops_are_gone_and_numbers_coarsened(
    payload: Any, drops: list[str], decimals: int
) -> None:
    message = {"id": "x", "payload": payload}
    view = ViewSpec(
        name="v", drop=tuple(drops), round=(RoundRule(field="payload.**.lat", decimals=decimals),)
    )
    data = json.loads(render_view(message, view))
    assert data["id"] == "x"
    for path in drops:
        assert list(select(data, path)) == []
    for value in select(data, "payload.**.lat"):
        for number in floats(value):
            assert number == round(number, decimals)


def floats(value: Any) -> list[float]:
    if isinstance(value, float):
        return [value]
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list):
        return [f for item in value for f in floats(item)]
    return []


_REFERENCE = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
)


def rendered_by_json_module(raw: bytes, view: ViewSpec) -> bytes:
    """What render_view wrote before orjson read and wrote views (its reference)."""
    return _REFERENCE.encode(apply_view(json.loads(raw), view)).encode()


NUMBERS = st.integers(min_value=-(2**70), max_value=2**70) | st.floats(
    allow_nan=False, allow_infinity=False
)
WRITTEN = st.sampled_from([{}, {"indent": 1}, {"ensure_ascii": False}, {"separators": (",", ":")}])


@settings(max_examples=400, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | NUMBERS | st.text(max_size=6),
        lambda inner: (
            st.lists(inner, max_size=4)
            | st.dictionaries(st.sampled_from(["a", "persons", "lat", "ñ"]), inner, max_size=4)
        ),
        max_leaves=30,
    ),
    WRITTEN,
    st.integers(0, 3),
)
def test_a_redacted_view_is_the_bytes_the_json_module_wrote(
    payload: Any, written: dict[str, Any], decimals: int
) -> None:
    """However the sender wrote its numbers and strings (big integers, tiny floats,
    escapes, white space), the view is what json read, redacted and wrote."""
    raw = json.dumps({"id": "x", "payload": payload}, **written).encode()
    view = ViewSpec(
        name="v",
        drop=("payload.persons",),
        round=(RoundRule(field="payload.**.lat", decimals=decimals),),
    )
    assert render_view(raw, view) == rendered_by_json_module(raw, view)


@pytest.mark.parametrize(
    "raw",
    [
        b'{"payload": {"n": 18446744073709551616, "m": -9223372036854775809}}',
        b'{"payload": {"n": 1e-5, "m": 0.000015, "k": 1E-7, "big": 1e300}}',
        b'{"payload": {"n": NaN}}',
        b'{"payload": {"s": "\\ud83d\\ude00 \\u00e9 \\" \\\\ \\n", "t": null}}',
        b'{"payload": {"a": 1, "a": 2}}',
        b'\xef\xbb\xbf{"payload": {}}',
    ],
)
def test_what_orjson_reads_or_writes_otherwise_is_rendered_as_before(raw: bytes) -> None:
    """The same bytes, or the same refusal (NaN: json reads it and refuses to write it)."""
    view = ViewSpec(name="v", drop=("payload.persons",))
    assert _result(render_view, raw, view) == _result(rendered_by_json_module, raw, view)


def _result(render: Callable[[bytes, ViewSpec], bytes], raw: bytes, view: ViewSpec) -> object:
    try:
        return render(raw, view)
    except ValueError as exc:
        return type(exc)


def test_a_usual_message_is_read_and_written_by_orjson() -> None:
    """The fast path is taken (the tests above would pass with json's path alone), nulls
    included (orjson reads no NaN that it could write as null)."""
    raw = json.dumps({**MESSAGE, "in_reply_to": None}).encode()
    assert redaction._render_by_orjson(raw, STATS) == rendered_by_json_module(raw, STATS)
