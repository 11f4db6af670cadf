"""What a recipient reads back from what a sink wrote, and checks against the directory.

Every sink keeps, beside the delivered bytes, what vouches for them
(:meth:`adapters.delivery.Delivery.metadata`: view, digests, the sender's signature, the
hub's countersignature, when the hub published it)::

    folder    <id>.json (the bytes), <id>.json.jws (the JWS that vouches for them: the
              sender's for the full view, the hub's countersignature for a redaction),
              <id>.json.meta (the metadata as JSON)
    jsonl     one record per line: the metadata and ``raw`` (the bytes, as text)
    postgres  one row: the metadata's columns and ``raw``; ``SELECT row_to_json(t) FROM
              <table> t`` prints records of the same form
    webhook   the request body and its ``Enlace-*`` headers

A full view is checked by the sender's signature over the exact bytes; a redacted view by
the hub's countersignature over the view's digest and the original's. Both are checked
exactly as the sink runner checked them before writing, at the time the hub published the
delivery (so a key rotated since still verifies what it signed while valid).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from adapters.delivery import (
    FULL_VIEW,
    Delivery,
    DeliveryCheck,
    parse_delivery,
    verify_delivery,
)
from adapters.errors import MalformedDelivery, TamperedDelivery
from schemas.countersign import sha256_digest
from schemas.directory import Directory
from schemas.envelope import DEFAULT_MAX_BYTES
from schemas.subjects import (
    HDR_AGREEMENT,
    HDR_COUNTERSIGNATURE,
    HDR_MSG_ID,
    HDR_ORIGINAL_DIGEST,
    HDR_RECIPIENT,
    HDR_SIGNATURE,
    HDR_VIEW,
)

__all__ = [
    "HDR_PUBLISHED_AT",
    "META_SUFFIX",
    "check_received",
    "delivery_from_headers",
    "delivery_from_record",
    "read_delivered",
    "read_records",
    "sink_output_kind",
    "verify_received",
]

HDR_PUBLISHED_AT = "Enlace-Published-At"
"""When the hub published the delivery (RFC 3339), on a webhook's request."""

META_SUFFIX = ".meta"

# Header → record field, for a webhook's request (headers compare case-insensitively).
_FROM_HEADERS = {
    "enlace-message-id": "id",
    HDR_RECIPIENT.lower(): "recipient",
    HDR_VIEW.lower(): "view",
    HDR_ORIGINAL_DIGEST.lower(): "original_digest",
    HDR_SIGNATURE.lower(): "signature",
    HDR_COUNTERSIGNATURE.lower(): "countersignature",
    HDR_AGREEMENT.lower(): "agreement",
    HDR_PUBLISHED_AT.lower(): "published_at",
}


def _text(record: Mapping[str, Any], name: str, where: str) -> str:
    value = record.get(name)
    if not isinstance(value, str) or not value:
        raise MalformedDelivery(f"{where}: no {name!r}; it is not a delivery a sink wrote")
    return value


def _published_at(value: Any, where: str) -> datetime | None:
    if value in (None, ""):
        return None  # written by a sink from before the time was kept: checked at --at/now
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise MalformedDelivery(f"{where}: published_at {value!r} is not a time") from None


def delivery_from_record(record: Mapping[str, Any], body: bytes, where: str = "") -> Delivery:
    """The delivery a sink recorded as ``record`` (its metadata) with the bytes ``body``.

    Args:
        record: the sink's metadata of the delivery (``id``, ``recipient``, ``view`` …).
        body: the delivered bytes the sink kept.
        where: what the record is, for errors (a file name; default ``delivery record``).

    Raises:
        MalformedDelivery: a field is missing or does not match the body.
        TamperedDelivery: ``digest_mismatch``, the bytes are not those the sink wrote.
    """
    where = where or "delivery record"
    message_id = _text(record, "id", where)
    recipient = _text(record, "recipient", where)
    view = _text(record, "view", where)
    recorded = record.get("digest")
    if recorded and recorded != sha256_digest(body):
        raise TamperedDelivery(
            f"{where}: the bytes' digest is {sha256_digest(body)}, but the sink wrote "
            f"{recorded}; they changed since",
            reason="digest_mismatch",
        )
    headers = {
        HDR_MSG_ID: f"{message_id}:{recipient}",
        HDR_RECIPIENT: recipient,
        HDR_VIEW: view,
        HDR_ORIGINAL_DIGEST: _text(record, "original_digest", where),
        HDR_SIGNATURE: _text(record, "signature", where),
    }
    if view != FULL_VIEW:
        headers[HDR_COUNTERSIGNATURE] = _text(record, "countersignature", where)
    if record.get("agreement"):
        headers[HDR_AGREEMENT] = str(record["agreement"])
    subject = record.get("subject") or _subject_of(body, recipient, where)
    published_at = _published_at(record.get("published_at"), where)
    return parse_delivery(str(subject), headers, body, recipient, published_at)


