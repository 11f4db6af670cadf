"""Validation of a sink's options, with errors that name the option and what to do."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from adapters.errors import AdapterConfigError

__all__ = ["parse_options", "resolve_path"]

M = TypeVar("M", bound=BaseModel)


def parse_options(model: type[M], options: Mapping[str, Any], sink: str, country: str) -> M:
    """``model`` from ``options``, with errors that name ``adapters.<cc>.<option>``.

    Args:
        model: the sink's options model.
        options: the options as ``enlace.yaml`` gives them.
        sink: the sink's name (for the error).
        country: the country it delivers for (for the error).

    Returns:
        The validated options.

    Raises:
        AdapterConfigError: the first option that is wrong, and why.
    """
    try:
        return model.model_validate(dict(options))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(options)"
        raise AdapterConfigError(
            f"enlace.yaml adapters.{country} ({sink} sink) option {where!r}: {first['msg']}"
        ) from None


def resolve_path(path: Path, base_dir: Path) -> Path:
    """``path`` as given when absolute, else relative to the deployment folder."""
    return path if path.is_absolute() else base_dir / path
