"""The README's own-sink example, run as written: the python sink hands it each delivery once."""

from __future__ import annotations

import json
import re
import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from adapters.base import SinkContext
from adapters.delivery import Delivery
from adapters.errors import AdapterConfigError, PermanentSinkError, TransientSinkError
from adapters.registry import build_sink

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_example() -> str:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Your own sink in Python") :]
    found = re.search(r"```python\n(.*?)```", section, re.S)
    assert found is not None
    return found.group(1)


@pytest.fixture
def gt_intake(tmp_path: Path) -> Iterator[ModuleType]:
    (tmp_path / "gt_intake.py").write_text(readme_example())
    sys.path.insert(0, str(tmp_path))
    try:
        import gt_intake  # type: ignore[import-not-found]  # written by this fixture

        gt_intake.DB = str(tmp_path / "intake.sqlite")
        yield gt_intake
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("gt_intake", None)


def delivery(message_id: str, type_: str = "gang_movement") -> Delivery:
    body = json.dumps({"id": message_id, "type": type_}).encode()
    return Delivery(
        message_id=message_id,
        recipient="GT",
        subject=f"enlace.out.GT.gangs.{type_}",
        view="full",
        body=body,
        signature="eyJhbGciOiJFZERTQSJ9..c2ln",
        countersignature=None,
        original_digest="sha256:00",
        agreement="test",
        message=json.loads(body),
    )


async def test_the_readme_example_takes_each_delivery_once(
    gt_intake: ModuleType, tmp_path: Path
) -> None:
    context = SinkContext(country="GT", state_dir=tmp_path / "state", base_dir=tmp_path)
    sink = build_sink("python", {"handler": "gt_intake:deliver"}, context)
    await sink.open()
    try:
        first = await sink.deliver(delivery("01JD00000000000000000000AA"))
        again = await sink.deliver(delivery("01JD00000000000000000000AA"))
        assert (first.duplicate, again.duplicate) == (False, True)
        assert await sink.already_delivered("01JD00000000000000000000AA")
        with pytest.raises(PermanentSinkError, match="we take no arrest"):
            await sink.deliver(delivery("01JD00000000000000000000BB", "arrest"))
        assert not await sink.already_delivered("01JD00000000000000000000BB")
    finally:
        await sink.close()
    with sqlite3.connect(gt_intake.DB) as db:
        rows = db.execute("SELECT id, meta FROM intake").fetchall()
    assert [r[0] for r in rows] == ["01JD00000000000000000000AA"]
    assert json.loads(rows[0][1])["signature"] == "eyJhbGciOiJFZERTQSJ9..c2ln"


async def test_a_handler_that_raises_anything_else_is_retried(tmp_path: Path) -> None:
    module = ModuleType("flaky_intake")

    async def deliver(_: Delivery) -> None:
        raise OSError("the intake share is not mounted")

    module.deliver = deliver  # type: ignore[attr-defined]
    sys.modules["flaky_intake"] = module
    try:
        context = SinkContext(country="GT", state_dir=tmp_path, base_dir=tmp_path)
        sink = build_sink("python", {"handler": "flaky_intake:deliver"}, context)
        await sink.open()
        with pytest.raises(TransientSinkError, match="OSError: the intake share"):
            await sink.deliver(delivery("01JD00000000000000000000CC"))
        assert not await sink.already_delivered("01JD00000000000000000000CC")
        await sink.close()
    finally:
        sys.modules.pop("flaky_intake", None)


@pytest.mark.parametrize(
    ("handler", "why"),
    [("nowhere_at_all:deliver", "cannot be imported"), ("json:dumps", "not an async function")],
)
def test_a_handler_that_is_not_an_async_function_is_refused(
    tmp_path: Path, handler: str, why: str
) -> None:
    context = SinkContext(country="GT", state_dir=tmp_path, base_dir=tmp_path)
    with pytest.raises(AdapterConfigError, match=why):
        build_sink("python", {"handler": handler}, context)
