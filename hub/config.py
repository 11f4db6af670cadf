"""The hub's settings: ``<home>/enlace.yaml``, then ``ENLACE_*`` variables, then CLI flags.

Each later source overrides the earlier ones, field by field. The file's hub settings are
either its top-level keys or, when present, its ``hub:`` section (other sections belong to
other parts: adapters, console). A wrong value fails with the file, its line and the
field (:class:`~hub.errors.ConfigError`), or with the variable's name.

Example ``enlace.yaml``::

    hub:
      nats_port: 4222
      acceptance_window: 24h
      clock_skew: 5m
      seen_ids: bucket          # audit: the audit log claims ids (docs/replay.md)
      workers: 2
      uvloop: true              # false: asyncio's own event loop
      metrics_port: 9464        # Prometheus /metrics; off when absent
      metrics_host: 127.0.0.1   # 0.0.0.0 to let another machine scrape it
      streams:
        replicas: 1
        max_age: 30d
        ingress_max_bytes_per_party: 1073741824   # each country's unprocessed backlog
        ingress_max_msgs_per_party: 100000
        outcome_max_age: 7d                       # outcomes a sender may collect later
        outcome_max_msgs_per_party: 1000000
"""

from __future__ import annotations

import os
import re
from contextvars import ContextVar
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from hub.errors import ConfigError
from schemas.errors import GovernanceFileError
from schemas.govdoc import load_document
from schemas.limits import IngressQuota

__all__ = ["HubSettings", "StreamSettings", "load_settings", "parse_duration"]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


def parse_duration(value: Any) -> Any:
    """``"24h"``, ``"5m"``, ``"30s"``, ``"250ms"``, ``"7d"`` or a number of seconds → timedelta.

    Anything else is passed on for pydantic to accept (timedelta, ISO 8601) or refuse.
    """
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=value)
    if isinstance(value, str):
        match = _DURATION.fullmatch(value)
        if match:
            return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StreamSettings(_Strict):
    """Limits, retention and replicas of the hub's streams (applied on every ``enlace up``)."""

    replicas: int = Field(1, ge=1, le=5, description="1 on one server; 3 on a cluster")
    max_age: timedelta = Field(timedelta(days=30), description="how long messages are kept")
    max_bytes: int = Field(
        -1, description="per shared stream (not the ingress streams); -1 = no limit beyond the disk"
    )
    ingress_max_bytes_per_party: int = Field(
        IngressQuota().max_bytes,
        ge=1,
        description="each country's ingress quota: bytes it may have published that the hub "
        "has not finished; beyond it the country's publishes are refused (the others' not)",
    )
    ingress_max_msgs_per_party: int = Field(
        IngressQuota().max_msgs,
        ge=1,
        description="each country's ingress quota: messages it may have published that the "
        "hub has not finished",
    )
    ingress_duplicate_window: timedelta = Field(
        timedelta(minutes=2), description="JetStream de-duplication of publishes (Nats-Msg-Id)"
    )
    delivery_duplicate_window: timedelta = Field(
        timedelta(hours=2),
        description="must exceed the longest hub outage with messages in flight",
    )
    outcome_max_age: timedelta = Field(
        timedelta(days=7),
        description="how long a sender may collect the hub's outcome of its message "
        "(`enlace outcome ID`)",
    )
    outcome_max_msgs_per_party: int = Field(
        1_000_000,
        ge=1,
        description="outcomes kept per country; beyond it the oldest go first",
    )

    @property
    def ingress_quota(self) -> IngressQuota:
        """Each country's ingress quota, as the publishing clients describe it."""
        return IngressQuota(self.ingress_max_bytes_per_party, self.ingress_max_msgs_per_party)

    @field_validator(
        "max_age",
        "ingress_duplicate_window",
        "delivery_duplicate_window",
        "outcome_max_age",
        mode="before",
    )
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return parse_duration(value)


