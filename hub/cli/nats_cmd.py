"""``enlace nats logins|authorization|rotate``: the deployment's NATS logins (nkeys).

Public keys and permissions only: no command here prints, logs or returns a seed. A
rotation writes the login's new seed to ``nats/seeds/<NAME>.nk`` (0600) and, when
``enlace up`` runs here with its embedded server, has it reload its config (SIGHUP, as
``enlace reload``) and checks that the new seed is accepted. The server then closes the
connections that logged in with the old key; ``enlace up`` restarts that country's
adapters, which read the new seed from the same file.
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path
from typing import Any

import click
import nats
import nats.errors

from hub.cli.context import CliContext, fail, pass_cli, print_json
from hub.cli.exit_codes import ExitCode
from hub.config import HubSettings, load_settings
from hub.deployment import Deployment
from hub.errors import ConfigError
from hub.server.logins import (
    HUB_USER,
    OPERATOR_USER,
    SYSTEM_USER,
    authorization_block,
    load_user,
    login_permissions,
    read_logins,
    rotate_login,
    seed_path,
)
from hub.server.operator_access import QUIET_CONNECT
from hub.up.runner import pid_file
from hub.up.sinks import delivery_consumers, sink_pairs, sink_register
from schemas.errors import EnlaceError

__all__ = ["hub_pid", "nats_group"]

_WAIT = 30.0
# Subjects that say what a login is for; the JetStream API ones are counted, not listed.
_API_PREFIXES = ("$JS.", "$KV.")


@click.group(
    "nats",
    help="NATS logins of the deployment (one nkey per party, the hub, the operator and the "
    "server's system account): "
    "list them, print the server's authorization block, replace a login. Seeds are never "
    "printed.",
)
def nats_group() -> None:
    pass


def _logins(deployment: Deployment) -> dict[str, str]:
    """name → public key, or exit 1 saying what to do (an old deployment, none at all)."""
    try:
        logins = read_logins(deployment)
    except ConfigError as exc:
        fail(exc.description)
    if not logins:
        fail(
            f"no NATS logins in {deployment.nats_dir / 'nkeys.json'}; run `enlace init` "
            "again (or `enlace up` once) to create them"
        )
    return logins


def _settings(cli: CliContext) -> HubSettings:
    try:
        return load_settings(cli.home)
    except ConfigError as exc:
        fail(exc.description, ExitCode.USAGE)


def _consumers(deployment: Deployment) -> dict[str, list[str]]:
    """The sinks' DELIVERY consumers ``enlace up`` permits: every sink of its ``adapters:``
    section, also those a country runs on its own machine."""
    try:
        register = sink_register(deployment)
        return delivery_consumers(sink_pairs(register))
    except EnlaceError as exc:
        fail(exc.description)


_ROLES = (HUB_USER, OPERATOR_USER, SYSTEM_USER)


def _role(name: str) -> str:
    return name if name in _ROLES else "party"


def _order(logins: dict[str, str]) -> list[str]:
    """The hub, the operator, the system account's login, then the parties by code."""
    return sorted(logins, key=lambda n: (_ROLES.index(n) if n in _ROLES else len(_ROLES), n))


def _short(subjects: list[str]) -> str:
    plain = [s for s in subjects if not s.startswith(_API_PREFIXES)]
    api = len(subjects) - len(plain)
    text = ", ".join(plain) or "-"
    return f"{text} (+{api} JetStream API subjects)" if api else text


