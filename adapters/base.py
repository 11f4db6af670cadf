"""The small Protocols every adapter implements, and what they exchange.

A **sink** writes deliveries into a national system. It must make each write durable
before :meth:`Sink.deliver` returns, and be idempotent on the message id: delivering the
same message twice writes it once (the second call reports ``duplicate=True``). It
signals failures with :class:`~adapters.errors.TransientSinkError` (retried) or
:class:`~adapters.errors.PermanentSinkError` (dead-lettered). The runner does the rest:
verification, retries, dead letters, receipts, acks.

A sink whose medium can make many writes durable at once (one directory fsync, one
file fsync, one database transaction) also implements :class:`BatchSink`: the runner then
hands it every fresh delivery of a fetched batch together, and falls back to one delivery
at a time (with retries and dead letters) for a batch that fails.

A sink is made by a :class:`SinkFactory` found through the entry point group
``enlace.sinks`` (see :mod:`adapters.registry`), from the options of its section in
``enlace.yaml``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

from adapters.delivery import Delivery

__all__ = ["BatchSink", "DeliveryResult", "Sink", "SinkContext", "SinkFactory", "Source"]


@dataclass(frozen=True)
class DeliveryResult:
    """What a sink did with one delivery.

    Attributes:
        location: where it went (a path, a table row, a URL), for logs and status.
        duplicate: it had been written before; nothing was written this time.
    """

    location: str
    duplicate: bool = False


@dataclass(frozen=True)
class SinkContext:
    """What a sink may need beyond its own options.

    Attributes:
        country: the recipient country the runner serves.
        state_dir: a folder the sink may keep its own state in (e.g. a ledger).
        base_dir: relative paths in the options are relative to this (the deployment).
    """

    country: str
    state_dir: Path
    base_dir: Path


@runtime_checkable
class Sink(Protocol):
    """Writes deliveries into one national system."""

    @property
    def name(self) -> str:
        """The sink's kind (``folder``, ``webhook`` …), as in its entry point."""

    async def open(self) -> None:
        """Connect / create what is needed (tables, folders). Called once before use."""

    async def already_delivered(self, message_id: str) -> bool:
        """Whether ``message_id`` is already durably written (a fast path for redeliveries)."""

    async def deliver(self, delivery: Delivery) -> DeliveryResult:
        """Write ``delivery`` durably, once; raise Transient/PermanentSinkError on failure."""

    async def close(self) -> None:
        """Release connections and files."""


@runtime_checkable
class BatchSink(Sink, Protocol):
    """A sink that writes a batch of deliveries durably at once."""

    async def deliver_batch(self, deliveries: Sequence[Delivery]) -> list[DeliveryResult]:
        """Write every delivery durably, once each, and say what became of each (in order).

        When it returns, every one of them is durable. When it raises (Transient or
        PermanentSinkError), some may have been written: the runner then delivers each
        again on its own, which idempotency turns into a no-op for those written.
        """


class SinkFactory(Protocol):
    """What an ``enlace.sinks`` entry point names: a class that builds sinks from options.

    A factory may also name the pydantic model of its options as ``options_model``: then
    ``enlace adapter sinks`` lists them (each field's description says what it is for).
    """

    name: ClassVar[str]

    @classmethod
    def from_options(cls, options: Mapping[str, Any], context: SinkContext) -> Sink:
        """Build a sink; raises AdapterConfigError naming the wrong option."""
        ...


class Source(Protocol):
    """Feeds a national system's messages to the hub (the watched folder is one; the HTTP
    gateway is an ASGI app served by uvicorn)."""

    async def run(self, stop: asyncio.Event) -> None:
        """Run until ``stop`` is set."""