def _subject_of(body: bytes, recipient: str, where: str) -> str:
    # A webhook's request names no subject; the body's theme and type give it.
    try:
        message = json.loads(body)
        return f"enlace.out.{recipient}.{message['theme']}.{message['type']}"
    except (ValueError, KeyError, TypeError):
        raise MalformedDelivery(f"{where}: the body is not a message") from None


def delivery_from_headers(headers: Mapping[str, str], body: bytes) -> Delivery:
    """The delivery a webhook received: its body and its ``Enlace-*`` headers.

    Raises:
        MalformedDelivery: a header is missing or does not match the body.
    """
    record: dict[str, Any] = {}
    for name, value in headers.items():
        field = _FROM_HEADERS.get(name.lower())
        if field is not None:
            record[field] = value
    return delivery_from_record(record, body, "webhook request")


def sink_output_kind(path: Path) -> Literal["folder", "records"] | None:
    """Which sink's output ``path`` is: a folder sink's ``<id>.json`` (its ``.meta`` beside
    it), JSON Lines of delivery records (jsonl sink, ``psql`` rows); None for anything else
    (a message file, say)."""
    if path.with_name(path.name + META_SUFFIX).is_file():
        return "folder"
    try:
        with path.open("rb") as fh:
            first = fh.readline()
        record = json.loads(first)
    except (OSError, ValueError):
        return None
    # A message never has `raw` (the envelope refuses unknown fields); a record always does.
    if isinstance(record, dict) and "raw" in record and "view" in record:
        return "records"
    return None


def read_records(text: str, where: str) -> list[Delivery]:
    """Deliveries from JSON Lines of records (metadata + ``raw``), one per non-empty line."""
    out = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        place = f"{where}:{number}"
        try:
            record = json.loads(line)
        except ValueError:
            raise MalformedDelivery(f"{place}: not a JSON record") from None
        if not isinstance(record, dict) or not isinstance(record.get("raw"), str):
            raise MalformedDelivery(f"{place}: no 'raw' (the delivered bytes)")
        out.append(delivery_from_record(record, record["raw"].encode("utf-8"), place))
    return out


def read_delivered(path: Path) -> list[Delivery]:
    """The deliveries a sink wrote at ``path`` (see :func:`sink_output_kind`).

    Raises:
        MalformedDelivery: ``path`` is not a sink's output, or a record is incomplete.
        TamperedDelivery: ``digest_mismatch``, bytes changed since the sink wrote them.
    """
    kind = sink_output_kind(path)
    if kind == "records":
        return read_records(path.read_text(encoding="utf-8"), str(path))
    if kind is None:
        raise MalformedDelivery(f"{path} is not a delivery written by a sink")
    meta = json.loads(path.with_name(path.name + META_SUFFIX).read_text(encoding="utf-8"))
    if not isinstance(meta, dict):
        raise MalformedDelivery(f"{path}{META_SUFFIX} is not a delivery's metadata")
    jws_path = path.with_name(path.name + ".jws")
    if jws_path.is_file():
        # The JWS beside the file is what vouches for it: prefer it to the metadata's copy.
        jws = jws_path.read_text(encoding="ascii", errors="replace").strip()
        meta["signature" if meta.get("view") == FULL_VIEW else "countersignature"] = jws
    return [delivery_from_record(meta, path.read_bytes(), str(path))]


def check_received(
    delivery: Delivery,
    directory: Directory,
    at: datetime | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> DeliveryCheck:
    """Verify a delivery as received, at ``at`` (default: when the hub published it).

    Args:
        delivery: what a sink recorded, as :func:`delivery_from_record` reads it.
        directory: the accepted directory (keys of POCs and of the hub).
        at: when keys must have been valid (default: when the hub published it).
        max_bytes: the deployment's message size limit.

    Raises:
        TamperedDelivery: with ``reason`` the failing check's code (``bad_signature`` …).
    """
    return verify_delivery(delivery, directory, at or delivery.published_at, max_bytes)


def verify_received(
    body: bytes,
    fields: Mapping[str, Any],
    directory: Directory,
    at: datetime | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> DeliveryCheck:
    """Verify one delivery from its bytes and what the sink kept beside them.

    Args:
        body: the delivered bytes, exactly (a file's, a record's ``raw``, a request's body).
        fields: the record (a ``.meta`` file, a JSON Lines record, a table row) or the
            webhook request's headers (``Enlace-*``).
        directory: the deployment's accepted directory.
        at: when the keys must have been valid (default: when the hub published it).
        max_bytes: the deployment's message size limit.

    Raises:
        MalformedDelivery: something a recipient needs is missing.
        TamperedDelivery: a check failed; ``reason`` names it (``bad_signature`` …).
    """
    if any(str(name).lower().startswith("enlace-") for name in fields):
        delivery = delivery_from_headers(fields, body)
    else:
        delivery = delivery_from_record(fields, body)
    return check_received(delivery, directory, at, max_bytes)
