"""Assembling a sink runner from a deployment, and reading its state for ``status``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nats.errors
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

__all__ = ["RunningAdapter", "adapter_status", "connect", "open_runner"]


@dataclass
class RunningAdapter:
    """A connected runner and its NATS connection (close both with :meth:`close`)."""

    nc: NatsClient
    runner: SinkRunner

    async def close(self) -> None:
        await self.runner.stop()
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
    paths = AdapterHome(home)
    settings = load_adapters_config(home).sink(country, sink_name)
    directory = DirectoryFile(paths)
    signer = party_signer(directory(), paths.keys_dir, country)
    context = SinkContext(
        country=country,
        state_dir=paths.adapter_state(country, settings.sink_name),
        base_dir=home,
    )
    sink = build_sink(settings.sink, settings.options, context)
    nc = await connect(nats_url, login_for(home, country))
    runner = SinkRunner(
        nc.jetstream(),
        sink,
        directory,
        signer,
        RunnerSettings(
            country=country,
            sink_name=settings.sink_name,
            retry=settings.retry,
            max_bytes=max_message_bytes_from(home),
        ),
    )
    if start:
        await runner.start()
    else:
        await sink.open()
    return RunningAdapter(nc, runner)


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
