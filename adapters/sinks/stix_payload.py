"""A payload's things as the closest STIX 2.1 objects; what STIX has no object for stays data.

The payload models share their value types (:mod:`schemas.messages.base`), so the mapping
goes by those shapes, for every message type, whatever a view left of them:

========================================  ==================================================
payload                                   STIX 2.1
========================================  ==================================================
``persons[]`` (:class:`Person`)           ``identity``, ``identity_class: individual``,
                                          ``roles: [role]``; date of birth, nationality, sex,
                                          aliases, identifiers as ``x_enlace_*``
``location`` (:class:`Location`, WGS84)   ``location`` with ``latitude``/``longitude``,
                                          ``description``, ``x_enlace_locode``
a place, or a list of places              ``location`` with ``country`` (ISO 3166-1 alpha-2),
(:class:`Place`: origin, destination,     ``description``, ``x_enlace_locode``
route, crossing points)
``gang`` (gang movement)                  ``threat-actor``, ``threat_actor_types:
                                          [crime-syndicate]``, ``aliases``, ``x_enlace_clique``
a gang movement's observation             ``sighting`` of that threat actor, where sighted =
                                          the location, ``first_seen``/``last_seen`` =
                                          ``observed_at``; movement, group size, armed as
                                          ``x_enlace_*``
``summary`` (else ``description``,        the report's ``description``
``notes``)
anything else (drugs, precursors,         the report's ``x_enlace_<field>``, the delivered
firearms, ammunition, cash, conveyances,  value as is (STIX 2.1 has no object for a firearm,
CBRN materials, CAP areas, …)             a drug, a vehicle or cash)
========================================  ==================================================

Each object made from one payload field names it in ``x_enlace_field`` (``persons[0]``,
``route[2]``). A part a view removed (a person's name, a coordinate) is
absent: a person or gang without its name is named ``(withheld)``; a location without both
coordinates, or a place without its country, stays data (``x_enlace_<field>``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import stix2

__all__ = ["ENLACE_STIX_NAMESPACE", "WITHHELD", "PayloadObjects", "object_id", "payload_objects"]

ENLACE_STIX_NAMESPACE = uuid.UUID("4f1c8a52-6a0e-5d8b-9b1e-3c7e2f0d9a61")
"""The UUIDv5 namespace of every id Enlace makes (never change it: ids would change)."""

WITHHELD = "(withheld)"
"""The name of a person or gang whose name the recipient's view removed."""

_PLACE_KEYS = frozenset({"country", "locode", "description"})
_DESCRIPTION_FIELDS = ("summary", "description", "notes")
_SIGHTING_FIELDS = ("movement", "group_size", "armed")


def object_id(kind: str, seed: str) -> str:
    """A STIX id of type ``kind``: UUIDv5 of ``seed`` in Enlace's namespace."""
    return f"{kind}--{uuid.uuid5(ENLACE_STIX_NAMESPACE, seed)}"


@dataclass
class PayloadObjects:
    """What :func:`payload_objects` made of a payload.

    Attributes:
        objects: the STIX objects (SDOs and SROs), in payload order.
        leftover: top-level payload fields no object holds, as delivered.
        description: the prose the report's ``description`` takes, if any.
    """

    objects: list[Any] = field(default_factory=list)
    leftover: dict[str, Any] = field(default_factory=dict)
    description: str | None = None


def _extras(item: dict[str, Any], mapped: set[str], where: str) -> dict[str, Any]:
    extras = {f"x_enlace_{k}": v for k, v in item.items() if k not in mapped}
    return {**extras, "x_enlace_field": where}


def _is_place(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and isinstance(value.get("country"), str)
        and set(value) <= _PLACE_KEYS
    )


