"""Messages the NATS server refuses for their size: the sender is told, the refusal audited.

nats-server checks ``max_payload`` (:func:`schemas.limits.wire_limit`) before anything
else: a larger message never reaches JetStream, so the hub never sees it, and the server
closes the publisher's connection. Enlace's own clients check the size before sending;
a foreign client learns nothing but a closed connection. The server does tell its system
account why it closed each connection: an event on ``$SYS.ACCOUNT.<account>.DISCONNECT``
with ``reason`` "Maximum Message Payload Exceeded" and ``client.user``, the public nkey
the client logged in with.

``enlace up`` runs :class:`OversizeWatcher` beside the hub app, with a connection of its
own as the ``system`` login (the one user of the server's system account:
:mod:`hub.server.logins`). For each such event of a country's login it

- appends an audit entry ``rejected``, reason ``too_large``, the country, and what the
  server did; no message id, digest or size: no byte arrived
  (:func:`hub.audit.kinds.refused_by_server`);
- publishes a notice to that country on ``enlace.rejected.<CC>`` (stream REJECTED), in
  the shape of the hub's other notices (:class:`~schemas.outcomes.Outcome`, status
  ``rejected``, reason ``too_large``, an empty ``message_id``);
- logs ``oversize_refused_by_server`` with the country.

The event of the hub's, the operator's, the system's or an unknown key is only logged
(no country to tell). The events are core NATS: one sent while the watcher is not
connected is lost. Several ``enlace up`` on one cluster share the events in a queue group
(one of them records each), and the notice's ``Nats-Msg-Id`` is the event's id, so a
repeat within REJECTED's duplicate window is kept once.

A server given by URL that does not let the ``system`` login in (no such login in the
deployment, its seed not on this machine, or the server's config without the ``SYS``
account of ``enlace nats authorization``), or lets it in but sends it no events (it is
not in the server's system account: :meth:`OversizeWatcher.start` checks), is logged
once as ``oversize_not_recorded``; the hub runs on without it.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

import nats
import nats.errors
import structlog
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg

from hub.audit import AuditEntry, kinds
from hub.errors import ConfigError, HubError, NatsServerError, ServerEventsUnheard
from hub.server.logins import DISCONNECT_EVENTS, SYSTEM_USER, NatsUser
from schemas.errors import MessageTooLarge
from schemas.outcomes import Outcome, OutcomeStatus
from schemas.subjects import HDR_MSG_ID, rejected_subject

__all__ = [
    "OVERSIZE_QUEUE",
    "AuditAppender",
    "Disconnect",
    "NoticePublisher",
    "OversizeWatcher",
    "oversize_notice",
    "parse_disconnect",
    "watch_oversize",
]

log = structlog.get_logger("enlace.oversize")

_NAME = "enlace-server-events"
OVERSIZE_QUEUE = "enlace-oversize"
"""The queue group of the watchers: each event goes to one ``enlace up`` of a cluster."""

_DISCONNECT_TYPE = "io.nats.server.advisory.v1.client_disconnect"
# nats-server's ClosedState text for a message over max_payload ("Maximum Message Payload
# Exceeded" in 2.x); matched loosely so that a reworded one is still recognised.
_OVER_MAX_PAYLOAD = re.compile(r"payload\s+exceeded", re.IGNORECASE)
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_TOO_LARGE = MessageTooLarge.code


class AuditAppender(Protocol):
    """What the watcher needs of :class:`~hub.audit.AuditWriter`."""

    async def append(self, entries: Sequence[AuditEntry]) -> list[int]: ...


class NoticePublisher(Protocol):
    """Publish one notice to JetStream (``JetStreamContext.publish``)."""

    def __call__(
        self, subject: str, payload: bytes, *, headers: dict[str, str]
    ) -> Awaitable[object]: ...


@dataclass(frozen=True)
class Disconnect:
    """What the watcher uses of one disconnect event of the server."""

    event_id: str
    reason: str
    public_key: str
    account: str
    server: str

    @property
    def over_max_payload(self) -> bool:
        """Whether the server closed the connection for a message over ``max_payload``."""
        return bool(_OVER_MAX_PAYLOAD.search(self.reason))


def parse_disconnect(data: bytes) -> Disconnect | None:
    """The disconnect event in ``data``; None when ``data`` is not one."""
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(doc, dict) or doc.get("type") != _DISCONNECT_TYPE:
        return None
    client, server = doc.get("client"), doc.get("server")
    client = client if isinstance(client, dict) else {}
    server = server if isinstance(server, dict) else {}
    return Disconnect(
        event_id=str(doc.get("id", "")),
        reason=str(doc.get("reason", "")),
        # nats-server 2.15 names an nkey user of the config by its public key in `user`;
        # `nkey` first, should a server set it.
        public_key=str(client.get("nkey") or client.get("user") or ""),
        account=str(client.get("acc", "")),
        server=str(server.get("name", "")),
    )


def oversize_notice(
    country: str, max_payload: int, max_message_bytes: int, at: datetime
) -> Outcome:
    """The notice to ``country`` that the server refused one of its messages for its size.

    Args:
        country: the sender's country, from its login.
        max_payload: the server's limit (headers and body), which the message was over.
        max_message_bytes: the hub's body limit, the size to stay under.
        at: when the server refused it.
    """
    return Outcome(
        message_id="",  # the server's event does not say which message it was
        status=OutcomeStatus.REJECTED,
        at=at,
        reason=_TOO_LARGE,
        description=(
            f"the NATS server refused a message of {country} over its limit of "
            f"{max_payload} bytes (headers and body) and closed the connection: nothing "
            f"of it was received. A message may have at most {max_message_bytes} bytes; "
            "send a smaller one after reconnecting"
        ),
    )


def _now() -> datetime:
    return datetime.now(UTC)


async def _quiet(_: Exception) -> None:
    """nats-py prints every failed attempt's traceback; the watcher says what failed once."""


