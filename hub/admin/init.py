"""Building a new deployment folder (``enlace init``), plain or as the nine-party demo.

A plain deployment (``enlace init DIR --party GT --party US``) holds the commission keys
of the parties named (those whose commission signs on this machine), a systems key per
party, a hub key, the trust root of those keys and directory version 1 with those parties
and no points of contact yet (add them with ``enlace keys new --poc ID --country CC
--agency ... --theme ...``).

The demo (``enlace init DIR --demo``) is all nine parties with every key on one machine:
a commission key per party, a point of contact per party and theme, a systems key per
party, a hub key, the directory signed by all nine, and a signed sample message of every
type. Demo keys are for trying Enlace out, never for real exchanges.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pycountry
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.admin.demo import write_demo_agreements
from hub.admin.directory import key_record, local_commission_key, sign_directory
from hub.deployment import Deployment
from hub.errors import InitError
from hub.governance.keystore import KeyKind, KeyStore
from hub.server.logins import ensure_credentials
from schemas.common import PARTIES, THEMES
from schemas.directory import Directory
from schemas.envelope import Sender
from schemas.govdoc import dump_yaml, rfc3339
from schemas.jws import sign_detached
from schemas.message import new_message
from schemas.registry import REGISTRY
from schemas.trust import load_directory, load_trust_root

__all__ = [
    "DEMO_AGENCIES",
    "DemoContext",
    "DemoSummary",
    "InitSummary",
    "check_can_init",
    "init_demo",
    "init_deployment",
    "party_name",
    "poc_id",
]

SETTINGS_TEMPLATE = """\
# Enlace settings of this deployment. ENLACE_* environment variables override a value
# here (e.g. ENLACE_NATS_PORT=4333), and command-line flags override both.
hub:
  # The embedded nats-server that `enlace up` starts listens here.
  nats_host: 127.0.0.1
  nats_port: 4222
  # To use an existing NATS server or cluster instead of the embedded one, set its URL:
  # nats_url: nats://127.0.0.1:4222
  # Largest message accepted, in bytes (1 MiB); larger ones are refused as too_large.
  max_message_bytes: 1048576
  # Messages issued longer ago than this are refused (replay protection).
  acceptance_window: 24h
  # How far in the future a sender's clock may be (issued_at after now).
  clock_skew: 5m
"""

TRUST_ROOT_HEADER = """\
# The trust root: each party's Security Commission public keys. It is the local anchor
# of all trust and is NOT signed (like X-Road's configuration anchor): install it out of
# band and compare it with the other parties (e.g. read the key ids and x values aloud).
# The directory and every sharing agreement must be signed by all parties listed here.
"""

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


def party_name(code: str) -> str:
    """The common (else official short) English name of a country from ISO 3166-1."""
    country = pycountry.countries.get(alpha_2=code)
    if country is None:
        raise InitError(f"{code!r} is not an ISO 3166-1 alpha-2 country code")
    return str(getattr(country, "common_name", None) or country.name)


@dataclass(frozen=True)
class InitSummary:
    """What ``enlace init`` made (no key material: kids and counts only)."""

    home: Path
    demo: bool
    parties: tuple[str, ...]
    pocs: int
    keys: int
    directory_version: int
    hub_kid: str
    samples: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "home": str(self.home),
            "demo": self.demo,
            "parties": list(self.parties),
            "pocs": self.pocs,
            "keys": self.keys,
            "directory_version": self.directory_version,
            "hub_kid": self.hub_kid,
            "samples": list(self.samples),
        }


DemoSummary = InitSummary
"""What :func:`init_demo` returns."""


@dataclass
class DemoContext:
    """What the steps of building a deployment share.

    Attributes:
        deployment: the folder being built.
        keystore: its private keys (commission keys of ``parties`` included).
        now: the time of the build; keys are valid from a day before it.
        parties: the parties, sorted.
        directory: the accepted directory version 1 (set once it is signed).
    """

    deployment: Deployment
    keystore: KeyStore
    now: datetime
    parties: tuple[str, ...]
    directory: Directory | None = None
    keys_made: int = 0
    samples: list[str] = field(default_factory=list)

    @property
    def accepted(self) -> Directory:
        """The accepted directory; only after it was written and signed."""
        if self.directory is None:
            raise InitError("the directory has not been written yet")
        return self.directory

    @property
    def not_before(self) -> datetime:
        # A day of margin so that a clock a little behind still sees the demo keys as valid.
        return self.now - timedelta(days=1)

    def new_key(self, kind: KeyKind, owner: str | None, kid: str) -> dict[str, Any]:
        """Create a private key and return its public record."""
        key = self.keystore.create(kind, owner, kid)
        self.keys_made += 1
        return key_record(kid, key, self.not_before)


def _layout_entries(deployment: Deployment) -> list[Path]:
    return [
        deployment.config_file,
        deployment.trust_root,
        deployment.directory,
        deployment.agreements_dir,
        deployment.keys_dir,
        deployment.state_dir,
    ]


def check_can_init(deployment: Deployment) -> None:
    """Refuse to build over an existing deployment (or part of one).

    Raises:
        InitError: naming what is already there.
    """
    if deployment.home.exists() and not deployment.home.is_dir():
        raise InitError(f"{deployment.home} exists and is not a folder", deployment.home)
    present = [p.name for p in _layout_entries(deployment) if p.exists()]
    if present:
        raise InitError(
            f"{deployment.home} already holds a deployment ({', '.join(present)}); "
            "nothing was changed — choose another folder or remove this one first",
            deployment.home,
        )


def _start(deployment: Deployment, parties: Iterable[str], now: datetime | None) -> DemoContext:
    check_can_init(deployment)
    codes = tuple(sorted(set(parties)))
    for code in codes:
        party_name(code)  # refuse a wrong code before anything is written
    deployment.home.mkdir(parents=True, exist_ok=True)
    for folder in (deployment.agreements_dir, deployment.state_dir):
        folder.mkdir(exist_ok=True)
    moment = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    return DemoContext(deployment, KeyStore(deployment.keys_dir), moment, codes)


def _write_trust_root(ctx: DemoContext) -> None:
    keys = []
    for code in ctx.parties:
        record = ctx.new_key(KeyKind.COMMISSION, code, f"{code.lower()}-commission-k1")
        keys.append({"party": code, **record})
    path = ctx.deployment.trust_root
    dump_yaml({"commission_keys": keys}, path)
    path.write_text(TRUST_ROOT_HEADER + path.read_text(encoding="utf-8"), encoding="utf-8")


def _directory_data(ctx: DemoContext, pocs: list[dict[str, Any]]) -> dict[str, Any]:
    parties = [
        {
            "code": code,
            "name": party_name(code),
            "role": "member",
            "keys": [ctx.new_key(KeyKind.PARTY, code, f"{code.lower()}-system-k1")],
        }
        for code in ctx.parties
    ]
    return {
        "version": 1,
        "issued_at": rfc3339(ctx.now),
        "parties": parties,
        "hub": {"id": "hub", "keys": [ctx.new_key(KeyKind.HUB, None, "hub-k1")]},
        "pocs": pocs,
    }


def _demo_pocs(ctx: DemoContext) -> list[dict[str, Any]]:
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


def _write_directory(ctx: DemoContext, pocs: list[dict[str, Any]]) -> None:
    dump_yaml(_directory_data(ctx, pocs), ctx.deployment.directory)
    outcome = sign_directory(ctx.deployment, parties=None, at=ctx.now)
    if not outcome.accepted:  # every commission key was just made here
        raise InitError(f"directory left unsigned by {', '.join(outcome.missing)}")
    trust_root = load_trust_root(ctx.deployment.trust_root)
    ctx.directory = load_directory(ctx.deployment.directory, trust_root, at=ctx.now)


def _write_settings(deployment: Deployment, extra: str = "") -> None:
    # Written last: its presence is what marks a folder as a complete deployment.
    deployment.config_file.write_text(SETTINGS_TEMPLATE + extra, encoding="utf-8")


def _demo_adapters(parties: Iterable[str]) -> str:
    """The demo's ``adapters:`` section: a folder sink per party under ``inbox/<CC>/``."""
    lines = [
        "",
        "# Sinks that `enlace up` runs: each party's deliveries land in inbox/<CC>/.",
        "adapters:",
    ]
    lines += [f"  {cc}: {{sink: folder, path: inbox/{cc}}}" for cc in parties]
    return "\n".join(lines) + "\n"


