"""The deliveries of one accepted message: each view rendered once, each countersigned for
its own recipient (real Ed25519; no NATS)."""

from __future__ import annotations

from typing import Any

import pytest

from hub.pipeline import deliveries
from hub.policy import Route, render_view
from hub.policy.model import FULL_VIEW, ViewSpec
from hub.testing import governance
from schemas.countersign import sha256_digest, verify_countersignature
from schemas.envelope import parse_envelope
from schemas.errors import BadSignature
from schemas.subjects import HDR_COUNTERSIGNATURE, HDR_RECIPIENT, HDR_VIEW
from schemas.testing import signed_message

TD, GOV, SIGNER = governance()
NO_PERSONS = ViewSpec(name="no-persons", drop=("payload.persons",))
# The same redaction under another agreement: an equal view, rendered once with the other.
NO_PERSONS_AGAIN = ViewSpec(name="no-persons", drop=("payload.persons",))
COARSE = ViewSpec(name="coarse", drop=("payload.persons", "payload.gang"))
ROUTES = [
    Route("SV", FULL_VIEW, "gangs-ca", 0, "#0"),
    Route("US", NO_PERSONS, "gangs-ca", 1, "to-us"),
    Route("HN", NO_PERSONS, "gangs-ca", 1, "to-us"),
    Route("CR", NO_PERSONS_AGAIN, "gangs-sica", 0, "#0"),
    Route("PA", COARSE, "gangs-sica", 1, "#1"),
    Route("BZ", COARSE, "gangs-sica", 1, "#1"),
]


def test_each_view_is_rendered_once_and_countersigned_for_each_recipient(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    message, raw, jws = signed_message(TD)
    envelope = parse_envelope(raw)
    rendered: list[str] = []

    def counted(data: Any, view: ViewSpec) -> bytes:
        rendered.append(view.name)
        return render_view(data, view)

    monkeypatch.setattr(deliveries, "render_view", counted)
    digest = sha256_digest(raw)
    made = deliveries.delivery_writes(ROUTES, envelope, (raw, jws, digest), SIGNER, {})

    assert sorted(rendered) == ["coarse", "no-persons"]  # not once per recipient
    assert [d.write.headers[HDR_RECIPIENT] for d in made] == [r.recipient for r in ROUTES]
    full = made[0]
    assert (full.write.body, full.view_digest) == (raw, digest)
    assert HDR_COUNTERSIGNATURE not in full.write.headers
    for route, d in zip(ROUTES[1:], made[1:], strict=True):
        assert d.write.body == render_view(raw, route.view)
        assert d.view_digest == sha256_digest(d.write.body)
        assert d.write.subject == f"enlace.out.{route.recipient}.gangs.gang_movement"
        assert d.write.headers[HDR_VIEW] == route.view.name
        countersigned = d.write.headers[HDR_COUNTERSIGNATURE]
        verify_countersignature(  # for this recipient, and no other
            GOV.directory,
            countersigned,
            message["id"],
            digest,
            route.recipient,
            route.view.name,
            d.write.body,
        )
        with pytest.raises(BadSignature):
            verify_countersignature(
                GOV.directory,
                countersigned,
                message["id"],
                digest,
                "GT",
                route.view.name,
                d.write.body,
            )