@nats_group.command(
    "logins",
    help="List the logins: name, public key (U…), whether its seed file is on this "
    "machine (a country's may have been handed over and deleted) and what it may "
    "publish and subscribe to. Never a seed.",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_cli
def logins(cli: CliContext, as_json: bool) -> None:
    deployment = cli.require_deployment()
    keys = _logins(deployment)
    consumers = _consumers(deployment)
    rows: list[dict[str, Any]] = []
    for name in _order(keys):
        permissions = login_permissions(name, consumers)
        seed = seed_path(deployment, name)
        rows.append(
            {
                "name": name,
                "role": _role(name),
                "public_key": keys[name],
                "seed_file": str(seed),
                "seed_here": seed.is_file(),
                "publish": permissions["publish"],
                "subscribe": permissions["subscribe"],
            }
        )
    if as_json:
        print_json({"logins": rows})
        return
    for row in rows:
        here = "seed here" if row["seed_here"] else "seed NOT here (handed over?)"
        click.echo(f"{row['name']:<9} {row['role']:<9} {row['public_key']}  {here}")
        click.echo(f"    publish:   {_short(row['publish'].get('allow', []))}")
        if row["publish"].get("deny"):
            click.echo(f"    denied:    {', '.join(row['publish']['deny'])}")
        click.echo(f"    subscribe: {_short(row['subscribe']['allow'])}")


@nats_group.command(
    "authorization",
    help="Print the nats-server `authorization { users = [...] }` block the embedded "
    "server uses (public keys and permissions, the sinks of enlace.yaml included) and its "
    "system account SYS (the `system` login, which hears size refusals), for a NATS server "
    "or cluster of your own. Reload that server after each change of logins.",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_cli
def authorization(cli: CliContext, as_json: bool) -> None:
    deployment = cli.require_deployment()
    keys = _logins(deployment)
    block = authorization_block(deployment, _consumers(deployment))
    if as_json:
        print_json({"authorization": block, "logins": keys})
        return
    click.echo(block)


def hub_pid(deployment: Deployment) -> int | None:
    """The process id of the ``enlace up`` running here, none if there is none.

    A pid file left by a stopped ``enlace up`` (its process gone) counts as none.
    """
    try:
        pid = int(pid_file(deployment).read_text(encoding="ascii").strip())
        os.kill(pid, 0)
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return None
    except PermissionError:
        return pid  # alive, another user's: the signal step says so
    return pid


def _known(name: str, keys: dict[str, str]) -> str:
    """``name`` as listed (``gt`` is ``GT``), or exit 2 with the logins there are."""
    match = [n for n in keys if n.lower() == name.lower()]
    if not match:
        fail(
            f"no NATS login {name!r}; the logins are: {', '.join(_order(keys))}",
            ExitCode.USAGE,
        )
    return match[0]


async def _accepted(deployment: Deployment, name: str, url: str, seconds: float) -> bool:
    """Whether the server at ``url`` lets ``name`` in with its new seed within ``seconds``."""
    options = load_user(deployment, name).connect_options()
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        try:
            nc = await nats.connect(
                servers=[url], name="enlace-nats-rotate", **QUIET_CONNECT, **options
            )
        except (nats.errors.Error, OSError, TimeoutError):
            if asyncio.get_running_loop().time() > deadline:
                return False
            await asyncio.sleep(0.2)
        else:
            await nc.close()
            return True


def _handover(name: str, seed: Path) -> str:
    where = os.path.relpath(seed, Path.cwd()) if seed.is_relative_to(Path.cwd()) else str(seed)
    if name == HUB_USER:
        return f"the hub logs in with {where} from its next `enlace up`"
    if name == OPERATOR_USER:
        return f"`enlace status` and `enlace audit` on this machine use {where} already"
    if name == SYSTEM_USER:
        return f"`enlace up` hears the server's size refusals with {where}"
    return (
        f"give {where} to {name}'s operators over a secure channel (then delete it here "
        f"unless `enlace up` runs {name}'s sinks on this machine)"
    )


@nats_group.command(
    "rotate",
    help="Replace login NAME (a party code, `operator`, `system`, or `hub` while `enlace up` is "
    "stopped) with a new nkey: a new seed file (0600), its public key in nkeys.json. If "
    "`enlace up` runs here with its embedded server, it reloads its config at once and "
    "restarts NAME's adapters; from then the old seed is refused.",
)
@click.argument("name")
@click.option(
    "--wait",
    type=click.FloatRange(min=0),
    default=_WAIT,
    show_default=True,
    help="Seconds to wait for the running embedded server to accept the new seed.",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_cli
def rotate(cli: CliContext, name: str, wait: float, as_json: bool) -> None:
    deployment = cli.require_deployment()
    keys = _logins(deployment)
    name = _known(name, keys)
    settings = _settings(cli)
    pid = hub_pid(deployment)
    if name == HUB_USER and pid is not None:
        fail(
            f"`enlace up` runs here (pid {pid}): the hub's own connections would be refused "
            "with a new key; stop `enlace up` first, rotate, then start it again",
            ExitCode.USAGE,
        )
    old = keys[name]
    try:
        new = rotate_login(deployment, name)
    except (ConfigError, OSError) as exc:
        fail(getattr(exc, "description", str(exc)))
    seed = seed_path(deployment, name)
    applied: bool | None = None
    if pid is not None:
        try:
            os.kill(pid, signal.SIGHUP)
        except ProcessLookupError:
            pid = None  # stopped meanwhile: its next start uses the new key
        except PermissionError:
            fail(
                f"login {name} rotated (new public key {new}), but not allowed to signal "
                f"`enlace up` (pid {pid}): run `enlace reload` as the user who started it"
            )
    if pid is not None and settings.embedded:
        applied = asyncio.run(_accepted(deployment, name, settings.url, wait))
    result = {
        "login": name,
        "public_key": new,
        "old_public_key": old,
        "seed_file": str(seed),
        "hub_running": pid is not None,
        "applied": applied,
    }
    if as_json:
        print_json(result)
    else:
        click.echo(f"login {name}: new public key {new} (was {old})")
        click.echo(_handover(name, seed))
        if applied is not False:
            click.echo(_effect(name, pid, settings))
    if applied is False:
        fail(
            f"the running server at {settings.url} did not accept the new seed within "
            f"{wait:g} s; the hub's log says why (e.g. a refused governance file keeps the "
            "previous server config): fix it and run `enlace reload`",
            ExitCode.TIMEOUT,
        )


def _effect(name: str, pid: int | None, settings: HubSettings) -> str:
    """What the rotation changed on the server, in a sentence."""
    if pid is None:
        return (
            "`enlace up` is not running here: its next start serves the new key only. A NATS "
            "server of your own needs the new block (`enlace nats authorization`)."
        )
    if not settings.embedded:
        return (
            f"the hub uses the NATS server at {settings.url}, not run by `enlace up`: give "
            "it the new block (`enlace nats authorization`) and reload it; until then it "
            "accepts the old seed and refuses the new one"
        )
    restarted = (
        "the watcher of size refusals logged in again"
        if name == SYSTEM_USER
        else f"{name}'s adapters here were restarted"
    )
    return (
        "the running server accepts the new seed and refuses the old one; connections "
        f"made with the old seed were closed ({restarted})"
    )
