"""The ``adapters:`` section of ``enlace.yaml``: which sinks each country runs.

A country switches a sink on with a few lines::

    adapters:
      GT:
        sink: folder
        path: inbox/GT            # relative to the deployment folder
      US:
        - sink: webhook
          url: https://intake.example.gov/enlace
          hmac_secret_env: US_WEBHOOK_SECRET
        - sink: postgres
          dsn_env: US_PG_DSN
          retry: {max_attempts: 12, backoff_max: 60}

A country's value is one sink or a list of them. Every key beside ``sink``, ``name`` and
``retry`` is an option of that sink (see each sink's ``Options``). ``name`` tells two
sinks of one kind apart (it names the durable consumer); it defaults to ``sink``.

``enlace up`` runs ``enlace adapter run --sink CC/NAME …`` for all of them: one process
(a FastStream app, :mod:`adapters.app`), one NATS connection per country. The NATS
address comes from ``--nats-url``, else ``ENLACE_NATS_URL``, else the hub settings of the
same file (``nats_url``, or ``nats_host``/``nats_port``, each under its ``ENLACE_*``
variable), else the default port.

A party kit's ``enlace.yaml`` (``enlace party kit``) names its country, ``party: GT``: the
adapters and sources then log in to NATS as that country (:mod:`adapters.connection`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from adapters.errors import AdapterConfigError
from schemas.common import CountryCode
from schemas.envelope import DEFAULT_MAX_BYTES
from schemas.errors import GovernanceFileError
from schemas.govdoc import GovDoc, load_document
from schemas.limits import IngressQuota

__all__ = [
    "AdaptersConfig",
    "RetrySettings",
    "SinkSettings",
    "ingress_quota_from",
    "load_adapters_config",
    "max_message_bytes_from",
    "nats_url_from",
    "parse_adapters_section",
    "party_from",
]


class RetrySettings(BaseModel):
    """How a runner retries transient failures: exponential backoff with full jitter."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_attempts: int = Field(8, ge=1, le=1000, description="then the delivery is dead-lettered")
    backoff_base: float = Field(0.5, gt=0, description="seconds before the first retry (mean)")
    backoff_max: float = Field(30.0, gt=0, description="longest wait between two attempts")