def init_deployment(
    deployment: Deployment, parties: Iterable[str], now: datetime | None = None
) -> InitSummary:
    """A plain deployment of ``parties`` whose commission keys are held on this machine.

    Raises:
        InitError: a deployment is already there, or a party code is wrong.
    """
    ctx = _start(deployment, parties, now)
    if not ctx.parties:
        raise InitError("name at least one party (--party CC), or use --demo")
    _write_trust_root(ctx)
    _write_directory(ctx, pocs=[])
    ensure_credentials(deployment, ctx.parties)
    _write_settings(deployment)
    return _summary(ctx, demo=False)


def init_demo(deployment: Deployment, now: datetime | None = None) -> DemoSummary:
    """The nine-party demo deployment, every key on this machine, with signed samples.

    Raises:
        InitError: a deployment is already there.
    """
    ctx = _start(deployment, PARTIES, now)
    _write_trust_root(ctx)
    _write_directory(ctx, _demo_pocs(ctx))
    _write_demo_governance(ctx)
    _write_samples(ctx)
    ensure_credentials(deployment, ctx.parties)
    _write_settings(deployment, _demo_adapters(ctx.parties))
    return _summary(ctx, demo=True)


def _write_demo_governance(ctx: DemoContext) -> None:
    """The demo's governance beyond the trust root and the directory.

    The single place where the demo gains its sharing agreements (``agreements/``, signed
    with the commission keys in ``ctx.keystore``) and its NATS credentials: add each as a
    call here. ``ctx.directory`` is the accepted directory; ``ctx.now`` the build time.
    """
    _write_demo_agreements(ctx)


def _write_demo_agreements(ctx: DemoContext) -> None:
    """The demo's sharing agreements (see :mod:`hub.admin.demo`), signed by every party."""
    trust_root = load_trust_root(ctx.deployment.trust_root)

    def commission_key(party: str) -> tuple[str, Ed25519PrivateKey]:
        found = local_commission_key(ctx.keystore, trust_root, party, ctx.now)
        if found is None:
            raise InitError(f"no commission key of {party} to sign the demo agreements")
        return found

    write_demo_agreements(ctx.deployment, commission_key, ctx.parties, ctx.now)


def _sample_sender(ctx: DemoContext, country: str, theme: str) -> tuple[Sender, str]:
    poc = ctx.accepted.poc(poc_id(country, theme))
    if poc is None:
        raise InitError(f"the demo directory has no point of contact {poc_id(country, theme)}")
    return Sender(country=country, agency=poc.agency, poc=poc.id), poc.id


def _write_samples(ctx: DemoContext) -> None:
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


def _summary(ctx: DemoContext, demo: bool) -> InitSummary:
    directory = ctx.accepted
    return InitSummary(
        home=ctx.deployment.home,
        demo=demo,
        parties=ctx.parties,
        pocs=len(directory.pocs),
        keys=ctx.keys_made,
        directory_version=directory.version,
        hub_kid=directory.hub.keys[0].kid,
        samples=tuple(ctx.samples),
    )
