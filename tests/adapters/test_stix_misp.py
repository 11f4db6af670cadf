"""MISP imports the stix sink's bundles: misp-stix (MISP's own converter) reads each one."""

from __future__ import annotations

from typing import Any

import pytest
import stix2
from misp_stix_converter import ExternalSTIX2toMISPParser

from adapters.sinks.stix import bundle_bytes
from hub.policy.model import ViewSpec
from schemas.messages.spec import MessageSpec
from schemas.registry import REGISTRY
from schemas.testing import TestDirectory, make_directory
from tests.adapters.stixkit import delivery_of

SPECS = list(REGISTRY)


@pytest.fixture(scope="module")
def td() -> TestDirectory:
    themes = sorted({str(spec.themes[0]) for spec in SPECS})
    return make_directory(parties=("GT", "SV"), themes=tuple(themes))


def misp_event(data: bytes) -> Any:
    parser = ExternalSTIX2toMISPParser()
    parser.load_stix_bundle(stix2.parse(data.decode(), allow_custom=True))
    parser.parse_stix_bundle()
    return parser.misp_event


@pytest.mark.parametrize("spec", SPECS, ids=[f"{s.type}-v{s.version}" for s in SPECS])
def test_misp_imports_every_message_type_with_its_tlp_people_and_place(
    td: TestDirectory, spec: MessageSpec
) -> None:
    delivery = delivery_of(td, spec, handling="amber+strict", to=["GT"])
    event = misp_event(bundle_bytes(delivery))
    payload = delivery.message["payload"]
    assert event.info.startswith(spec.title.split(":")[0])
    tags = {t.name for t in event.tags}
    assert {"tlp:amber+strict", str(spec.themes[0]), spec.type} <= tags
    people = [o for o in event.objects if o.name == "identity"]
    names = sorted(a.value for o in people for a in o.attributes if a.object_relation == "name")
    assert names == sorted(p["name"] for p in payload.get("persons", []))
    points = [o for o in event.objects if o.name == "geolocation"]
    assert len(points) == (1 if "location" in payload else 0)


def test_misp_gets_no_person_a_view_removed(td: TestDirectory) -> None:
    view = ViewSpec(name="no-persons", drop=("payload.persons",))
    event = misp_event(bundle_bytes(delivery_of(td, REGISTRY.spec("seizure", 1), view)))
    assert [o.name for o in event.objects] == ["geolocation"]
