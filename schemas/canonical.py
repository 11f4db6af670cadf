"""Canonical JSON: the one byte form that signatures and digests of structured data use.

Keys sorted, no insignificant white space, UTF-8, no NaN/Infinity (RFC 8785 for the
strings, integers and booleans that Enlace's governance and audit data hold).

The bytes are those of Python's ``json`` module with sorted keys, compact separators and
``ensure_ascii=False``: what every stored signature and audit leaf was made of. orjson
writes the same bytes 3-10 times faster for nearly all data, so :func:`canonical_json`
has it write them (:func:`orjson_canonical`) and takes the ``json`` module's path only
where orjson writes otherwise or refuses: an integer beyond 64 bits, a key that is not a
string, a subclass such as a str enum, a lone surrogate, NaN or Infinity (orjson writes
``null``), and a number below 1e-4 in magnitude (orjson writes ``0.000015`` and ``1e-7``
where ``json`` writes ``1.5e-05`` and ``1e-07``; every other float is written alike,
checked on random doubles). Those are recognised in orjson's output, so nothing walks the
data. ``tests/schemas/test_canonical.py`` checks the bytes against ``json`` on arbitrary
data, floats and nulls included.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

__all__ = ["canonical_json", "orjson_canonical"]

# One encoder for every call: json.dumps with any argument of its own builds a new
# JSONEncoder each time, which cost more than encoding an audit entry (measured: 22-36 us
# against 9-22 us per entry on the bench machine). The encoder keeps no state between calls.
_CANONICAL = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
)
# Subclasses (str enums), dataclasses and datetimes go to ``default``, which refuses
# them, so the json encoder writes them (or refuses them) as it always did.
_ORJSON = (
    orjson.OPT_SORT_KEYS
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)
# What may come before the exponent of a number orjson wrote. Output is searched with
# ``in`` and ``find`` (~1 us for a 2 KiB view; a regular expression took ~9 us): a
# string that only looks like a number (``"0.00001"``, ``"8e-x"``, ``"null"``) costs the
# slower path, nothing else.
_NUMBER_BEFORE = frozenset(b"0123456789.")


def _number_before(fast: bytes, marker: bytes) -> bool:
    """Whether ``marker`` follows a digit or a point somewhere in ``fast``."""
    at = fast.find(marker)
    while at > 0:
        if fast[at - 1] in _NUMBER_BEFORE:
            return True
        at = fast.find(marker, at + len(marker))
    return False


def _refuse(value: Any) -> Any:
    raise TypeError(type(value).__name__)


def orjson_canonical(data: Any, *, read_by_orjson: bool = False) -> bytes | None:
    """:func:`canonical_json` of ``data`` as orjson writes it, or None where its bytes
    might not be ``json``'s (the caller then takes ``json``'s path).

    Args:
        data: what to write.
        read_by_orjson: ``data`` was read by ``orjson.loads`` (then changed, but with no
            NaN or Infinity added): it holds no NaN or Infinity, so a null is a null; but
            orjson reads an integer beyond 64 bits as a float, so None also when the bytes
            hold a number with a positive exponent (1e16 or more), maybe such an integer.
    """
    try:
        fast = orjson.dumps(data, default=_refuse, option=_ORJSON)
    except TypeError:  # orjson.JSONEncodeError is one
        return None
    if b"0.0000" in fast or _number_before(fast, b"e-"):  # a number below 1e-4
        return None
    if read_by_orjson:  # no NaN or Infinity: orjson reads neither
        return None if _number_before(fast, b"e+") else fast
    return None if b"null" in fast else fast  # null: maybe orjson's NaN or Infinity


def canonical_json(data: Any) -> bytes:
    """Serialize ``data`` to canonical JSON bytes.

    Raises:
        ValueError: NaN or Infinity in ``data``.
        TypeError: a value that is not JSON.
        UnicodeEncodeError: a string holds a lone surrogate.
    """
    fast = orjson_canonical(data)
    if fast is not None:
        return fast
    return _CANONICAL.encode(data).encode("utf-8")
