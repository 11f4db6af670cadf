"""Connecting an adapter or a source to NATS: which login, a few attempts, clear failures.

Which login (the first that applies):

1. ``ENLACE_NATS_NKEY_SEED_FILE``: the path of an nkey seed (never the seed itself), with
   ``ENLACE_NATS_INBOX_PREFIX`` as its reply inbox (what ``enlace up`` gives its children);
2. ``ENLACE_NATS_USER`` / ``ENLACE_NATS_PASSWORD``: a password login of a server of your own;
3. the deployment folder's own: the login of its party (``party:`` in a party kit's
   ``enlace.yaml``), else of the country the command works for, else the one it asks for
   (``operator`` for ``adapter status``), its seed at ``nats/seeds/<login>.nk``
   (:meth:`schemas.layout.Deployment.seed_file`) and its inbox the one the server's
   permissions allow it (:func:`schemas.subjects.inbox_prefix`);
4. none (the URL may carry its own credentials).

Whatever the login, the server is verified against the deployment CA when there is one:
``ENLACE_NATS_CA_FILE``, else the folder's ``nats/tls/ca.pem`` (a party kit carries it,
:attr:`schemas.layout.Deployment.tls_ca_cert`); no other CA is trusted
(:func:`schemas.tls.client_context`).

A connection is tried a few times, each attempt said in one log line, then
:class:`~adapters.errors.NatsUnreachable` names the URL and the last reason. Once
connected, a long-running command keeps reconnecting when the server goes away (the hub
restarts). What the server refuses asynchronously (a publish this login may not make)
reaches :class:`ServerErrors`, which :class:`~adapters.client.EnlaceClient` waits on so
that a refused publish fails at once (:class:`~adapters.errors.PublishForbidden`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
from collections.abc import AsyncIterator, Awaitable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import nats.errors
import structlog
from nats.aio.client import Client as NatsClient

from adapters.config import party_from
from adapters.errors import AdapterConfigError, NatsUnreachable, PublishForbidden
from schemas.layout import Deployment
from schemas.subjects import inbox_prefix
from schemas.tls import client_context

__all__ = ["CONNECT_ATTEMPTS", "NatsLogin", "ServerErrors", "close", "connect", "login_for"]

log = structlog.get_logger("enlace.adapters.connection")

CONNECT_ATTEMPTS = 3
"""Attempts before a command gives up on NATS (one log line each)."""
_ATTEMPT_TIMEOUT = 2  # seconds per attempt (nats-py's connect_timeout)
_ATTEMPT_WAIT = 1  # seconds between two attempts
_RECONNECT_WAIT = 3  # seconds between two attempts once connected (a long outage)
_PERMISSION = re.compile(r'permissions violation for (publish|subscription) to "?([^"\s]+)"?')

T = TypeVar("T")


@dataclass(frozen=True)
class NatsLogin:
    """How to log in: the login's name (None: unknown) and ``nats.connect`` options.

    The options hold the seed file's path, never the seed; ``repr`` leaves out a password.
    """

    name: str | None
    options: dict[str, Any]

    def __repr__(self) -> str:
        return f"NatsLogin(name={self.name!r})"


def _seed_login(name: str | None, seed_file: str, inbox: str) -> NatsLogin:
    # nats-py reads the file at each (re)connect; a missing one would pass for "cannot
    # reach NATS", so say what is wrong first.
    if not os.access(seed_file, os.R_OK):
        raise AdapterConfigError(
            f"{seed_file}: no readable nkey seed file there (the NATS login "
            f"{name or '?'}); a party kit keeps it at nats/seeds/<CC>.nk, "
            "`enlace party kit` makes one"
        )
    if Path(seed_file).stat().st_mode & 0o077:
        raise AdapterConfigError(f"{seed_file}: a NATS seed readable by others; chmod 600 it")
    return NatsLogin(name, {"nkeys_seed": seed_file, "inbox_prefix": inbox})


def _ca_file(home: Path | None) -> Path | None:
    env = os.environ.get("ENLACE_NATS_CA_FILE")
    if env:
        if not Path(env).is_file():
            raise AdapterConfigError(f"{env}: no CA certificate there (ENLACE_NATS_CA_FILE)")
        return Path(env)
    if home is None:
        return None
    ca = Deployment(home).tls_ca_cert
    return ca if ca.is_file() else None


def login_for(home: Path | None, wanted: str | None = None) -> NatsLogin:
    """The login a command run on the deployment at ``home`` connects with (see the module),
    with the TLS context that trusts its deployment CA when there is one.

    Args:
        home: the deployment (or party kit) folder.
        wanted: the login the command works as when the folder names no party: the
            country whose sink or source it runs, ``operator``, or None.

    Raises:
        AdapterConfigError: the seed file is missing or readable by others, ``wanted``
            is another country than the kit's party, or ENLACE_NATS_CA_FILE names no file.
    """
    login = _login(home, wanted)
    ca = _ca_file(home)
    if ca is None:
        return login
    return NatsLogin(login.name, {**login.options, "tls": client_context(ca)})


def _login(home: Path | None, wanted: str | None = None) -> NatsLogin:
    """The login of :func:`login_for`, without TLS (raises as it does)."""
    party = party_from(home)
    name = party or wanted
    env_seed = os.environ.get("ENLACE_NATS_NKEY_SEED_FILE")
    if env_seed:
        inbox = os.environ.get("ENLACE_NATS_INBOX_PREFIX") or inbox_prefix(name)
        return _seed_login(name, env_seed, inbox)
    if os.environ.get("ENLACE_NATS_USER"):
        password = os.environ.get("ENLACE_NATS_PASSWORD", "")
        return NatsLogin(name, {"user": os.environ["ENLACE_NATS_USER"], "password": password})
    if party and wanted and wanted not in (party, "operator"):
        raise AdapterConfigError(
            f"this folder is {party}'s party kit (party: {party} in enlace.yaml): it holds "
            f"no login of {wanted}"
        )
    if home is None or name is None:
        return NatsLogin(None, {})
    seed = Deployment(home).seed_file(name)
    if not seed.is_file():
        if party:
            return _seed_login(name, str(seed), inbox_prefix(name))  # says it is missing
        return NatsLogin(None, {})  # e.g. the hub's machine with logins moved away
    return _seed_login(name, str(seed), inbox_prefix(name))


class ServerErrors:
    """What the server says asynchronously on one connection (nats-py's ``error_cb``).

    A permissions violation is handed to whoever :meth:`guards` that subject; any other
    error is logged, one line each (no traceback).

    Args:
        url: the server, for log lines.
        login: the login's name, to name it in refusals.
    """

    def __init__(self, url: str, login: str | None = None) -> None:
        self.url = url
        self.login = login
        self.last: BaseException | None = None
        self._waiting: dict[str, asyncio.Future[str]] = {}

    async def __call__(self, err: Exception) -> None:
        self.last = err
        text = str(err)
        found = _PERMISSION.search(text.lower())
        if found:
            future = self._waiting.get(found.group(2).lower())
            if future is not None and not future.done():
                future.set_result(text.removeprefix("nats: "))
                return
            log.warning("nats_permission_refused", login=self.login, error=text)
            return
        log.warning("nats_error", url=self.url, error=_reason(err))

    @contextlib.asynccontextmanager
    async def _watch(self, subjects: Iterable[str]) -> AsyncIterator[list[asyncio.Future[str]]]:
        loop = asyncio.get_running_loop()
        watched = {s.lower(): loop.create_future() for s in subjects}
        self._waiting.update(watched)
        try:
            yield list(watched.values())
        finally:
            for key, future in watched.items():
                if self._waiting.get(key) is future:
                    del self._waiting[key]

    async def guard(self, subject: str, work: Awaitable[T], quiet: Iterable[str] = ()) -> T:
        """Await ``work`` (a publish on ``subject``) unless the server refuses it first.

        Args:
            subject: the subject published to.
            work: the publish (e.g. JetStream's, which would otherwise wait for its timeout).
            quiet: subjects whose refusal is expected with this one's and need no log line
                of their own (the subscription to the reply).

        Raises:
            PublishForbidden: the server refused this login ``subject``.
        """
        async with self._watch([subject, *quiet]) as (refused, *_):
            task = asyncio.ensure_future(work)
            pending: set[asyncio.Future[Any]] = {task, refused}
            await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            if refused.done():
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
                raise PublishForbidden(subject, self.login, refused.result())
            return task.result()


def _reason(err: BaseException) -> str:
    """An error in a few words, for people (nats-py's are often empty or generic)."""
    if isinstance(err, nats.errors.NoServersError):
        return "no server answered"
    if isinstance(err, TimeoutError | asyncio.TimeoutError):
        return "timed out"
    text = str(err).strip()
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


async def connect(
    url: str,
    login: NatsLogin | None = None,
    errors: ServerErrors | None = None,
    keep_reconnecting: bool = True,
) -> NatsClient:
    """Connect to NATS within a few attempts; then, if asked, reconnect for as long as it takes.

    Args:
        url: the server(s), comma-separated.
        login: how to log in; none: :func:`login_for` with no folder (the environment's).
        errors: where the server's asynchronous errors go (a new :class:`ServerErrors`).
        keep_reconnecting: once connected, reconnect without end when the server goes
            away (long-running commands); else give up as at the first connect.

    Raises:
        NatsUnreachable: no connection after :data:`CONNECT_ATTEMPTS` attempts; names the
            URL and the last reason.
    """
    login = login if login is not None else login_for(None)
    errors = errors or ServerErrors(url, login.name)
    attempts = 0

    async def on_error(err: Exception) -> None:
        nonlocal attempts
        if nc.is_connected:
            await errors(err)
            return
        attempts += 1
        errors.last = err
        if nc.is_reconnecting:  # connected before: the server went away, we keep trying
            log.warning("nats_reconnecting", url=url, attempt=attempts, reason=_reason(err))
            return
        log.warning(
            "nats_connect_failed",
            url=url,
            attempt=attempts,
            of=CONNECT_ATTEMPTS,
            reason=_reason(err),
        )

    async def on_reconnected() -> None:
        nonlocal attempts
        attempts = 0
        log.info("nats_reconnected", url=url)

    nc = NatsClient()
    options: dict[str, Any] = dict(login.options)
    try:
        # Each attempt is bounded by connect_timeout; the whole by the attempts and waits.
        await asyncio.wait_for(
            nc.connect(
                servers=url.split(","),
                connect_timeout=_ATTEMPT_TIMEOUT,
                reconnect_time_wait=_ATTEMPT_WAIT,
                max_reconnect_attempts=CONNECT_ATTEMPTS - 1,
                error_cb=on_error,
                reconnected_cb=on_reconnected,
                **options,
            ),
            CONNECT_ATTEMPTS * (_ATTEMPT_TIMEOUT + _ATTEMPT_WAIT) + 1,
        )
    except (OSError, TimeoutError, nats.errors.Error) as err:
        with contextlib.suppress(Exception):
            await nc.close()
        last = errors.last if errors.last is not None else err
        raise NatsUnreachable(url, _reason(last), max(attempts, 1)) from None
    attempts = 0
    if keep_reconnecting:
        # Read by nats-py at each reconnect: from now on, never give up (the hub restarts),
        # one line every few seconds.
        nc.options["max_reconnect_attempts"] = -1
        nc.options["reconnect_time_wait"] = _RECONNECT_WAIT
    return nc


async def close(nc: NatsClient) -> None:
    """Drain the connection (what was received is handled, what was sent is flushed); when
    it cannot be drained (the server is away, it is reconnecting), just close it."""
    try:
        await nc.drain()
    except (nats.errors.Error, TimeoutError, OSError):
        with contextlib.suppress(nats.errors.Error, TimeoutError, OSError):
            await nc.close()
