"""Builders for policy tests: agreements as plain data (:mod:`hub.testing`), envelopes."""

from __future__ import annotations

from typing import Any

from hub.testing import agreement, status, statuses
from schemas.envelope import Envelope
from schemas.testing import TestDirectory

__all__ = ["agreement", "envelope", "status", "statuses"]


def envelope(td: TestDirectory, cc: str, theme: str, type_: str, **fields: Any) -> Envelope:
    payload = fields.pop("payload", {"summary": "x"})
    return Envelope.model_validate(td.envelope(cc, theme, type_, payload, **fields))
