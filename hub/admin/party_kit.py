"""``enlace party kit CC DIR``: what country CC needs to run its side on its own machine.

A kit is a deployment folder of one party (``enlace --home DIR …`` or ``ENLACE_HOME=DIR``
on that party's machine), laid out as :class:`schemas.layout.Deployment`::

    enlace.yaml                 party: CC, the hub's NATS address, CC's sinks (adapters:)
    trust-root.yaml             the parties' commission public keys (the anchor)
    directory.yaml              the signed public directory
    state/directory.version     the directory version this deployment accepted
    nats/seeds/CC.nk            CC's NATS login (0600): publish as CC, read CC's deliveries
    keys/party/CC/<kid>.pem     CC's systems key (0600): its sinks sign receipts with it,
                                its witness cosigns the hub's audit checkpoints
    keys/poc/<poc>/<kid>.pem    CC's points of contact's keys (0600), only when asked
    nats/tls/ca.pem             the deployment CA: the kit's connections trust it, and no
                                other, to verify the hub's NATS (:data:`CA_PLACE`)

and nothing of any other party: no other seed, key, sink or agreement. The folder is 0700.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hub.config import load_settings
from hub.deployment import Deployment
from hub.errors import ConfigError, PartyKitError
from hub.server.logins import load_user
from hub.server.private_files import write_private
from schemas.directory import Directory
from schemas.govdoc import dump_yaml, load_document
from schemas.trust import ACCEPTED_VERSION_FILE, load_directory, load_trust_root

__all__ = ["CA_PLACE", "KitFile", "PartyKit", "make_party_kit"]

CA_PLACE = "nats/tls/ca.pem"
"""Where a kit carries the deployment CA (as :attr:`Deployment.tls_ca_cert` places it)."""

_HEADER = """\
# Party kit of {cc} for Enlace, made by `enlace party kit` on {when}.
# On {cc}'s machine: `enlace --home THIS_FOLDER adapter run --all` (its sinks below),
# `enlace --home THIS_FOLDER gateway`, `publish`, `verify`, `adapter status`, `witness`
# (it cosigns the hub's audit checkpoints with the systems key below): they log in
# to NATS as {cc} with nats/seeds/{cc}.nk (ENLACE_* variables override any value here).
# TLS: the hub's NATS is verified against the deployment CA in {ca}, and no other CA.
"""


@dataclass(frozen=True)
class KitFile:
    """One file written into a kit: where (relative to the kit), and whether it is secret."""

    path: str
    secret: bool

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "secret": self.secret, "mode": "0600" if self.secret else "0644"}


@dataclass
class PartyKit:
    """What ``enlace party kit`` wrote (paths only, never a secret)."""

    country: str
    folder: Path
    nats_url: str
    files: list[KitFile] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """The kit as JSON-ready data (``--json``)."""
        return {
            "country": self.country,
            "folder": str(self.folder),
            "nats_url": self.nats_url,
            "files": [f.as_dict() for f in self.files],
        }


class _Writer:
    """Writes into the kit's folder, recording each file."""

    def __init__(self, kit: PartyKit) -> None:
        self.kit = kit

    def _target(self, relative: str) -> Path:
        target = self.kit.folder / relative
        folder = self.kit.folder
        for part in Path(relative).parts[:-1]:  # each one 0700 (parents=True would not be)
            folder = folder / part
            folder.mkdir(mode=0o700, exist_ok=True)
        return target

    def public(self, relative: str, data: bytes) -> None:
        target = self._target(relative)
        target.write_bytes(data)
        target.chmod(0o644)
        self.kit.files.append(KitFile(relative, secret=False))

    def secret(self, relative: str, source: Path) -> None:
        write_private(self._target(relative), source.read_bytes())
        self.kit.files.append(KitFile(relative, secret=True))

    def secrets_of(self, relative_dir: str, source_dir: Path) -> int:
        found = sorted(source_dir.glob("*.pem")) if source_dir.is_dir() else []
        for pem in found:
            self.secret(f"{relative_dir}/{pem.name}", pem)
        return len(found)


