"""The demo's content: an agency and a point of contact per party and theme, and a signed
sample message of every type (``samples/``), requests from Guatemala answered by the
United States.
"""

from __future__ import annotations

import json
from typing import Any

from hub.admin.build import DemoContext, InitError
from hub.governance.keystore import KeyKind
from schemas.common import THEMES
from schemas.envelope import Sender
from schemas.jws import sign_detached
from schemas.message import new_message
from schemas.registry import REGISTRY

__all__ = ["DEMO_AGENCIES", "DEMO_RESPONDER", "DEMO_SENDER", "demo_pocs", "poc_id", "write_samples"]

DEMO_AGENCIES: dict[str, dict[str, str]] = {
    # country -> theme -> agency; "*" is the agency for the themes not listed.
    "BZ": {
        "*": "Belize Police Department",
        "narcotics": "Belize Police Department – Anti-Drug Unit",
        "border_security": "Belize Immigration and Nationality Department",
        "natural_disasters": "National Emergency Management Organization (NEMO)",
        "trafficking_in_persons": "Anti-Trafficking in Persons Council",
        "terrorism": "Belize Defence Force",
    },
    "CR": {
        "*": "Organismo de Investigación Judicial (OIJ)",
        "narcotics": "Instituto Costarricense sobre Drogas (ICD)",
        "small_arms": "Dirección General de Armamento",
        "border_security": "Dirección General de Migración y Extranjería",
        "natural_disasters": "Comisión Nacional de Prevención de Riesgos y Atención de "
        "Emergencias (CNE)",
        "trafficking_in_persons": "Coalición Nacional contra el Tráfico Ilícito de Migrantes y "
        "la Trata de Personas (CONATT)",
        "terrorism": "Dirección de Inteligencia y Seguridad Nacional (DIS)",
    },
    "DO": {
        "*": "Policía Nacional",
        "narcotics": "Dirección Nacional de Control de Drogas (DNCD)",
        "small_arms": "Ministerio de Interior y Policía",
        "organized_crime": "Procuraduría General de la República",
        "border_security": "Cuerpo Especializado de Seguridad Fronteriza Terrestre (CESFRONT)",
        "natural_disasters": "Centro de Operaciones de Emergencias (COE)",
        "terrorism": "Departamento Nacional de Investigaciones (DNI)",
    },
    "GT": {
        "*": "Policía Nacional Civil",
        "narcotics": "Subdirección General de Análisis e Información Antinarcótica, PNC",
        "small_arms": "Dirección General de Control de Armas y Municiones (DIGECAM)",
        "organized_crime": "Ministerio Público – Fiscalía contra el Crimen Organizado",
        "border_security": "Instituto Guatemalteco de Migración",
        "natural_disasters": "Coordinadora Nacional para la Reducción de Desastres (CONRED)",
        "trafficking_in_persons": "Secretaría contra la Violencia Sexual, Explotación y Trata "
        "de Personas (SVET)",
        "terrorism": "Dirección General de Inteligencia Civil (DIGICI)",
    },
    "HN": {
        "*": "Policía Nacional de Honduras",
        "gangs": "Dirección Policial Anti Maras y Pandillas contra el Crimen Organizado (DIPAMPCO)",
        "narcotics": "Dirección de Lucha contra el Narcotráfico (DLCN)",
        "organized_crime": "Ministerio Público – Fiscalía Especial contra el Crimen Organizado",
        "border_security": "Instituto Nacional de Migración",
        "natural_disasters": "Comisión Permanente de Contingencias (COPECO)",
        "trafficking_in_persons": "Comisión Interinstitucional contra la Explotación Sexual "
        "Comercial y Trata de Personas (CICESCT)",
    },
    "NI": {
        "*": "Policía Nacional",
        "border_security": "Dirección General de Migración y Extranjería",
        "natural_disasters": "Sistema Nacional para la Prevención, Mitigación y Atención de "
        "Desastres (SINAPRED)",
    },
    "PA": {
        "*": "Policía Nacional",
        "narcotics": "Servicio Nacional Aeronaval (SENAN)",
        "small_arms": "Dirección Institucional en Asuntos de Seguridad Pública (DIASP)",
        "organized_crime": "Dirección de Investigación Judicial (DIJ)",
        "border_security": "Servicio Nacional de Fronteras (SENAFRONT)",
        "natural_disasters": "Sistema Nacional de Protección Civil (SINAPROC)",
        "trafficking_in_persons": "Comisión Nacional contra la Trata de Personas",
        "terrorism": "Servicio Nacional de Inteligencia y Seguridad (SENIS)",
    },
    "SV": {
        "*": "Policía Nacional Civil",
        "narcotics": "Policía Nacional Civil – División Antinarcóticos",
        "organized_crime": "Fiscalía General de la República",
        "border_security": "Dirección General de Migración y Extranjería",
        "natural_disasters": "Dirección General de Protección Civil",
        "trafficking_in_persons": "Consejo Nacional contra la Trata de Personas",
        "terrorism": "Organismo de Inteligencia del Estado (OIE)",
    },
    "US": {
        "*": "Federal Bureau of Investigation (FBI)",
        "narcotics": "Drug Enforcement Administration (DEA)",
        "small_arms": "Bureau of Alcohol, Tobacco, Firearms and Explosives (ATF)",
        "border_security": "U.S. Customs and Border Protection (CBP)",
        "natural_disasters": "Federal Emergency Management Agency (FEMA)",
        "trafficking_in_persons": "Homeland Security Investigations (HSI)",
    },
}

