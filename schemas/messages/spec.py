"""What the registry knows of a message type: its model, themes, whether it is a reply."""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from schemas.common import Theme

__all__ = ["ALL_THEMES", "MessageSpec"]

ALL_THEMES: tuple[Theme, ...] = tuple(Theme)


@dataclass(frozen=True)
class MessageSpec:
    """One message type at one version.

    Attributes:
        type: the message type, as in the envelope and the subject (``seizure``).
        version: the schema version of the payload.
        model: the pydantic model that validates ``payload``.
        themes: the themes the type may travel under.
        example: a realistic valid payload (templates, samples, documentation).
        reply: a reply answers a request and must carry ``in_reply_to``.
    """

    type: str
    version: int
    model: builtins.type[BaseModel]
    themes: tuple[Theme, ...]
    example: dict[str, Any]
    reply: bool = False

    @property
    def title(self) -> str:
        """The first line of the model's docstring."""
        return (self.model.__doc__ or self.type).strip().splitlines()[0]
