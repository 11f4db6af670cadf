"""Per-message CPU cost of the hub's checks on one core: parse, verify, validate, combined.

A ~2 KiB signed seizure goes through ``parse_envelope`` (size, JSON, envelope),
``Directory.verify_message`` (Ed25519 detached JWS + sender checks), ``validate_envelope``
(registry, theme, typed payload) and all of them as the hub runs them
(``parse_message`` + ``verify_message``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from schemas.envelope import parse_envelope
from schemas.message import parse_message, validate_envelope
from schemas.registry import REGISTRY
from schemas.testing import make_directory

__all__ = ["main"]

TARGET_BYTES = 2048
ROUNDS = 3


def _seizure_of_about(target: int, td_envelope: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    payload = REGISTRY.template("seizure")
    message = td_envelope("GT", "narcotics", "seizure", payload)
    filler = 0
    # Pad with witnesses until the serialized message is about the target size.
    while len(json.dumps(message, ensure_ascii=False).encode()) < target - 40:
        filler += 1
        payload["persons"].append({"name": f"Witness number {filler}", "role": "witness"})
    return message


def _measure(label: str, fn: Callable[[], object], n: int) -> None:
    best = float("inf")
    for _ in range(ROUNDS):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, time.perf_counter() - start)
    per = best / n
    print(f"{label:<28} {1 / per:>10,.0f} msgs/s {per * 1e6:>9.1f} µs/msg", flush=True)


def main(n: int = 3000) -> None:
    """Print msgs/s and µs/msg for parse, verify, validate and the three combined."""
    td = make_directory(parties=("GT",), themes=("narcotics",))
    message = _seizure_of_about(TARGET_BYTES, td.envelope)
    raw, jws = td.sign(message)
    envelope = parse_envelope(raw)
    directory = td.directory
    print(f"seizure message: {len(raw)} bytes, detached JWS {len(jws)} bytes; best of {ROUNDS}")

    def combined() -> None:
        parsed = parse_message(raw)
        directory.verify_message(raw, jws, parsed.envelope)

    _measure("parse (JSON + envelope)", lambda: parse_envelope(raw), n)
    _measure("verify (Ed25519 + sender)", lambda: directory.verify_message(raw, jws, envelope), n)
    _measure("validate (typed payload)", lambda: validate_envelope(envelope), n)
    _measure("combined", combined, n)


if __name__ == "__main__":
    main()