def _prepare_folder(folder: Path, home: Path, force: bool) -> None:
    if folder.resolve() == home.resolve() or home.resolve() in folder.resolve().parents:
        raise PartyKitError(
            f"{folder} is inside the deployment {home}; choose a folder outside it", folder
        )
    if folder.exists() and not folder.is_dir():
        raise PartyKitError(f"{folder} is a file, not a folder", folder)
    if folder.is_dir() and any(folder.iterdir()):
        if not force:
            raise PartyKitError(
                f"{folder} is not empty; give an empty folder, or --force to write over the "
                "kit in it (its seeds and keys are replaced)",
                folder,
            )
        # An older kit there may be another party's: none of its secrets may remain.
        for stale in (folder / "nats" / "seeds", folder / "keys"):
            shutil.rmtree(stale, ignore_errors=True)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder.chmod(0o700)


def _directory(dep: Deployment) -> Directory:
    return load_directory(dep.directory, load_trust_root(dep.trust_root))


def _settings(dep: Deployment, country: str, nats_url: str) -> dict[str, Any]:
    """The kit's ``enlace.yaml``: its party, the hub's address and limits, its own sinks."""
    hub = load_settings(dep.home)
    data = load_document(dep.config_file).data
    adapters = data.get("adapters")
    sinks = adapters.get(country) if isinstance(adapters, dict) else None
    settings: dict[str, Any] = {
        "party": country,
        "hub": {
            "nats_url": nats_url,
            "max_message_bytes": hub.max_message_bytes,
            "streams": {
                "ingress_max_bytes_per_party": hub.streams.ingress_max_bytes_per_party,
                "ingress_max_msgs_per_party": hub.streams.ingress_max_msgs_per_party,
            },
        },
    }
    if sinks is not None:
        settings["adapters"] = {country: sinks}
    return settings


def make_party_kit(
    dep: Deployment,
    country: str,
    folder: Path,
    nats_url: str | None = None,
    with_poc_keys: bool = False,
    force: bool = False,
) -> PartyKit:
    """Write country ``country``'s party kit into ``folder`` (see the module).

    Args:
        dep: the hub's deployment, which holds every party's login and keys.
        country: the party the kit is for.
        folder: where to write it (empty, or ``force``).
        nats_url: the hub's NATS as the party reaches it (default: the deployment's).
        with_poc_keys: also the private keys of the party's points of contact.
        force: write into a folder that is not empty (its seeds and keys are replaced).

    Returns:
        What was written (paths, never a secret).

    Raises:
        PartyKitError: ``country`` is no party of the directory, its seed or systems key is
            not here, or ``folder`` is not usable.
        ConfigError: the deployment's settings or logins are wrong.
        GovernanceError: the directory or trust root does not verify.
    """
    country = country.upper()
    directory = _directory(dep)
    if directory.party(country) is None:
        known = " ".join(sorted(p.code for p in directory.parties))
        raise PartyKitError(f"{country} is not a party of the directory (parties: {known})", folder)
    try:
        login = load_user(dep, country)
    except ConfigError as exc:
        raise PartyKitError(f"{country}'s NATS login: {exc.description}", folder) from None
    url = nats_url or load_settings(dep.home).url
    _prepare_folder(folder, dep.home, force)
    kit = PartyKit(country, folder, url)
    out = _Writer(kit)
    out.secret(f"nats/seeds/{country}.nk", login.seed_file)
    if not out.secrets_of(f"keys/party/{country}", dep.keys_dir / "party" / country):
        raise PartyKitError(
            f"no systems key of {country} in {dep.keys_dir / 'party' / country}: its sinks "
            f"could not sign receipts; make one with `enlace keys new --party {country}`",
            folder,
        )
    if with_poc_keys:
        for poc in directory.pocs:
            if poc.country == country:
                out.secrets_of(f"keys/poc/{poc.id}", dep.keys_dir / "poc" / poc.id)
    if dep.tls_ca_cert.is_file():  # the CA its connections verify the hub's NATS against
        out.public(CA_PLACE, dep.tls_ca_cert.read_bytes())
    out.public("trust-root.yaml", dep.trust_root.read_bytes())
    out.public("directory.yaml", dep.directory.read_bytes())
    accepted = dep.state_dir / ACCEPTED_VERSION_FILE
    if accepted.is_file():
        out.public(f"state/{ACCEPTED_VERSION_FILE}", accepted.read_bytes())
    config = kit.folder / "enlace.yaml"
    dump_yaml(_settings(dep, country, url), config)
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    text = _HEADER.format(cc=country, when=when, ca=CA_PLACE) + config.read_text(encoding="utf-8")
    config.write_text(text, encoding="utf-8")
    os.chmod(config, 0o644)
    kit.files.append(KitFile("enlace.yaml", secret=False))
    return kit