DEMO_SENDER = "GT"
"""The country whose points of contact send the demo samples."""

DEMO_RESPONDER = "US"
"""The country whose points of contact answer the demo requests."""

_REQUEST_OF = {
    "information_response": "information_request",
    "firearm_trace_result": "firearm_trace_request",
}
"""The request type each reply type answers (the sample reply carries its id)."""


def poc_id(country: str, theme: str) -> str:
    """The demo's id of ``country``'s point of contact for ``theme`` (``gt-small-arms``)."""
    return f"{country.lower()}-{theme.replace('_', '-')}"


def demo_pocs(ctx: DemoContext) -> list[dict[str, Any]]:
    """The directory entries of one point of contact per party and theme, each with a new
    key (its private half in ``ctx.keystore``)."""
    pocs = []
    for code in ctx.parties:
        agencies = DEMO_AGENCIES.get(code, {})
        for theme in THEMES:
            pid = poc_id(code, theme)
            pocs.append(
                {
                    "id": pid,
                    "country": code,
                    "agency": agencies.get(theme) or agencies.get("*") or f"Police of {code}",
                    "themes": [theme],
                    "contact": {"email": f"{pid}@enlace.example"},
                    "keys": [ctx.new_key(KeyKind.POC, pid, f"{pid}-k1")],
                }
            )
    return pocs


def _sample_sender(ctx: DemoContext, country: str, theme: str) -> tuple[Sender, str]:
    poc = ctx.accepted.poc(poc_id(country, theme))
    if poc is None:
        raise InitError(f"the demo directory has no point of contact {poc_id(country, theme)}")
    return Sender(country=country, agency=poc.agency, poc=poc.id), poc.id


def write_samples(ctx: DemoContext) -> None:
    """``samples/<type>.json`` and its ``.jws`` for every type, signed by its sender's POC."""
    directory = ctx.accepted
    ctx.deployment.samples_dir.mkdir(exist_ok=True)
    requests = set(_REQUEST_OF.values())
    types = REGISTRY.types()
    ordered = [t for t in types if t in requests] + [t for t in types if t not in requests]
    sent: dict[str, dict[str, Any]] = {}
    for type_ in ordered:
        fields: dict[str, Any] = {}
        theme = REGISTRY.themes_for(type_, REGISTRY.latest(type_))[0]
        country = DEMO_SENDER
        request = sent.get(_REQUEST_OF.get(type_, ""))
        if request is not None:
            theme = request["theme"]
            country = DEMO_RESPONDER
            fields["in_reply_to"] = request["id"]
            if "correlation_id" in request:
                fields["correlation_id"] = request["correlation_id"]
        elif type_ in requests:
            fields["to"] = [DEMO_RESPONDER]
        sender, pid = _sample_sender(ctx, country, theme)
        message = new_message(type_, sender, theme=theme, **fields)
        sent[type_] = message
        raw = (json.dumps(message, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
        kid, key = ctx.keystore.current_poc_key(directory, pid, at=ctx.now)
        path = ctx.deployment.samples_dir / f"{type_}.json"
        path.write_bytes(raw)
        path.with_name(path.name + ".jws").write_text(
            sign_detached(raw, key, kid), encoding="ascii"
        )
        ctx.samples.append(path.name)
