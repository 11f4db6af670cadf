"""How quarantined bytes are shown to people: JSON pretty-printed when it parses, else hex."""

from __future__ import annotations

import json
from dataclasses import dataclass

__all__ = ["Shown", "hex_dump", "show_bytes"]

_ROW = 16


@dataclass(frozen=True)
class Shown:
    """The bytes as text: ``form`` is ``json`` or ``hex``."""

    form: str
    text: str


def hex_dump(data: bytes) -> str:
    """Offset, 16 bytes in hex and their printable ASCII, one row per line (as ``xxd``)."""
    rows = []
    for offset in range(0, len(data), _ROW):
        chunk = data[offset : offset + _ROW]
        hexes = " ".join(f"{b:02x}" for b in chunk)
        text = "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in chunk)
        rows.append(f"{offset:08x}  {hexes:<{_ROW * 3 - 1}}  {text}")
    return "\n".join(rows)


def show_bytes(data: bytes) -> Shown:
    """``data`` as indented JSON when it is UTF-8 JSON, else as a hex dump."""
    try:
        doc = json.loads(data.decode("utf-8"))
    except ValueError:  # not UTF-8 (UnicodeDecodeError is one) or not JSON
        return Shown("hex", hex_dump(data))
    return Shown("json", json.dumps(doc, indent=2, ensure_ascii=False))
