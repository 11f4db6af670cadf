"""Python sink: an integrator's own async function receives each verified delivery.

For a national system no installed sink speaks to, write one function and name it in
``enlace.yaml``; no package or entry point is needed::

    adapters:
      GT: {sink: python, handler: "gt_intake:deliver"}

    # gt_intake.py, importable by the adapter process (on PYTHONPATH, or installed)
    from adapters.delivery import Delivery
    from adapters.errors import PermanentSinkError, TransientSinkError

    async def deliver(delivery: Delivery) -> None:
        ...  # write delivery.body (exact bytes) and delivery.metadata() durably

The runner does the rest, as for every sink: only verified deliveries reach the function,
in stream order; ``TransientSinkError`` (or any other exception) is retried with backoff,
``PermanentSinkError`` goes to the dead letters; a signed receipt is stored before the
ack. Idempotency: a SQLite ledger (``state/adapters/<cc>/<name>/python-<cc>.sqlite``)
records each id once the function returned, so a redelivery is not handed over again; a
crash between the return and the ledger write hands it over once more, so make the write
idempotent on ``delivery.message_id`` where the medium allows.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from adapters.base import DeliveryResult, SinkContext
from adapters.delivery import Delivery
from adapters.errors import AdapterConfigError, PermanentSinkError, TransientSinkError
from adapters.sinks._options import parse_options, resolve_path
from adapters.sinks.webhook import WebhookLedger

__all__ = ["Handler", "PythonSink"]

Handler = Callable[[Delivery], Awaitable[None]]
"""An integrator's function: writes one verified delivery durably, or raises."""


class PythonOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    handler: str = Field(
        pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$",
        description="module:function, an async function taking the verified Delivery "
        "(raise TransientSinkError to retry, PermanentSinkError to dead-letter)",
    )
    ledger: Path | None = Field(None, description="idempotency ledger (SQLite)")


def load_handler(spec: str, where: str) -> Handler:
    """The async function ``module:function`` names.

    Raises:
        AdapterConfigError: it cannot be imported, or is not an async function.
    """
    module_name, _, attr = spec.partition(":")
    try:
        function = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as err:
        raise AdapterConfigError(f"{where}: handler {spec!r} cannot be imported: {err}") from None
    if not inspect.iscoroutinefunction(function):
        raise AdapterConfigError(f"{where}: handler {spec!r} is not an async function")
    handler: Handler = function
    return handler


class PythonSink:
    """Hands each delivery to an integrator's async function, once."""

    name: ClassVar[str] = "python"
    options_model: ClassVar[type[BaseModel]] = PythonOptions

    def __init__(self, handler: Handler, label: str, ledger_path: Path) -> None:
        self.handler = handler
        self.label = label
        self.ledger_path = ledger_path
        self._ledger: WebhookLedger | None = None

    @classmethod
    def from_options(cls, options: Mapping[str, Any], context: SinkContext) -> PythonSink:
        opts = parse_options(PythonOptions, options, cls.name, context.country)
        handler = load_handler(opts.handler, f"adapters.{context.country} (python)")
        ledger = opts.ledger or context.state_dir / f"python-{context.country}.sqlite"
        return cls(handler, opts.handler, resolve_path(ledger, context.base_dir))

    async def open(self) -> None:
        self._ledger = await asyncio.to_thread(WebhookLedger, self.ledger_path)

    @property
    def ledger(self) -> WebhookLedger:
        if self._ledger is None:
            raise RuntimeError("PythonSink.open() was not called")
        return self._ledger

    async def already_delivered(self, message_id: str) -> bool:
        return await asyncio.to_thread(self.ledger.has, message_id)

    async def deliver(self, delivery: Delivery) -> DeliveryResult:
        if await self.already_delivered(delivery.message_id):
            return DeliveryResult(self.label, duplicate=True)
        try:
            await self.handler(delivery)
        except (TransientSinkError, PermanentSinkError):
            raise
        except Exception as err:  # the integrator's code: retried, then dead-lettered
            raise TransientSinkError(
                f"handler {self.label} raised {type(err).__name__}: {err}"
            ) from None
        await asyncio.to_thread(self.ledger.add, delivery.message_id)
        return DeliveryResult(self.label)

    async def close(self) -> None:
        if self._ledger is not None:
            self._ledger.close()
            self._ledger = None
