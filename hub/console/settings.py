"""The console's settings: ``console:`` in ``<home>/enlace.yaml``, then ``ENLACE_CONSOLE_*``.

Example ``enlace.yaml``::

    console:
      host: 127.0.0.1   # loopback only until the console serves TLS
      port: 8400
      stalled_seconds: 120  # the Adapters page: deliveries waiting, no receipt this long
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from hub.console.errors import ConsoleBindRefused
from hub.errors import ConfigError
from schemas.errors import GovernanceFileError
from schemas.govdoc import load_document

__all__ = ["ConsoleSettings", "check_loopback", "load_console_settings"]


class ConsoleSettings(BaseSettings):
    """Where the console listens and how long a login lasts."""

    model_config = SettingsConfigDict(env_prefix="ENLACE_CONSOLE_", extra="forbid")

    host: str = Field("127.0.0.1", description="listen address: loopback only (no TLS yet)")
    port: int = Field(8400, ge=0, le=65535, description="listen port (0: any free port)")
    session_hours: float = Field(8.0, gt=0, le=24 * 7, description="how long a login lasts")
    login_attempts: int = Field(5, ge=1, description="failed logins per client per window")
    login_window_seconds: float = Field(60.0, gt=0, description="the rate limit's window")
    stalled_seconds: float = Field(
        120.0, gt=0, description="deliveries waiting, no receipt this long: stalled"
    )

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"


def check_loopback(host: str) -> None:
    """Refuse a listen address beyond this machine: the console has no TLS yet.

    Raises:
        ConsoleBindRefused: ``host`` is not a loopback address or ``localhost``.
    """
    if host == "localhost":
        return
    try:
        if ipaddress.ip_address(host).is_loopback:
            return
    except ValueError:
        pass  # a name other than localhost could resolve anywhere
    raise ConsoleBindRefused(host)


def load_console_settings(home: Path | None = None, **flags: Any) -> ConsoleSettings:
    """The console settings of the deployment at ``home``, the environment and ``flags``.

    Flags over ``ENLACE_CONSOLE_*`` over the file's ``console:`` section; flags given as
    None are ignored (a click option left unset).

    Raises:
        ConfigError: a value is wrong (names the setting).
    """
    file_data: dict[str, Any] = {}
    path = home / "enlace.yaml" if home is not None else None
    if path is not None and path.is_file():
        try:
            section = load_document(path).data.get("console")
        except GovernanceFileError as exc:
            raise ConfigError(f"{exc.description}; fix the file") from None
        if isinstance(section, dict):
            file_data = section

    class _FromFile(ConsoleSettings):
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            return (init_settings, env_settings, _Mapping(settings_cls, file_data))

    try:
        loaded = _FromFile(**{k: v for k, v in flags.items() if v is not None})
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise ConfigError(
            f"setting console.{field} (enlace.yaml or ENLACE_CONSOLE_{field.upper()}): "
            f"{first['msg']}"
        ) from None
    return ConsoleSettings.model_validate(loaded.model_dump())


class _Mapping(PydanticBaseSettingsSource):
    def __init__(self, settings_cls: type[BaseSettings], data: dict[str, Any]) -> None:
        super().__init__(settings_cls)
        self._data = data

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ returns the whole mapping

    def __call__(self) -> dict[str, Any]:
        return dict(self._data)