class _Builder:
    def __init__(self, seed: str, common: dict[str, Any]) -> None:
        self.seed = seed
        self.common = common

    def _id(self, kind: str, where: str) -> str:
        return object_id(kind, f"{self.seed}/{where}")

    def person(self, person: dict[str, Any], where: str) -> Any:
        roles = {"roles": [person["role"]]} if isinstance(person.get("role"), str) else {}
        return stix2.v21.Identity(
            id=self._id("identity", where),
            name=person.get("name") or WITHHELD,
            identity_class="individual",
            custom_properties=_extras(person, {"name", "role"}, where),
            **roles,
            **self.common,
        )

    def point(self, location: dict[str, Any], where: str) -> Any:
        lat, lon = location.get("lat"), location.get("lon")
        if not (isinstance(lat, int | float) and isinstance(lon, int | float)):
            return None
        described = {"description": location["description"]} if "description" in location else {}
        return stix2.v21.Location(
            id=self._id("location", where),
            latitude=lat,
            longitude=lon,
            custom_properties=_extras(location, {"lat", "lon", "description"}, where),
            **described,
            **self.common,
        )

    def place(self, place: dict[str, Any], where: str) -> Any:
        described = {"description": place["description"]} if "description" in place else {}
        return stix2.v21.Location(
            id=self._id("location", where),
            country=place["country"],
            custom_properties=_extras(place, {"country", "description"}, where),
            **described,
            **self.common,
        )

    def gang(self, gang: dict[str, Any], where: str) -> Any:
        aliases = {"aliases": gang["aliases"]} if gang.get("aliases") else {}
        return stix2.v21.ThreatActor(
            id=self._id("threat-actor", where),
            name=gang.get("name") or WITHHELD,
            threat_actor_types=["crime-syndicate"],
            custom_properties=_extras(gang, {"name", "aliases"}, where),
            **aliases,
            **self.common,
        )

    def sighting(self, actor: Any, where: Any, payload: dict[str, Any]) -> Any:
        seen = payload.get("observed_at")
        times = {"first_seen": seen, "last_seen": seen} if isinstance(seen, str) else {}
        places = {"where_sighted_refs": [where.id]} if where is not None else {}
        custom = {f"x_enlace_{k}": payload[k] for k in _SIGHTING_FIELDS if k in payload}
        return stix2.v21.Sighting(
            id=self._id("sighting", "observation"),
            sighting_of_ref=actor.id,
            custom_properties=custom,
            **times,
            **places,
            **self.common,
        )


def payload_objects(
    payload: dict[str, Any], message_type: str, seed: str, common: dict[str, Any]
) -> PayloadObjects:
    """The STIX objects of ``payload`` (see the module's table), and what stays data.

    Args:
        payload: the delivered payload (what the recipient's view holds).
        message_type: the message's type (a gang movement's observation is a sighting).
        seed: what makes the objects' ids unique and stable (message id and view).
        common: properties every object takes (created, created_by_ref, markings …).

    Returns:
        The objects, the fields left as data and the report's description.
    """
    build = _Builder(seed, common)
    out = PayloadObjects()
    point = None
    for key, value in payload.items():
        made: list[Any] = []
        if key == "persons" and isinstance(value, list) and all(isinstance(p, dict) for p in value):
            made = [build.person(p, f"persons[{i}]") for i, p in enumerate(value)]
        elif key == "location" and isinstance(value, dict):
            point = build.point(value, "location")
            made = [point] if point is not None else []
        elif _is_place(value):
            made = [build.place(value, key)]
        elif isinstance(value, list) and value and all(_is_place(p) for p in value):
            made = [build.place(p, f"{key}[{i}]") for i, p in enumerate(value)]
        elif key == "gang" and isinstance(value, dict):
            made = [build.gang(value, "gang")]
        elif key in _DESCRIPTION_FIELDS and isinstance(value, str) and out.description is None:
            out.description = value
            continue
        if made:
            out.objects += made
        else:
            out.leftover[key] = value
    actors = [o for o in out.objects if o.type == "threat-actor"]
    if message_type == "gang_movement" and actors:
        out.objects.append(build.sighting(actors[0], point, payload))
        for key in ("observed_at", *_SIGHTING_FIELDS):
            out.leftover.pop(key, None)
    return out
