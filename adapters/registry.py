"""Sinks found through the entry point group ``enlace.sinks``, so a third party can add one.

A package declares its sink in its own ``pyproject.toml``::

    [project.entry-points."enlace.sinks"]
    mysink = "my_package.sink:MySink"     # a SinkFactory (see adapters.base)

and ``enlace.yaml`` then names it: ``adapters: {GT: {sink: mysink, ...}}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib.metadata import entry_points
from typing import Any, cast

from adapters.base import Sink, SinkContext, SinkFactory
from adapters.errors import UnknownSink

__all__ = ["SINK_GROUP", "build_sink", "sink_factory", "sink_names"]

SINK_GROUP = "enlace.sinks"


def sink_names() -> list[str]:
    """The names of every installed sink, sorted."""
    return sorted(ep.name for ep in entry_points(group=SINK_GROUP))


def sink_factory(name: str) -> SinkFactory:
    """The factory of sink ``name``; raises UnknownSink listing the installed ones."""
    for ep in entry_points(group=SINK_GROUP):
        if ep.name == name:
            return cast(SinkFactory, ep.load())
    raise UnknownSink(
        f"no sink named {name!r} is installed; installed: {', '.join(sink_names()) or 'none'}"
    )


def build_sink(name: str, options: Mapping[str, Any], context: SinkContext) -> Sink:
    """Build the sink ``name`` from its options in ``enlace.yaml``.

    Args:
        name: the sink's entry point name (``folder``, ``webhook`` …).
        options: its options, as ``enlace.yaml`` gives them.
        context: the country it delivers for and its folders.

    Returns:
        The sink, not yet opened.

    Raises:
        UnknownSink: no sink of that name is installed.
        AdapterConfigError: an option is wrong.
    """
    return sink_factory(name).from_options(options, context)
