"""What each installed sink takes in ``enlace.yaml``, read off the sinks' own option models.

A sink's factory names its pydantic options model as ``options_model`` (see
:class:`adapters.base.SinkFactory`); each field's type, default and description are what
``enlace adapter sinks`` prints and the README's table shows, so neither can drift from
what the sink accepts. Every sink also takes the keys of
:class:`adapters.config.SinkSettings` (``sink``, ``name``, ``retry``).
"""

from __future__ import annotations

import types
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Union, get_args, get_origin

from pydantic import AnyUrl, BaseModel
from pydantic_core import PydanticUndefined

from adapters.registry import SINK_GROUP, sink_factory

__all__ = ["InstalledSink", "SinkOption", "describe_options", "installed_sinks", "readme_table"]

_TYPE_NAMES: dict[Any, str] = {
    str: "text",
    int: "integer",
    float: "number",
    bool: "true/false",
    Path: "path",
}


@dataclass(frozen=True)
class SinkOption:
    """One option of a sink: its key, type, whether it must be given, default, meaning."""

    name: str
    type: str
    required: bool
    default: str | None
    description: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "required": self.required,
            "default": self.default,
            "description": self.description,
        }


@dataclass(frozen=True)
class InstalledSink:
    """A sink the entry points provide; ``options`` is None when it declares no model."""

    name: str
    entry_point: str
    options: list[SinkOption] | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "sink": self.name,
            "entry_point": self.entry_point,
            "options": None if self.options is None else [o.to_dict() for o in self.options],
        }


def _type_name(annotation: Any) -> str:
    if get_origin(annotation) in (Union, types.UnionType):
        names = [_type_name(a) for a in get_args(annotation) if a is not type(None)]
        return " or ".join(names)
    if isinstance(annotation, type) and issubclass(annotation, AnyUrl):
        return "URL"
    return _TYPE_NAMES.get(annotation, getattr(annotation, "__name__", str(annotation)))


def describe_options(model: type[BaseModel]) -> list[SinkOption]:
    """The options of ``model``, in declaration order."""
    out = []
    for name, info in model.model_fields.items():
        default = info.default
        shown = None if default is PydanticUndefined or default is None else str(default)
        out.append(
            SinkOption(
                name=name,
                type=_type_name(info.annotation),
                required=info.is_required(),
                default=shown,
                description=info.description or "",
            )
        )
    return out


def installed_sinks() -> list[InstalledSink]:
    """Every sink of the entry point group ``enlace.sinks``, by name, with its options."""
    out = []
    for ep in sorted(entry_points(group=SINK_GROUP), key=lambda e: e.name):
        model = getattr(sink_factory(ep.name), "options_model", None)
        options = None
        if isinstance(model, type) and issubclass(model, BaseModel):
            options = describe_options(model)
        out.append(InstalledSink(ep.name, ep.value, options))
    return out


def readme_table(sinks: list[InstalledSink]) -> str:
    """The Markdown table of ``sinks``' options, as the README holds it."""
    lines = ["| sink | option | type | default | what it is for |", "|---|---|---|---|---|"]
    for sink in sinks:
        for option in sink.options or []:
            if option.required:
                default = "required"
            else:
                default = "" if option.default is None else f"`{option.default}`"
            lines.append(
                f"| {sink.name} | `{option.name}` | {option.type} | {default} | "
                f"{option.description} |"
            )
    return "\n".join(lines) + "\n"
