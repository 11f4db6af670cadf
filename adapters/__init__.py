"""Enlace adapters: sources that feed the hub and sinks that deliver into national systems.

The public surface (a thin facade over the modules that own each job)::

    Sink, SinkFactory, SinkContext, DeliveryResult, Source    adapters.base
    Delivery, parse_delivery, verify_delivery                 adapters.delivery
    SinkRunner, RunnerSettings                                adapters.runner
    build_sink, sink_names                                    adapters.registry
    load_adapters_config, AdaptersConfig, SinkSettings        adapters.config
    errors                                                    adapters.errors

Dependencies point one way: ``adapters`` imports ``schemas``, never ``hub``.
"""

from adapters.base import DeliveryResult, Sink, SinkContext, SinkFactory, Source
from adapters.config import AdaptersConfig, SinkSettings, load_adapters_config
from adapters.delivery import Delivery, parse_delivery, verify_delivery
from adapters.registry import build_sink, sink_names
from adapters.runner import RunnerSettings, SinkRunner

__all__ = [
    "AdaptersConfig",
    "Delivery",
    "DeliveryResult",
    "RunnerSettings",
    "Sink",
    "SinkContext",
    "SinkFactory",
    "SinkRunner",
    "SinkSettings",
    "Source",
    "build_sink",
    "load_adapters_config",
    "parse_delivery",
    "sink_names",
    "verify_delivery",
]
