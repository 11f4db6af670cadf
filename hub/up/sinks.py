"""The sinks of ``enlace.yaml``'s ``adapters:`` section: those ``enlace up`` runs, and the
DELIVERY consumers the server must let each country use.
"""

from __future__ import annotations

from adapters.config import load_adapters_config
from hub.config import HubSettings
from hub.deployment import Deployment
from schemas.subjects import sink_consumer

__all__ = ["configured_sinks", "delivery_consumers", "sink_pairs", "sink_register"]


def configured_sinks(deployment: Deployment, settings: HubSettings) -> list[tuple[str, str]]:
    """(country, sink) of each adapter ``enlace up`` runs: the ``adapters:`` section of
    ``enlace.yaml``, kept to the countries of ``hub.adapters`` when that is set.

    Raises:
        EnlaceError: the ``adapters:`` section is refused (file, field, problem).
    """
    pairs = [(cc, s.sink_name) for cc, s in load_adapters_config(deployment.home).entries()]
    wanted = set(settings.adapters)
    return [(cc, name) for cc, name in pairs if not wanted or cc in wanted]


def sink_register(deployment: Deployment) -> dict[str, list[str]]:
    """Every sink of ``enlace.yaml``'s ``adapters:`` section, by country, whether or not
    this ``enlace up`` runs it (a country may run its adapters on its own machine).

    Raises:
        EnlaceError: the ``adapters:`` section is refused (file, field, problem).
    """
    register: dict[str, list[str]] = {}
    for cc, sink in load_adapters_config(deployment.home).entries():
        register.setdefault(cc, []).append(sink.sink_name)
    return register


def sink_pairs(register: dict[str, list[str]]) -> list[tuple[str, str]]:
    """(country, sink) of every sink of a :func:`sink_register`."""
    return [(cc, name) for cc, names in register.items() for name in names]


def delivery_consumers(sinks: list[tuple[str, str]]) -> dict[str, list[str]]:
    """Each country's DELIVERY consumer names, from its sinks."""
    consumers: dict[str, list[str]] = {}
    for cc, name in sinks:
        consumers.setdefault(cc, []).append(sink_consumer(cc, name))
    return consumers