class SinkSettings(BaseModel):
    """One sink of one country; extra keys are the sink's own options."""

    model_config = ConfigDict(extra="allow", frozen=True)

    sink: str = Field(min_length=1, pattern=r"^[a-z][a-z0-9_]*$")
    name: str | None = Field(None, pattern=r"^[a-z][a-z0-9_-]*$")
    retry: RetrySettings = Field(default_factory=RetrySettings)

    @property
    def sink_name(self) -> str:
        """The name that tells this sink apart within its country."""
        return self.name or self.sink

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class AdaptersConfig(BaseModel):
    """Every country's sinks."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    countries: dict[CountryCode, list[SinkSettings]] = Field(default_factory=dict)

    def sinks_of(self, country: str) -> list[SinkSettings]:
        return list(self.countries.get(country, []))

    def sink(self, country: str, name: str | None = None) -> SinkSettings:
        """The sink ``name`` of ``country`` (the only one when ``name`` is None).

        Raises:
            AdapterConfigError: none configured, or several and no name given.
        """
        sinks = self.sinks_of(country)
        if not sinks:
            raise AdapterConfigError(
                f"no sink is configured for {country}; add `adapters: {{{country}: "
                "{sink: folder, path: inbox/" + country + "}}` to enlace.yaml"
            )
        if name is None:
            if len(sinks) > 1:
                names = ", ".join(s.sink_name for s in sinks)
                raise AdapterConfigError(f"{country} has several sinks ({names}); pick --sink")
            return sinks[0]
        for settings in sinks:
            if settings.sink_name == name:
                return settings
        raise AdapterConfigError(f"{country} has no sink named {name!r} in enlace.yaml")

    def entries(self) -> list[tuple[str, SinkSettings]]:
        """Every (country, sink) pair, in file order: what ``enlace up`` starts."""
        return [(cc, s) for cc, sinks in self.countries.items() for s in sinks]


def parse_adapters_section(data: Any, doc: GovDoc | None = None) -> AdaptersConfig:
    """Validate an ``adapters:`` value (mapping of country → sink or list of sinks)."""
    if data is None:
        return AdaptersConfig()
    if not isinstance(data, dict):
        problem = "must map country codes to a sink, e.g. {GT: {sink: folder, path: inbox/GT}}"
        if doc is not None:
            raise AdapterConfigError(doc.error(problem, ("adapters",)).description)
        raise AdapterConfigError(f"adapters: {problem}")
    countries = {cc: value if isinstance(value, list) else [value] for cc, value in data.items()}
    try:
        return AdaptersConfig(countries=countries)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(first["loc"])[1:]  # drop "countries"
        if len(loc) >= 2 and not isinstance(data.get(loc[0]), list):
            loc = (loc[0], *loc[2:])  # a single sink was wrapped in a list above
        problem = str(first["msg"])
        if doc is not None:
            raise AdapterConfigError(doc.error(problem, ("adapters", *loc)).description) from None
        raise AdapterConfigError(f"adapters.{'.'.join(map(str, loc))}: {problem}") from None


def _load(home: Path) -> GovDoc | None:
    path = home / "enlace.yaml"
    if not path.is_file():
        return None
    try:
        return load_document(path)
    except GovernanceFileError as exc:
        raise AdapterConfigError(f"{exc.description}; fix the file") from None


def load_adapters_config(home: Path) -> AdaptersConfig:
    """The ``adapters:`` section of ``<home>/enlace.yaml`` (empty when there is none).

    Raises:
        AdapterConfigError: names the file, the line and the field.
    """
    doc = _load(home)
    if doc is None:
        return AdaptersConfig()
    return parse_adapters_section(doc.data.get("adapters"), doc)


def _hub_settings(home: Path | None) -> dict[str, Any]:
    doc = _load(home) if home is not None else None
    if doc is None:
        return {}
    hub = doc.data.get("hub")
    return hub if isinstance(hub, dict) else doc.data


def nats_url_from(home: Path | None, flag: str | None = None) -> str:
    """Where the adapters reach NATS, by the hub's rule (:mod:`hub.config`): the flag, else
    ``nats_url`` (``ENLACE_NATS_URL`` over the file's), else the embedded server's
    ``nats_host``/``nats_port`` (``ENLACE_NATS_HOST``/``ENLACE_NATS_PORT`` over the file's)."""
    if flag:
        return flag
    section = _hub_settings(home)
    url = os.environ.get("ENLACE_NATS_URL") or section.get("nats_url")
    if url:
        return str(url)
    host = os.environ.get("ENLACE_NATS_HOST") or section.get("nats_host", "127.0.0.1")
    port = os.environ.get("ENLACE_NATS_PORT") or section.get("nats_port", 4222)
    return f"nats://{host}:{port}"


def party_from(home: Path | None) -> str | None:
    """The party this deployment folder belongs to (``party:`` of a party kit's
    ``enlace.yaml``, ``ENLACE_PARTY`` over it); None on the hub's own deployment.

    Raises:
        AdapterConfigError: the value is not a country code.
    """
    doc = _load(home) if home is not None else None
    value = os.environ.get("ENLACE_PARTY") or (doc.data.get("party") if doc else None)
    if value is None:
        return None
    party = str(value).strip().upper()
    if not (len(party) == 2 and party.isalpha()):
        raise AdapterConfigError(
            f"party {value!r} in enlace.yaml (or ENLACE_PARTY) is not a country code (e.g. GT)"
        )
    return party


def max_message_bytes_from(home: Path | None) -> int:
    """The deployment's message size limit (``hub.max_message_bytes``; 1 MiB by default)."""
    value = os.environ.get("ENLACE_MAX_MESSAGE_BYTES") or _hub_settings(home).get(
        "max_message_bytes"
    )
    return _count(value, "max_message_bytes", "bytes", DEFAULT_MAX_BYTES)


def ingress_quota_from(home: Path | None) -> IngressQuota:
    """Each country's ingress quota (``hub.jetstream.streams.ingress_max_*_per_party``), for the
    sources' refusal when it is full."""
    section = _hub_settings(home).get("streams")
    streams = section if isinstance(section, dict) else {}
    default = IngressQuota()
    found = []
    for name, unit, fallback in (
        ("ingress_max_bytes_per_party", "bytes", default.max_bytes),
        ("ingress_max_msgs_per_party", "messages", default.max_msgs),
    ):
        value = os.environ.get(f"ENLACE_STREAMS__{name.upper()}") or streams.get(name)
        found.append(_count(value, f"streams.{name}", unit, fallback))
    return IngressQuota(*found)


def _count(value: Any, name: str, unit: str, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except (TypeError, ValueError):
        raise AdapterConfigError(
            f"{name} {value!r} is not a number of {unit}; fix enlace.yaml"
        ) from None
