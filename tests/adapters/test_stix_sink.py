"""The stix sink: every message type becomes a valid STIX 2.1 bundle holding only its view."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import stix2
from stix2.confidence.scales import admiralty_credibility_to_value

from adapters.base import SinkContext
from adapters.errors import PermanentSinkError
from adapters.registry import build_sink
from adapters.sinks import _files
from adapters.sinks.stix import SIGNED_FOLDER, StixSink, bundle_bytes
from adapters.sinks.stix_bundle import sender_identity_id
from adapters.sinks.stix_payload import WITHHELD
from hub.policy.model import RoundRule, ViewSpec
from schemas.messages.spec import MessageSpec
from schemas.registry import REGISTRY
from schemas.testing import TestDirectory, make_directory
from tests.adapters.stixkit import delivery_of, errors_of, leaves, validate

SPECS = list(REGISTRY)
REDACTED = ViewSpec(
    name="no-names",
    drop=("payload.persons", "payload.gang.name", "payload.summary", "payload.case_reference"),
    round=(RoundRule(field="payload.location", decimals=1),),
)
_CREDIBILITY = {
    1: "1 - Confirmed by other sources",
    2: "2 - Probably True",
    3: "3 - Possibly True",
    4: "4 - Doubtful",
    5: "5 - Improbable",
}


@pytest.fixture(scope="module")
def td() -> TestDirectory:
    themes = sorted({str(t) for spec in SPECS for t in spec.themes[:1]})
    return make_directory(parties=("GT", "SV"), themes=tuple(themes))


def objects(bundle: bytes) -> dict[str, dict[str, Any]]:
    return {o["id"]: o for o in json.loads(bundle)["objects"]}


def report_of(bundle: bytes) -> dict[str, Any]:
    [report] = [o for o in objects(bundle).values() if o["type"] == "report"]
    return report


@pytest.mark.parametrize("view", [None, REDACTED], ids=["full", "redacted"])
@pytest.mark.parametrize("spec", SPECS, ids=[f"{s.type}-v{s.version}" for s in SPECS])
def test_every_message_type_becomes_a_valid_stix_bundle(
    td: TestDirectory, spec: MessageSpec, view: ViewSpec | None
) -> None:
    delivery = delivery_of(td, spec, view, evaluation={"reliability": "B", "credibility": 2})
    data = bundle_bytes(delivery)

    parsed = stix2.parse(data.decode(), allow_custom=True)
    assert parsed.type == "bundle"
    results = validate(data)
    assert errors_of(results) == [] and results.is_valid
    by_id = objects(data)
    report = report_of(data)
    assert set(report["object_refs"]) <= set(by_id)  # every ref is in the bundle
    assert {
        o["id"] for o in by_id.values() if o["type"] not in ("marking-definition", "report")
    } <= set(report["object_refs"])
    sender = sender_identity_id("SV", "Agency of SV")
    for obj in by_id.values():
        if obj["type"] in ("marking-definition",) or obj["id"] == sender:
            continue
        assert obj["created_by_ref"] == sender
        assert obj["object_marking_refs"] == [
            "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"
        ]
        assert obj["confidence"] == 70
    assert report["x_enlace_message_type"] == spec.type
    assert report["x_enlace_view"] == delivery.view


def test_a_gang_movement_is_a_threat_actor_sighted_at_a_location_with_its_people(
    td: TestDirectory,
) -> None:
    data = bundle_bytes(delivery_of(td, REGISTRY.spec("gang_movement", 1)))
    kinds: dict[str, list[dict[str, Any]]] = {}
    for obj in objects(data).values():
        kinds.setdefault(obj["type"], []).append(obj)
    [actor], [sighting] = kinds["threat-actor"], kinds["sighting"]
    assert (actor["name"], actor["threat_actor_types"]) == ("Barrio 18", ["crime-syndicate"])
    assert sighting["sighting_of_ref"] == actor["id"]
    [point] = [loc for loc in kinds["location"] if loc["x_enlace_field"] == "location"]
    assert sighting["where_sighted_refs"] == [point["id"]]
    assert (point["latitude"], point["longitude"]) == (14.6349, -90.5069)
    assert sighting["first_seen"] == sighting["last_seen"] == "2026-11-24T22:15:00Z"
    places = {loc["x_enlace_field"]: loc.get("country") for loc in kinds["location"]}
    assert places == {"location": None, "origin": "GT", "destination": "MX"}
    [person] = [i for i in kinds["identity"] if i["identity_class"] == "individual"]
    assert (person["name"], person["roles"]) == ("José Antonio Pérez López", ["leader"])
    report = report_of(data)
    assert report["x_enlace_conveyances"][0]["plate"] == "P-123ABC"  # no STIX object for it
    assert report["description"].startswith("Four members")


@pytest.mark.parametrize("spec", SPECS, ids=[f"{s.type}-v{s.version}" for s in SPECS])
def test_what_a_view_removed_is_nowhere_in_the_bundle(td: TestDirectory, spec: MessageSpec) -> None:
    example = REGISTRY.template(spec.type, spec.version)
    for key in example:
        view = ViewSpec(name=f"no-{key.replace('_', '-').lower()}", drop=(f"payload.{key}",))
        delivery = delivery_of(td, spec, view)
        kept = set(leaves(delivery.message)) | set(leaves(delivery.metadata()))
        removed = set(leaves(example[key])) - kept
        text = bundle_bytes(delivery).decode()
        searched = _without_generated(text, removed)
        for value in removed:
            # Inside a kept value ("vehicle" in "suspect_vehicle") it may show; else never.
            if not any(value in k for k in kept):
                assert value not in searched, (key, value)
        assert f'"x_enlace_{key}"' not in text and f'"x_enlace_field": "{key}' not in text


# What a bundle makes afresh each time: STIX ids (random UUIDs), message ids, digests,
# signatures, timestamps. A short removed value ("410") may show inside one by chance.
_GENERATED = re.compile(r"\d{4}-\d\d-\d\dT[\d:.]+Z|[A-Za-z0-9_-]{20,}")


def _without_generated(text: str, removed: set[str]) -> str:
    """``text`` with each generated token masked, unless it is itself a removed value."""
    return _GENERATED.sub(lambda m: m[0] if m[0] in removed else "#", text)


def test_a_view_without_names_or_precise_coordinates_keeps_them_out(td: TestDirectory) -> None:
    view = ViewSpec(
        name="anonymous",
        drop=("payload.persons.name", "payload.gang.name"),
        round=(RoundRule(field="payload.location", decimals=1),),
    )
    data = bundle_bytes(delivery_of(td, REGISTRY.spec("gang_movement", 1), view))
    text = data.decode()
    assert "Pérez" not in text and "Barrio 18" not in text and "14.6349" not in text
    names = {
        o["type"]: o.get("name") for o in objects(data).values() if o["type"] == "threat-actor"
    }
    assert names == {"threat-actor": WITHHELD}
    [point] = [o for o in objects(data).values() if o.get("x_enlace_field") == "location"]
    assert (point["latitude"], point["longitude"]) == (14.6, -90.5)
    assert errors_of(validate(data)) == []


@pytest.mark.parametrize("credibility", [1, 2, 3, 4, 5, 6])
def test_admiralty_credibility_is_stix_confidence_by_the_specifications_scale(
    td: TestDirectory, credibility: int
) -> None:
    evaluation = {"reliability": "C", "credibility": credibility}
    report = report_of(bundle_bytes(delivery_of(td, SPECS[0], evaluation=evaluation)))
    if credibility == 6:  # truth cannot be judged: STIX says no confidence
        assert "confidence" not in report
    else:
        assert report["confidence"] == admiralty_credibility_to_value(_CREDIBILITY[credibility])
    assert report["x_enlace_source_reliability"] == "C"
    assert report["x_enlace_information_credibility"] == credibility


def test_no_evaluation_means_no_confidence(td: TestDirectory) -> None:
    data = bundle_bytes(delivery_of(td, SPECS[0]))
    assert all("confidence" not in o for o in objects(data).values())


@pytest.mark.parametrize(
    ("handling", "marking_id"),
    [
        ("clear", "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487"),
        ("green", "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"),
        ("amber", "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421"),
        ("amber+strict", "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003"),
        ("red", "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1"),
    ],
)
def test_handling_is_the_official_tlp_2_0_marking(
    td: TestDirectory, handling: str, marking_id: str
) -> None:
    data = bundle_bytes(delivery_of(td, SPECS[0], handling=handling, to=["GT"]))
    marking = objects(data)[marking_id]
    assert marking["name"] == f"TLP:{handling.upper()}"
    extension = marking["extensions"]["extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"]
    assert extension == {"extension_type": "property-extension", "tlp_2_0": handling}
    assert report_of(data)["object_marking_refs"] == [marking_id]


def test_one_sender_is_one_identity_across_messages_and_redeliveries(td: TestDirectory) -> None:
    first, second = (delivery_of(td, spec) for spec in SPECS[:2])
    sender = sender_identity_id("SV", "Agency of SV")
    assert objects(bundle_bytes(first))[sender] == objects(bundle_bytes(second))[sender]
    assert bundle_bytes(first) == bundle_bytes(first)  # rebuilt after a crash: the same bytes
    assert sender != sender_identity_id("SV", "Policía Nacional Civil")
    assert sender != sender_identity_id("GT", "Agency of SV")


def test_the_report_names_the_message_and_its_digests(td: TestDirectory) -> None:
    delivery = delivery_of(td, SPECS[0], REDACTED)
    refs = {r["source_name"]: r for r in report_of(bundle_bytes(delivery))["external_references"]}
    assert refs["enlace"]["external_id"] == delivery.message_id
    assert refs["enlace"]["hashes"] == {"SHA-256": delivery.original_digest.removeprefix("sha256:")}
    assert refs["enlace-delivery"]["external_id"] == f"{delivery.message_id}:GT"
    assert refs["enlace-delivery"]["hashes"] == {"SHA-256": delivery.digest.removeprefix("sha256:")}
    assert delivery.digest != delivery.original_digest


# -- the sink's files ---------------------------------------------------------------------------


def sink(tmp_path: Path) -> StixSink:
    context = SinkContext(country="GT", state_dir=tmp_path / "state", base_dir=tmp_path)
    made = build_sink("stix", {"path": "stix"}, context)
    assert isinstance(made, StixSink)
    return made


async def test_the_same_delivery_twice_writes_once(td: TestDirectory, tmp_path: Path) -> None:
    delivery = delivery_of(td, REGISTRY.spec("seizure", 1))
    stix = sink(tmp_path)
    await stix.open()
    bundle = tmp_path / "stix" / f"{delivery.message_id}.stix.json"
    assert not await stix.already_delivered(delivery.message_id)
    [first, again] = await stix.deliver_batch([delivery, delivery])
    assert (first.duplicate, again.duplicate) == (False, True)
    assert first.location == str(bundle)
    written = bundle.stat()
    assert await stix.already_delivered(delivery.message_id)
    assert (await stix.deliver(delivery)).duplicate
    assert bundle.stat().st_mtime_ns == written.st_mtime_ns
    assert bundle.read_bytes() == bundle_bytes(delivery)
    signed = tmp_path / "stix" / SIGNED_FOLDER / f"{delivery.message_id}.json"
    assert signed.read_bytes() == delivery.body
    assert sorted(p.name for p in (tmp_path / "stix").iterdir()) == [bundle.name, SIGNED_FOLDER]
    await stix.close()


async def test_a_bundle_a_crash_lost_is_written_when_the_delivery_comes_back(
    td: TestDirectory, tmp_path: Path
) -> None:
    delivery = delivery_of(td, REGISTRY.spec("seizure", 1))
    stix = sink(tmp_path)
    await stix.open()
    await stix.deliver(delivery)
    bundle = tmp_path / "stix" / f"{delivery.message_id}.stix.json"
    before = bundle.read_bytes()
    bundle.unlink()  # the signed files were renamed, the bundle not yet
    assert not await stix.already_delivered(delivery.message_id)
    assert not (await stix.deliver(delivery)).duplicate
    assert bundle.read_bytes() == before
    await stix.close()


async def test_a_bundle_found_written_is_answered_only_after_its_folder_is_synced(
    td: TestDirectory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Written before a crash (or a failed last sync): the renames may not be on disk, so
    the redelivery, a duplicate, syncs the bundles' folder (and the signed one) first."""
    delivery = delivery_of(td, REGISTRY.spec("seizure", 1))
    first = sink(tmp_path)
    await first.open()
    await first.deliver(delivery)
    await first.close()
    synced: list[Path] = []
    monkeypatch.setattr(_files, "_SYNCFS", None)  # each folder fsynced: which, is seen
    monkeypatch.setattr(_files, "fsync_dir", synced.append)
    again = sink(tmp_path)  # the next process
    await again.open()
    assert (await again.deliver(delivery)).duplicate
    await again.close()
    assert set(synced) == {tmp_path / "stix", tmp_path / "stix" / SIGNED_FOLDER}


async def test_a_message_stix_cannot_express_is_refused_before_anything_is_written(
    td: TestDirectory, tmp_path: Path
) -> None:
    good = delivery_of(td, REGISTRY.spec("seizure", 1))
    message = dict(good.message, handling="purple")
    bad = delivery_of(td, REGISTRY.spec("seizure", 1))
    bad = type(bad)(**{**bad.__dict__, "message": message})
    stix = sink(tmp_path)
    await stix.open()
    with pytest.raises(PermanentSinkError) as refused:
        await stix.deliver_batch([good, bad])
    assert refused.value.reason == "stix_mapping"
    assert list((tmp_path / "stix").rglob("*.json")) == []
    await stix.close()


def test_the_validator_refuses_a_bundle_that_breaks_stix(td: TestDirectory) -> None:
    # The check above is no formality: the OASIS schemas and rules run on every object.
    bundle = json.loads(bundle_bytes(delivery_of(td, REGISTRY.spec("seizure", 1))))
    [point] = [o for o in bundle["objects"] if o["type"] == "location"]
    point["latitude"] = 123.0
    errors = errors_of(validate(json.dumps(bundle).encode()))
    assert errors == [f"{point['id']}: latitude: 123.0 is greater than the maximum of 90"]
