"""The sinks the console's Adapters page shows, read as ``enlace up`` and
``enlace adapter status`` read them (the console itself may not import the adapters)."""

from __future__ import annotations

from adapters.service import adapter_status
from hub.console.sinks import SinkProbe
from hub.deployment import Deployment
from hub.up.sinks import sink_register

__all__ = ["sink_probe"]


def sink_probe(deployment: Deployment) -> SinkProbe:
    """Every sink of the deployment's ``enlace.yaml`` (read again on each page: a reload's
    new sinks show), each read with the adapters' own status."""
    return SinkProbe(register=lambda: sink_register(deployment), status=adapter_status)
