"""Canonical JSON: the one byte form that signatures and digests of structured data use.

Keys sorted, no insignificant white space, UTF-8, no NaN/Infinity (RFC 8785 for the
strings, integers and booleans that Enlace's governance and audit data hold).
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["canonical_json"]


def canonical_json(data: Any) -> bytes:
    """Serialize ``data`` to canonical JSON bytes."""
    return json.dumps(
        data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")