async def _connect_once(servers: list[str], options: dict[str, str]) -> NatsClient:
    """One quiet try to connect, for the checks of :meth:`OversizeWatcher.start`."""
    return await nats.connect(
        servers=servers,
        name=_NAME,
        connect_timeout=3,
        allow_reconnect=False,
        max_reconnect_attempts=1,
        error_cb=_quiet,
        **options,
    )


@dataclass
class OversizeWatcher:
    """Hears the server's disconnect events as the ``system`` login and records the ones
    for a message over ``max_payload`` (see the module docstring).

    Args:
        url: the NATS server(s), comma-separated.
        login: the ``system`` login as it is now (read again by :meth:`restart`); None
            when the deployment has none for this server.
        audit: where the audit entry goes.
        publish: publishes the notice to JetStream (as the hub).
        logins: the deployment's logins now, name → public nkey.
        max_message_bytes: the hub's body limit, named in the notice.
        clock: the time source (tests).
        check_seconds: see the attribute.
    """

    url: str
    login: Callable[[], NatsUser | None]
    audit: AuditAppender
    publish: NoticePublisher
    logins: Callable[[], Mapping[str, str]]
    max_message_bytes: int
    clock: Callable[[], datetime] = _now
    check_seconds: float = 10.0
    """How long :meth:`start` waits for the server's event about its own check connection."""
    max_payload: int = 0
    """The server's ``max_payload``, as it announced it when the watcher connected."""
    _nc: NatsClient | None = field(default=None, repr=False)

    async def start(self) -> None:
        """Connect as the ``system`` login, subscribe, and check that events do come.

        The check: the server's event for a connection of this login closing must reach
        the subscription, which proves the login is in the server's system account.

        Raises:
            ConfigError: no ``system`` login for this server, or its seed is unusable.
            nats.errors.Error, OSError, TimeoutError: the server refused the login or
                could not be reached (one try: a refused login would be retried for ever).
            ServerEventsUnheard: the server lets the login in but sends it no events.
        """
        user = self.login()
        if user is None:
            raise ConfigError(
                f"the deployment has no NATS login {SYSTEM_USER!r} for this server, or "
                "the URL carries its own credentials"
            )
        servers = self.url.split(",")
        options = user.connect_options()
        # One quiet try first: with reconnects on, nats-py retries a refused login for ever.
        check = await _connect_once(servers, options)
        try:
            nc = await nats.connect(
                servers=servers,
                name=_NAME,
                max_reconnect_attempts=-1,
                reconnect_time_wait=0.25,
                error_cb=_quiet,
                **options,
            )
            try:
                self.max_payload = nc.max_payload
                await nc.subscribe(DISCONNECT_EVENTS, queue=OVERSIZE_QUEUE, cb=self._on_event)
                await self._hears(nc, check, servers, options, user.public_key)
            except BaseException:
                await nc.close()
                raise
        finally:
            if not check.is_closed:
                await check.close()
        self._nc = nc

    async def _hears(
        self,
        nc: NatsClient,
        check: NatsClient,
        servers: list[str],
        options: dict[str, str],
        public_key: str,
    ) -> None:
        """Close ``check`` and wait for the server's event about it, on a subscription
        outside the queue group (which may hand the event to another ``enlace up``).

        A subscription just made may miss an event for a moment (nats-server 2.15 on a
        loaded machine: about one time in fifteen within 50 ms), so a check connection is
        opened and closed again each second until one is heard or ``check_seconds`` pass.
        """
        # nats-py has no accessor for the server's INFO: an open server has no accounts.
        if not getattr(check, "_server_info", {}).get("auth_required"):
            raise ServerEventsUnheard(self.url, "the server requires no login at all")
        loop = asyncio.get_running_loop()
        heard: asyncio.Future[None] = loop.create_future()

        async def mine(msg: Msg) -> None:
            event = parse_disconnect(msg.data)
            ours = event is not None and event.public_key == public_key
            if ours and not heard.done():
                heard.set_result(None)

        sub = await nc.subscribe(DISCONNECT_EVENTS, cb=mine)
        await nc.flush()
        deadline = loop.time() + self.check_seconds
        try:
            while True:
                await check.close()
                left = deadline - loop.time()
                try:
                    await asyncio.wait_for(asyncio.shield(heard), max(min(1.0, left), 0.0))
                    return
                except TimeoutError:
                    if loop.time() >= deadline:
                        raise ServerEventsUnheard(
                            self.url, f"none within {self.check_seconds:g} s of its own disconnect"
                        ) from None
                check = await _connect_once(servers, options)
        finally:
            if not check.is_closed:
                await check.close()
            await sub.unsubscribe()

    async def stop(self) -> None:
        """Finish the event in hand, then close the connection."""
        nc, self._nc = self._nc, None
        if nc is not None:
            try:
                await nc.drain()
            except (nats.errors.Error, OSError, TimeoutError):
                await nc.close()

    async def restart(self) -> None:
        """Log in again (the ``system`` login was rotated: the server closed the old one).

        nats-py would reconnect with the public key of its first connect for ever, so a
        new connection reads the new seed.
        """
        await self.stop()
        try:
            await self.start()
        except (HubError, nats.errors.Error, OSError, TimeoutError) as err:
            log.error(
                "oversize_not_recorded",
                reason=f"the rotated system login: {type(err).__name__}: {err}",
                hint="restart `enlace up`",
            )

    async def _on_event(self, msg: Msg) -> None:
        try:
            await self.handle(msg.data)
        except Exception as err:
            # A bug must not end the subscription: say so, and hear the next event.
            log.exception("server_event_failed", error=f"{type(err).__name__}: {err}")

    async def handle(self, data: bytes) -> str | None:
        """Record one event if it is a refusal for size of a country's message.

        Returns:
            The country told and audited, if any.
        """
        event = parse_disconnect(data)
        if event is None or not event.over_max_payload:
            return None
        login = self._login_of(event.public_key)
        country = login if login is not None and _COUNTRY.match(login) else None
        log.warning(
            "oversize_refused_by_server",
            country=country,
            login=login,
            public_key=None if login else event.public_key,
            account=event.account,
            server=event.server,
            max_payload=self.max_payload,
        )
        if country is None:
            return None  # the hub's, the operator's or a stranger's: nobody to tell
        await self._record(country, event)
        return country

    def _login_of(self, public_key: str) -> str | None:
        try:
            logins = self.logins()
        except ConfigError as err:
            log.error("oversize_sender_unknown", error=err.description)
            return None
        return next((name for name, key in logins.items() if key == public_key), None)

    async def _record(self, country: str, event: Disconnect) -> None:
        """The audit entry and the notice, side by side; each failure logged on its own."""
        server = f" ({event.server})" if event.server else ""
        detail = (
            f"refused by the NATS server{server}: over max_payload {self.max_payload} bytes; "
            "connection closed"
        )[:300]
        entry = kinds.refused_by_server(country, _TOO_LARGE, detail)
        notice = oversize_notice(country, self.max_payload, self.max_message_bytes, self.clock())
        # One notice per event, whichever watcher or retry sends it (REJECTED's dedup window).
        headers = {HDR_MSG_ID: f"nats-event-{event.event_id}:notice"} if event.event_id else {}
        results = await asyncio.gather(
            self.audit.append([entry]),
            self.publish(rejected_subject(country), notice.to_json(), headers=headers),
            return_exceptions=True,
        )
        for what, result in zip(("audit_entry", "notice"), results, strict=True):
            if isinstance(result, BaseException):
                log.error(
                    "oversize_not_recorded",
                    country=country,
                    missing=what,
                    error=f"{type(result).__name__}: {result}",
                )