class HubSettings(BaseSettings):
    """Everything ``enlace up``, the hub workers and ``enlace publish`` may be told."""

    model_config = SettingsConfigDict(
        env_prefix="ENLACE_", env_nested_delimiter="__", extra="forbid", validate_default=True
    )

    nats_url: str | None = Field(
        None,
        description="an existing server or cluster (comma-separated URLs); "
        "none = start the embedded server",
    )
    deployment_id: str | None = Field(
        None,
        pattern=r"^[a-z0-9][a-z0-9.-]{0,62}$",
        description="this deployment's own name (written by `enlace init`); the audit log "
        "is named enlace.<deployment_id> in its checkpoints",
    )
    nats_host: str = Field("127.0.0.1", description="embedded server: listen address")
    nats_tls: bool = Field(
        True,
        description="embedded server: TLS with the deployment CA's certificate (`enlace tls "
        "init`); false is allowed on a loopback address only",
    )
    tls_names: list[str] = Field(
        default_factory=list,
        description="more names (DNS or IP) the server certificate carries, those other "
        "machines reach NATS by (`enlace tls init` uses them)",
    )
    nats_port: int = Field(4222, ge=1, le=65535, description="embedded server: client port")
    nats_http_port: int | None = Field(None, description="embedded server: monitoring port")
    max_message_bytes: int = Field(1024 * 1024, ge=1024, description="larger is refused")
    acceptance_window: timedelta = Field(
        timedelta(hours=24), description="messages issued longer ago are refused as replays"
    )
    clock_skew: timedelta = Field(
        timedelta(minutes=5), description="how far in the future issued_at may be"
    )
    seen_ids: Literal["bucket", "audit"] = Field(
        "bucket",
        description="where accepted ids are claimed: `bucket`, a KV create in "
        "`enlace_routes` whose value is the message's routing record (no write of its own); "
        "`audit`, the audit log's received entry, beside which the routing record is a "
        "write of its own (measured slower: see docs/replay.md). Every hub process of a "
        "deployment must use the same",
    )
    request_memory: timedelta = Field(
        timedelta(days=30), description="how long the hub remembers who sent a request"
    )
    onward_memory: timedelta = Field(
        timedelta(days=365),
        description="how long the hub remembers who sent a no_onward message (and refuses "
        "passing it on without that sender's consent)",
    )
    workers: int = Field(2, ge=1, le=64, description="hub workers per process")
    fetch_batch: int = Field(64, ge=1, le=1024, description="messages pulled per fetch")
    uvloop: bool = Field(
        True,
        description="run `enlace up`'s event loop on uvloop (libuv) where it is installed; "
        "false: asyncio's own loop",
    )
    ack_wait: timedelta = Field(
        timedelta(seconds=30), description="INGRESS redelivers an unacked message after this"
    )
    max_deliver: int = Field(-1, description="INGRESS redeliveries before giving up; -1 = never")
    poison_after: int = Field(
        10,
        ge=1,
        description="attempts that fail inside the hub before a message is quarantined "
        "(reason hub_error) instead of retried",
    )
    metrics_port: int | None = Field(
        None, ge=1, le=65535, description="Prometheus metrics port; none = off"
    )
    metrics_host: str = Field(
        "127.0.0.1", description="address the metrics endpoint listens on (0.0.0.0: all)"
    )
    log_format: Literal["console", "json"] = "console"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    adapters: list[str] = Field(
        default_factory=list, description="countries whose sink adapters `enlace up` runs"
    )
    streams: StreamSettings = Field(default_factory=StreamSettings)

    @field_validator(
        "acceptance_window",
        "clock_skew",
        "request_memory",
        "onward_memory",
        "ack_wait",
        mode="before",
    )
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return parse_duration(value)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Flags (init) over environment over the file: the order people expect.
        return (init_settings, env_settings, _YamlSource(settings_cls))

    @property
    def embedded(self) -> bool:
        """Whether ``enlace up`` starts its own nats-server."""
        return self.nats_url is None

    @property
    def url(self) -> str:
        return self.nats_url or f"nats://{self.nats_host}:{self.nats_port}"

    @property
    def audit_origin(self) -> str | None:
        """The name a new audit log takes in its checkpoints (C2SP origin), if known."""
        return f"enlace.{self.deployment_id}" if self.deployment_id else None


_FILE_DATA: ContextVar[dict[str, Any] | None] = ContextVar("enlace_settings_file", default=None)
"""The file's hub settings for the source below, set by :func:`load_settings` while it builds."""


class _YamlSource(PydanticBaseSettingsSource):
    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ returns the whole mapping

    def __call__(self) -> dict[str, Any]:
        return dict(_FILE_DATA.get() or {})


def _hub_section(path: Path) -> tuple[dict[str, Any], tuple[str, ...]]:
    doc = load_document(path)
    section = doc.data.get("hub")
    if isinstance(section, dict):
        return section, ("hub",)
    known = set(HubSettings.model_fields)
    # A top-level ``adapters:`` mapping is the adapters' own section, not the hub's list.
    return {
        k: v
        for k, v in doc.data.items()
        if k in known and not (k == "adapters" and isinstance(v, dict))
    }, ()


def load_settings(home: Path | None = None, **flags: Any) -> HubSettings:
    """The settings of the deployment at ``home`` (if any), the environment and ``flags``.

    Flags given as None are ignored (a click option left unset).

    Raises:
        ConfigError: a value is wrong; names the file and line, or the variable, and the field.
    """
    flags = {k: v for k, v in flags.items() if v is not None}
    path = home / "enlace.yaml" if home is not None else None
    data: dict[str, Any] = {}
    prefix: tuple[str, ...] = ()
    if path is not None and path.is_file():
        try:
            data, prefix = _hub_section(path)
        except GovernanceFileError as exc:
            raise ConfigError(f"{exc.description}; fix the file") from None
    token = _FILE_DATA.set(data)
    try:
        return HubSettings(**flags)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(str(p) for p in first["loc"])
        dotted = ".".join(loc)
        where = _where(path, prefix, loc, data, flags)
        raise ConfigError(f"{where}: setting {dotted!r}: {first['msg']}") from None
    finally:
        _FILE_DATA.reset(token)


def _where(
    path: Path | None,
    prefix: tuple[str, ...],
    loc: tuple[str, ...],
    data: dict[str, Any],
    flags: dict[str, Any],
) -> str:
    """Which source gave the wrong value: the flag, the variable or the file (with its line)."""
    if loc and loc[0] in flags:
        return f"command-line option --{loc[0].replace('_', '-')}"
    env = "ENLACE_" + "__".join(loc).upper()
    if env in os.environ or (loc and f"ENLACE_{loc[0].upper()}" in os.environ):
        return f"environment variable {env if env in os.environ else 'ENLACE_' + loc[0].upper()}"
    if path is not None and loc and loc[0] in data:
        line = load_document(path).line_of((*prefix, *loc))
        return f"{path}:{line}"
    return "settings"
