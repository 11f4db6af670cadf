"""Building a new deployment folder (``enlace init``), plain or as the nine-party demo.

A plain deployment (``enlace init DIR --party GT --party US``) holds the commission keys
of the parties named (those whose commission signs on this machine), a systems key per
party, a hub key, the trust root of those keys and directory version 1 with those parties
and no points of contact yet (add them with ``enlace keys new --poc ID --country CC
--agency ... --theme ...``).

The demo (``enlace init DIR --demo``) is all nine parties with every key on one machine:
a commission key per party, a point of contact per party and theme, a systems key per
party, a hub key, the directory signed by all nine, and a signed sample message of every
type. Demo keys are for trying Enlace out, never for real exchanges. What the demo holds
beyond keys is :mod:`hub.admin.demo_content` (points of contact, samples) and
:mod:`hub.admin.demo` (agreements).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.admin.build import DemoContext, InitError, party_name
from hub.admin.demo import write_demo_agreements
from hub.admin.demo_content import demo_pocs, write_samples
from hub.admin.directory import local_commission_key, sign_directory
from hub.deployment import Deployment
from hub.governance.keystore import KeyKind, KeyStore
from hub.server.logins import ensure_credentials
from hub.server.tls import init_tls, server_names
from schemas.common import PARTIES
from schemas.govdoc import dump_yaml, rfc3339
from schemas.trust import load_directory, load_trust_root

__all__ = [
    "DemoSummary",
    "InitError",
    "InitSummary",
    "check_can_init",
    "init_demo",
    "init_deployment",
]

SETTINGS_TEMPLATE = """\
# Enlace settings of this deployment. ENLACE_* environment variables override a value
# here (e.g. ENLACE_NATS_PORT=4333), and command-line flags override both.
hub:
  # This deployment's own name: its audit log is enlace.<deployment_id> in its checkpoints.
  deployment_id: "{deployment_id}"
  # The embedded nats-server that `enlace up` starts listens here, with TLS (the
  # deployment CA's certificate in nats/tls/, made by `enlace tls init`). Listening
  # beyond loopback (e.g. 0.0.0.0) needs the names other machines use in the certificate:
  # list them here and run `enlace tls init` again.
  nats_host: 127.0.0.1
  nats_port: 4222
  # tls_names: [nats.example.org, 192.0.2.10]
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
        """The summary as JSON-ready data (``--json``)."""
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
        raise InitError(f"{deployment.home} exists and is not a folder")
    present = [p.name for p in _layout_entries(deployment) if p.exists()]
    if present:
        raise InitError(
            f"{deployment.home} already holds a deployment ({', '.join(present)}); "
            "nothing was changed — choose another folder or remove this one first"
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


def _write_directory(ctx: DemoContext, pocs: list[dict[str, Any]]) -> None:
    dump_yaml(_directory_data(ctx, pocs), ctx.deployment.directory)
    outcome = sign_directory(ctx.deployment, parties=None, at=ctx.now)
    if not outcome.accepted:  # every commission key was just made here
        raise InitError(f"directory left unsigned by {', '.join(outcome.missing)}")
    trust_root = load_trust_root(ctx.deployment.trust_root)
    ctx.directory = load_directory(ctx.deployment.directory, trust_root, at=ctx.now)


def _write_settings(deployment: Deployment, extra: str = "") -> None:
    """The deployment's id, its NATS TLS material (for the template's loopback address),
    then ``enlace.yaml``."""
    deployment_id = secrets.token_hex(6)
    init_tls(deployment, server_names("127.0.0.1", []), deployment_id)
    # Written last: its presence is what marks a folder as a complete deployment.
    text = SETTINGS_TEMPLATE.format(deployment_id=deployment_id) + extra
    deployment.config_file.write_text(text, encoding="utf-8")


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

    Args:
        deployment: the folder to build (it must not hold a deployment yet).
        parties: the country codes of the parties.
        now: the time of the build; None for now.

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
    _write_directory(ctx, demo_pocs(ctx))
    _write_demo_governance(ctx)
    write_samples(ctx)
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
