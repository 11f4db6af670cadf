"""The national-system stores behind each installed sink, for the sink contract suite.

The suite runs once per sink installed in the entry point group ``enlace.sinks``
(:func:`adapters.registry.sink_names`), so a sink another package adds runs it too. What
the suite cannot know from the entry point is the far side: where the sink writes and how
to read back what it wrote. :data:`SETUPS` holds that for each sink it knows; an installed
sink without one fails the suite loudly (add its setup here) instead of being skipped.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from adapters.base import Sink, SinkContext
from adapters.registry import SINK_GROUP, build_sink
from tests.integration import python_handler
from tests.integration.sinkkit import HttpReceiver, http_receiver

__all__ = ["SETUPS", "Backend", "BackendSetup", "backend_setup"]


@dataclass
class Backend:
    """A real national-system store and how to read back what a sink wrote there.

    ``kept`` gives, for each delivery written, the bytes and what the sink kept beside them
    (the ``.meta``, a JSON Lines record, a row, the request's headers): what a recipient
    verifies it with.
    """

    name: str
    options: dict[str, Any]
    written: Callable[[], list[str]]
    context: SinkContext
    kept: Callable[[], list[tuple[bytes, dict[str, Any]]]]
    receiver: HttpReceiver | None = None

    def make(self) -> Sink:
        return build_sink(self.name, self.options, self.context)


BackendSetup = Callable[[pytest.FixtureRequest, SinkContext], AbstractContextManager[Backend]]
"""Makes a sink's far side for one test: (the test's request, the sink's context)."""


@contextmanager
def _folder(_: pytest.FixtureRequest, context: SinkContext) -> Iterator[Backend]:
    folder = context.base_dir / "inbox"

    def folder_ids() -> list[str]:
        return sorted(p.name.removesuffix(".json") for p in folder.glob("*.json"))

    yield Backend("folder", {"path": "inbox"}, folder_ids, context, lambda: _files_kept(folder))


def _files_kept(folder: Path) -> list[tuple[bytes, dict[str, Any]]]:
    """Each ``ID.json`` of ``folder`` and its ``ID.json.meta``, as the folder sink writes them."""
    return [
        (p.read_bytes(), json.loads(p.with_name(p.name + ".meta").read_bytes()))
        for p in sorted(folder.glob("*.json"))
    ]


@contextmanager
def _jsonl(_: pytest.FixtureRequest, context: SinkContext) -> Iterator[Backend]:
    path = context.base_dir / "out" / "deliveries.jsonl"

    def jsonl_records() -> list[dict[str, Any]]:
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_bytes().splitlines()]

    def jsonl_ids() -> list[str]:
        return [record["id"] for record in jsonl_records()]

    def jsonl_kept() -> list[tuple[bytes, dict[str, Any]]]:
        return [(r["raw"].encode(), r) for r in jsonl_records()]

    yield Backend("jsonl", {"path": "out/deliveries.jsonl"}, jsonl_ids, context, jsonl_kept)


@contextmanager
def _webhook(_: pytest.FixtureRequest, context: SinkContext) -> Iterator[Backend]:
    with http_receiver() as receiver:

        def webhook_kept() -> list[tuple[bytes, dict[str, Any]]]:
            return list(zip(receiver.bodies, receiver.headers, strict=True))

        yield Backend(
            "webhook",
            {"url": receiver.url},
            lambda: list(receiver.received),
            context,
            webhook_kept,
            receiver,
        )


@contextmanager
def _postgres(request: pytest.FixtureRequest, context: SinkContext) -> Iterator[Backend]:
    # Asked for here, not by the fixture: PostgreSQL starts only when a test needs it.
    pg_uri: str = request.getfixturevalue("pg_uri")
    table = f"t_{random.randrange(10**9)}"

    def pg_ids() -> list[str]:
        with psycopg.connect(pg_uri) as conn:
            rows = conn.execute(f"SELECT id FROM {table} ORDER BY delivered_at, id")
            return [r[0] for r in rows.fetchall()]

    def pg_kept() -> list[tuple[bytes, dict[str, Any]]]:
        # A row as a recipient's own tools print it (`psql`, an ORM): JSON per row.
        with psycopg.connect(pg_uri) as conn:
            query = f"SELECT row_to_json(t) FROM {table} t ORDER BY delivered_at, id"
            rows = conn.execute(query).fetchall()
        return [(r[0]["raw"].encode(), r[0]) for r in rows]

    yield Backend("postgres", {"dsn": pg_uri, "table": table}, pg_ids, context, pg_kept)


@contextmanager
def _python(_: pytest.FixtureRequest, context: SinkContext) -> Iterator[Backend]:
    received = python_handler.RECEIVED
    received.clear()

    def handed_over() -> list[str]:
        return [d.message_id for d in received]

    def python_kept() -> list[tuple[bytes, dict[str, Any]]]:
        return [(d.body, dict(d.metadata())) for d in received]

    options = {"handler": "tests.integration.python_handler:deliver"}
    yield Backend("python", options, handed_over, context, python_kept)


@contextmanager
def _stix(_: pytest.FixtureRequest, context: SinkContext) -> Iterator[Backend]:
    folder = context.base_dir / "stix"
    signed = folder / "signed"

    def stix_ids() -> list[str]:
        # A bundle counts as written only with the signed delivery it was made from.
        ids = sorted(p.name.removesuffix(".stix.json") for p in folder.glob("*.stix.json"))
        assert all((signed / f"{mid}.json").is_file() for mid in ids)
        return ids

    yield Backend("stix", {"path": "stix"}, stix_ids, context, lambda: _files_kept(signed))


SETUPS: dict[str, BackendSetup] = {
    "folder": _folder,
    "jsonl": _jsonl,
    "webhook": _webhook,
    "postgres": _postgres,
    "python": _python,
    "stix": _stix,
}
"""The far side of each sink the suite knows, by entry point name."""


def backend_setup(name: str) -> BackendSetup:
    """The setup of installed sink ``name``; fails the test when the suite knows none."""
    setup = SETUPS.get(name)
    if setup is None:
        pytest.fail(
            f"sink {name!r} is installed (entry point group {SINK_GROUP}) but the sink "
            "contract suite has no setup for it: add one to SETUPS in "
            "tests/integration/sink_backends.py (where it writes, how to read that back)",
            pytrace=False,
        )
    return setup
