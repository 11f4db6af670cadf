"""The hub's intake: one pull loop per ingress stream, all sharing one bound on messages in hand.

Each country publishes into its own stream (``INGRESS_<cc>``, its quota), so the hub reads
each through its durable consumer ``hub`` (every hub process shares it, and JetStream
hands each message to one of them) with a :class:`~hub.jetstream.pull.PullLoop` of its
own. The loops share one :class:`~hub.jetstream.pull.Room` of ``workers × fetch_batch``
places, taken in turn: a country that floods its stream gets no more than its turn, and a
quiet country's message is fetched as soon as it comes. Batches go to
:meth:`hub.pipeline.ingress.Pipeline.handle_batch` without waiting, and a slow message
does not hold up the fetch of the next ones: each one finished frees its place.

The one INGRESS stream of earlier versions is read the same way until it is drained, then
deleted (:func:`hub.jetstream.streams.legacy_ingress_drained`).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Sequence

from nats.js import JetStreamContext

from hub.config import HubSettings
from hub.jetstream.pull import PullHooks, PullLoop, Room
from hub.jetstream.streams import HUB_CONSUMER, LEGACY_INGRESS, legacy_ingress_drained
from hub.pipeline.ingress import Pipeline

__all__ = ["Intake"]


class Intake:
    """The pull loops of the ingress streams a hub process reads.

    Args:
        js: the hub's JetStream context.
        pipeline: what handles each fetched batch.
        settings: the hub settings (``workers``, ``fetch_batch``).
        hooks: told about every loop's fetches and failures (logging, metrics).
    """

    def __init__(
        self,
        js: JetStreamContext,
        pipeline: Pipeline,
        settings: HubSettings,
        hooks: Sequence[PullHooks] = (),
    ) -> None:
        self._js = js
        self._pipeline = pipeline
        self._batch = settings.fetch_batch
        self._room = Room(settings.workers * settings.fetch_batch)
        self._hooks = tuple(hooks)
        self._loops: dict[str, PullLoop] = {}

    def __contains__(self, stream: object) -> bool:
        """Whether a loop of this process reads ``stream``."""
        return stream in self._loops

    async def add(self, stream: str) -> None:
        """Start reading ``stream``, whose consumer ``hub`` exists (again: nothing)."""
        if stream in self._loops:
            return
        sub = await self._js.pull_subscribe_bind(durable=HUB_CONSUMER, stream=stream)
        on_idle: Callable[[], Awaitable[bool]] | None = None
        if stream == LEGACY_INGRESS:
            on_idle = functools.partial(legacy_ingress_drained, self._js)
        loop = PullLoop(
            sub,
            self._pipeline.handle_batch,
            name=stream,
            batch=self._batch,
            room=self._room,
            hooks=self._hooks,
            on_idle=on_idle,
        )
        self._loops[stream] = loop
        loop.start()

    async def stop(self) -> None:
        """Stop fetching on every stream; return once the batches in hand are finished."""
        await asyncio.gather(*(loop.stop() for loop in self._loops.values()))
