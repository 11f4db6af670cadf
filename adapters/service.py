"""Assembling a country's sink runners from a deployment (one process, one NATS connection
for all of its sinks), reading their state for ``status``, and how ``run`` logs."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nats.errors
import structlog
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from adapters.base import SinkContext
from adapters.config import load_adapters_config, max_message_bytes_from
from adapters.connection import close, connect, login_for
from adapters.deployment import AdapterHome, DirectoryFile
from adapters.keys import party_signer
from adapters.registry import build_sink
from adapters.runner import RunnerSettings, SinkRunner, consumer_name
from schemas.subjects import deadletter_stream

__all__ = [
    "RunningAdapter",
    "adapter_status",
    "connect",
    "open_runner",
    "open_runners",
    "plain_logs",
]


@dataclass
class RunningAdapter:
    """Connected runners and their one NATS connection (close all with :meth:`close`)."""

    nc: NatsClient
    runners: list[SinkRunner]

    @property
    def runner(self) -> SinkRunner:
        """The first (for one sink, the only) runner."""
        return self.runners[0]

    async def close(self) -> None:
        for runner in self.runners:
            await runner.stop()
        await close(self.nc)


async def open_runner(
    home: Path, country: str, sink_name: str | None, nats_url: str, start: bool = True
) -> RunningAdapter:
    """Build the runner of ``country``'s sink ``sink_name`` as ``enlace.yaml`` configures it.

    Args:
        home: the deployment's folder.
        country: the recipient country.
        sink_name: which of its sinks (None: its only one).
        nats_url: the NATS server to consume from.
        start: start the runner (else only open its sink, e.g. to replay dead letters).

    Returns:
        The runner and its NATS connection, to close together.

    Raises:
        AdapterConfigError, UnknownSink, SigningKeyMissing, GovernanceError,
        NatsUnreachable.
    """
    name = load_adapters_config(home).sink(country, sink_name).sink_name
    return await open_runners(home, country, [name], nats_url, start)


async def open_runners(
    home: Path, country: str, sink_names: Sequence[str], nats_url: str, start: bool = True
) -> RunningAdapter:
    """The runners of ``country``'s sinks ``sink_names`` (every one of them if empty) in
    this process, over one NATS connection: the country's one login.

    Args:
        home: the deployment's folder.
        country: the recipient country.
        sink_names: which of its sinks; empty: all of them.
        nats_url: the NATS server to consume from.
        start: start the runners (else only open their sinks, e.g. to replay dead letters).

    Returns:
        The runners and their NATS connection, to close together.

    Raises:
        AdapterConfigError, UnknownSink, SigningKeyMissing, GovernanceError,
        NatsUnreachable.
    """
    paths = AdapterHome(home)
    config = load_adapters_config(home)
    if sink_names:
        chosen = [config.sink(country, name) for name in dict.fromkeys(sink_names)]
    else:
        chosen = config.sinks_of(country) or [config.sink(country)]  # the latter says why
    directory = DirectoryFile(paths)
    signer = party_signer(directory(), paths.keys_dir, country)
    max_bytes = max_message_bytes_from(home)
    sinks = []
    for settings in chosen:
        context = SinkContext(
            country=country,
            state_dir=paths.adapter_state(country, settings.sink_name),
            base_dir=home,
        )
        sinks.append((settings, build_sink(settings.sink, settings.options, context)))
    nc = await connect(nats_url, login_for(home, country))
    runners = [
        SinkRunner(
            nc.jetstream(),
            sink,
            directory,
            signer,
            RunnerSettings(
                country=country,
                sink_name=settings.sink_name,
                retry=settings.retry,
                max_bytes=max_bytes,
            ),
        )
        for settings, sink in sinks
    ]
    running = RunningAdapter(nc, [])
    try:
        for runner in runners:
            if start:
                await runner.start()
            else:
                await runner.sink.open()
            running.runners.append(runner)
    except BaseException:
        await running.close()
        raise
    return running


async def adapter_status(js: JetStreamContext, country: str, sink_name: str) -> dict[str, Any]:
    """Lag, pending acks, redeliveries and dead letters of one country's sink.

    Args:
        js: JetStream, with a login that may read the consumer's info.
        country: the recipient country.
        sink_name: the sink's name in ``enlace.yaml``.

    Returns:
        One row: ``state`` (``ok`` or ``never started``), ``lag``, ``ack_pending``,
        ``redelivered``, ``delivered_seq``, ``dead_letters`` (None: not readable).
    """
    row: dict[str, Any] = {"country": country, "sink": sink_name}
    try:
        info = await js.consumer_info("DELIVERY", consumer_name(country, sink_name))
    except NotFoundError:
        row.update(state="never started", lag=None, ack_pending=None, redelivered=None)
    else:
        row.update(
            state="ok",
            lag=info.num_pending or 0,
            ack_pending=info.num_ack_pending or 0,
            redelivered=info.num_redelivered or 0,
            delivered_seq=info.ack_floor.stream_seq if info.ack_floor else 0,
        )
    try:
        # The country's own stream, whose info its login may read; all its sinks' letters.
        stream = await js.stream_info(deadletter_stream(country))
        row["dead_letters"] = stream.state.messages
    except NotFoundError:
        row["dead_letters"] = 0
    except (TimeoutError, nats.errors.Error):
        row["dead_letters"] = None  # a login without that right (an older deployment's)
    return row


def plain_logs() -> None:
    """Log tracebacks as plain text, without the frames' local values, unless logging is
    configured already (``enlace adapter run``).

    structlog's default console renderer draws them with rich, every frame's locals
    included: under load one batch's traceback (2,600 lines) held the event loop for
    seconds, so the other sinks of the process had their acks time out in turn, and it
    wrote excerpts of the deliveries' content (the batch's messages) into the log.
    """
    if structlog.is_configured():
        return
    colors = sys.stdout.isatty() and "NO_COLOR" not in os.environ  # as the default's
    plain = structlog.dev.ConsoleRenderer(
        colors=colors, exception_formatter=structlog.dev.plain_traceback
    )
    structlog.configure(processors=[*structlog.get_config()["processors"][:-1], plain])
