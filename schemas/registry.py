"""The registry of message types: which model validates a ``(type, version)`` and where it travels.

``REGISTRY`` is built from :data:`schemas.messages.ALL_SPECS`. A new version of a type is
a new model and a new :class:`~schemas.messages.spec.MessageSpec`; old versions stay, so
that messages already signed keep validating.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator
from typing import Any

from pydantic import BaseModel

from schemas.errors import UnknownMessageType
from schemas.messages import ALL_SPECS
from schemas.messages.spec import MessageSpec

__all__ = ["REGISTRY", "MessageRegistry"]


class MessageRegistry:
    """Message types keyed by ``(type, version)``."""

    def __init__(self, specs: Iterable[MessageSpec]) -> None:
        self._specs: dict[tuple[str, int], MessageSpec] = {}
        for spec in specs:
            key = (spec.type, spec.version)
            if key in self._specs:
                raise ValueError(f"message type {spec.type} v{spec.version} is registered twice")
            self._specs[key] = spec

    def __iter__(self) -> Iterator[MessageSpec]:
        """Every spec, by type then version."""
        return iter(sorted(self._specs.values(), key=lambda s: (s.type, s.version)))

    def __contains__(self, key: object) -> bool:
        return key in self._specs

    def known(self) -> list[str]:
        """Every ``type vN`` the registry knows, for error messages."""
        return [f"{s.type} v{s.version}" for s in self]

    def spec(self, type_: str, version: int) -> MessageSpec:
        """The spec of ``type_`` at ``version``.

        Raises:
            UnknownMessageType: naming every known type and version.
        """
        try:
            return self._specs[(type_, version)]
        except (KeyError, TypeError):
            raise UnknownMessageType(str(type_), version, self.known()) from None

    def model(self, type_: str, version: int) -> type[BaseModel]:
        """The payload model of ``type_`` at ``version``; raises UnknownMessageType."""
        return self.spec(type_, version).model

    def types(self) -> list[str]:
        """The message types, sorted."""
        return sorted({t for t, _ in self._specs})

    def versions(self, type_: str) -> list[int]:
        """The versions of ``type_``, ascending (empty when the type is unknown)."""
        return sorted(v for t, v in self._specs if t == type_)

    def latest(self, type_: str) -> int:
        """The newest version of ``type_``; raises UnknownMessageType."""
        versions = self.versions(type_)
        if not versions:
            raise UnknownMessageType(type_, 0, self.known())
        return versions[-1]

    def themes_for(self, type_: str, version: int) -> tuple[str, ...]:
        """The themes ``type_`` at ``version`` may travel under; raises UnknownMessageType."""
        return tuple(str(t) for t in self.spec(type_, version).themes)

    def is_reply(self, type_: str, version: int) -> bool:
        """Whether the type answers a request (then the envelope must carry in_reply_to)."""
        return self.spec(type_, version).reply

    @property
    def reply_types(self) -> frozenset[str]:
        """The types that are replies (in any version)."""
        return frozenset(s.type for s in self._specs.values() if s.reply)

    def template(self, type_: str, version: int | None = None) -> dict[str, Any]:
        """A realistic, valid example payload of ``type_`` (latest version by default).

        The dict is a fresh copy: callers may change it.

        Raises:
            UnknownMessageType.
        """
        version = self.latest(type_) if version is None else version
        return copy.deepcopy(self.spec(type_, version).example)


REGISTRY = MessageRegistry(ALL_SPECS)
"""Every message type and version the hub accepts."""