async def watch_oversize(
    url: str,
    login: Callable[[], NatsUser | None],
    *,
    required: bool,
    audit: AuditAppender,
    publish: NoticePublisher,
    logins: Callable[[], Mapping[str, str]],
    max_message_bytes: int,
) -> OversizeWatcher | None:
    """Start the watcher, or say once why size refusals of the server go unrecorded.

    Args:
        url: the NATS server(s).
        login: the ``system`` login, None when the deployment has none for this server.
        required: the server is ``enlace up``'s own, which always has the login: a
            failure is an error, not a warning.
        audit: where the audit entry goes.
        publish: publishes the notice to JetStream (as the hub).
        logins: the deployment's logins now, name → public nkey.
        max_message_bytes: the hub's body limit, named in the notice.

    Returns:
        The running watcher; None when the server does not let the login in.

    Raises:
        ConfigError, NatsServerError (no events heard), nats.errors.Error, OSError,
            TimeoutError: only when ``required``.
    """
    watcher = OversizeWatcher(url, login, audit, publish, logins, max_message_bytes)
    try:
        await watcher.start()
    except (ConfigError, ServerEventsUnheard, nats.errors.Error, OSError, TimeoutError) as err:
        if required and isinstance(err, ServerEventsUnheard):
            # `enlace up`'s own server renders the account itself: a bug, said as such.
            raise NatsServerError(f"the embedded server: {err.description}") from err
        if required:
            raise
        reason = (
            err.description
            if isinstance(err, (ConfigError, ServerEventsUnheard))
            else f"{type(err).__name__}: {err}"
        )
        log.warning(
            "oversize_not_recorded",
            reason=reason,
            hint="messages the NATS server refuses for their size (over max_payload) get no "
            "notice and no audit entry: give that server the system account of `enlace nats "
            f"authorization` (login {SYSTEM_USER!r}) and this machine its seed, then restart",
        )
        return None
    log.info("oversize_watched", max_payload=watcher.max_payload)
    return watcher
