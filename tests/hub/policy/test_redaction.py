"""Views: full is the sender's bytes; a redaction drops and coarsens, and nothing else."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

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
