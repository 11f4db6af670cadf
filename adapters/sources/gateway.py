"""HTTP gateway: a national system POSTs an unsigned JSON message with its POC's API token.

::

    GET /openapi.json         the OpenAPI 3.1 document of this API (adapters.sources.openapi)

    POST /v1/messages
    Authorization: Bearer <token of one point of contact>
    Content-Type: application/json

    202 {"id": ..., "status": "accepted", "subject": ..., "seq": ...}
    4xx {"reason": <code>, "detail": <what was wrong and what to do>}

    GET /v1/messages/{id}/outcome
    Authorization: Bearer <token of one point of contact>

    200 <the hub's outcome: schemas.outcomes.Outcome, as on enlace.outcome.<cc>.<id>>
    404 {"reason": "no_such_outcome", ...}   expired, not yet decided, or not this country's

The gateway completes the message (``id``, ``issued_at``, ``sender`` if left out),
validates it against its type's schema, signs it with that POC's key and publishes it to
INGRESS; 202 means it is on disk there, not yet that the hub accepted it. The hub's
verdict is kept (stream ``OUTCOMES_<cc>``, for ``outcome_max_age``) and read by id: the
outcome of any message the token's country sent, through the gateway's NATS login (which
must be that country's: 403 ``outcome_not_permitted`` otherwise).

Refusals: 401 ``bad_token``; 413 ``too_large``; 400 ``malformed_json``; 422
``duplicate_key`` / ``invalid_envelope`` / ``unknown_type`` / ``theme_not_allowed`` /
``schema_invalid``; 403 ``sender_mismatch`` (the message names another POC); 429
``ingress_full`` (the country's ingress quota is full: the hub has not finished what it
sent before; retry after ``Retry-After`` seconds); 503 ``hub_unavailable``.

Tokens are stored as SHA-256 hashes only (``state/gateway-tokens.json``); a token is
shown once, when it is issued.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import structlog
import uvicorn
from nats.errors import Error as NatsError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from adapters.errors import (
    AdapterError,
    BadToken,
    GatewayRefusal,
    IngressFull,
    OutcomeNotPermitted,
    RequestTooLarge,
)
from adapters.keys import poc_signer
from adapters.sinks._files import atomic_write
from adapters.sources.openapi import MESSAGES_PATH, OPENAPI_PATH, OUTCOME_PATH, gateway_openapi
from adapters.sources.prepare import Publisher, poc_of, prepare_message
from schemas.directory import Directory
from schemas.envelope import DEFAULT_MAX_BYTES
from schemas.errors import EnlaceError, MalformedJson, SenderMismatch

__all__ = ["TokenStore", "create_gateway_app", "serve"]

log = structlog.get_logger("enlace.adapters.gateway")

_STATUS = {MalformedJson.code: 400, SenderMismatch.code: 403, "too_large": 413}
_RETRY_AFTER = 30  # seconds; the hub works through a backlog at hundreds of messages/s


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TokenStore:
    """API tokens by their SHA-256, each naming one point of contact."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _read(self) -> dict[str, str]:
        if not self.path.is_file():
            return {}
        data = json.loads(self.path.read_text(encoding="utf-8"))
        return {entry["sha256"]: entry["poc"] for entry in data.get("tokens", [])}

    def poc_for(self, token: str) -> str | None:
        return self._read().get(_hash(token))

    def issue(self, poc_id: str) -> str:
        """A new random token for ``poc_id``; only its hash is stored."""
        token = secrets.token_urlsafe(32)
        table = self._read()
        table[_hash(token)] = poc_id
        entries = [{"poc": poc, "sha256": digest} for digest, poc in sorted(table.items())]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(self.path, json.dumps({"tokens": entries}, indent=2).encode())
        self.path.chmod(0o600)
        return token


def _refusal(code: str, status: int, detail: str) -> JSONResponse:
    return JSONResponse({"reason": code, "detail": detail}, status_code=status)


def _token_poc(request: Request, tokens: TokenStore) -> str:
    """The point of contact of the request's bearer token; raises BadToken when none."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    poc_id = tokens.poc_for(token.strip()) if scheme.lower() == "bearer" else None
    if poc_id is None:
        raise BadToken(
            "send `Authorization: Bearer <token>` with a token issued "
            "by `enlace gateway --issue-token POC`"
        )
    return poc_id


async def _read_body(request: Request, max_bytes: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise RequestTooLarge(f"the body is {declared} bytes; the limit is {max_bytes}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:  # a chunked body has no length to check up front
            raise RequestTooLarge(f"the body is over the limit of {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


class _Server(uvicorn.Server):
    """uvicorn's server without its own signal handling: it would raise the signal again
    once stopped, ending the process killed instead of with status 0."""

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    def stop(self) -> None:
        self.should_exit = True


def create_gateway_app(
    directory: Callable[[], Directory],
    tokens: TokenStore,
    keys_dir: Path,
    publisher: Callable[[], Publisher],
    max_bytes: int = DEFAULT_MAX_BYTES,
    lifespan: Callable[[Starlette], Any] | None = None,
) -> Starlette:
    """The gateway's ASGI app (an app factory: tests build their own).

    Args:
        directory: the accepted directory (POCs and their keys).
        tokens: the API tokens.
        keys_dir: the deployment's ``keys/`` (``poc/<id>/<kid>.pem``).
        publisher: returns the publisher to INGRESS (connected in ``lifespan``).
        max_bytes: the largest message accepted.
        lifespan: connects and closes what ``publisher`` needs.
    """

    async def post_message(request: Request) -> JSONResponse:
        try:
            poc_id = _token_poc(request, tokens)
            body = await _read_body(request, max_bytes)
            current = directory()
            poc = poc_of(current, poc_id)
            prepared = prepare_message(body, poc, max_bytes)
            signer = poc_signer(current, keys_dir, poc.id)
        except GatewayRefusal as err:
            return _refusal(err.code, err.status, err.description)
        except AdapterError as err:
            log.error("gateway_cannot_sign", reason=err.code, detail=err.description)
            return _refusal(err.code, 500, err.description)
        except EnlaceError as err:
            return _refusal(err.code, _STATUS.get(err.code, 422), err.description)
        try:
            receipt = await publisher().publish(prepared, signer)
        except IngressFull as err:
            log.warning("gateway_ingress_full", message_id=prepared.id, poc=poc.id)
            response = _refusal(err.code, 429, err.description)
            response.headers["Retry-After"] = str(_RETRY_AFTER)
            return response
        except (NatsError, OSError) as err:
            log.error("gateway_publish_failed", message_id=prepared.id, error=type(err).__name__)
            return _refusal(
                "hub_unavailable", 503, "the hub's NATS did not take the message; retry later"
            )
        log.info("gateway_published", message_id=receipt.message_id, poc=poc.id, seq=receipt.seq)
        return JSONResponse(
            {
                "id": receipt.message_id,
                "status": "duplicate" if receipt.duplicate else "accepted",
                "subject": receipt.subject,
                "seq": receipt.seq,
            },
            status_code=202,
        )

    async def get_outcome(request: Request) -> JSONResponse:
        message_id = request.path_params["id"]
        try:
            poc = poc_of(directory(), _token_poc(request, tokens))
        except GatewayRefusal as err:
            return _refusal(err.code, err.status, err.description)
        except EnlaceError as err:
            return _refusal(err.code, _STATUS.get(err.code, 422), err.description)
        try:
            outcome = await publisher().outcome(message_id, poc.country)
        except OutcomeNotPermitted as err:
            log.error("gateway_outcome_not_permitted", country=poc.country)
            return _refusal(err.code, 403, err.description)
        except (NatsError, OSError, AdapterError) as err:
            log.error("gateway_outcome_failed", message_id=message_id, error=type(err).__name__)
            return _refusal("hub_unavailable", 503, "NATS did not answer; retry later")
        if outcome is None:
            return _refusal(
                "no_such_outcome",
                404,
                f"no outcome of message {message_id} from {poc.country} is kept: it expired, "
                "the hub has not finished it yet, or it was not sent by this country",
            )
        return JSONResponse(outcome.to_dict())

    document = gateway_openapi(max_bytes=max_bytes)

    async def openapi(request: Request) -> JSONResponse:
        return JSONResponse(document)

    return Starlette(
        routes=[
            Route(MESSAGES_PATH, post_message, methods=["POST"]),
            Route(OUTCOME_PATH, get_outcome, methods=["GET"]),
            Route(OPENAPI_PATH, openapi, methods=["GET"]),
        ],
        lifespan=lifespan,
    )


async def serve(home: Path, host: str, port: int, tokens_file: Path | None, nats_url: str) -> None:
    """Run the gateway of the deployment at ``home`` until SIGTERM or SIGINT.

    NATS is connected before the gateway listens, so that an unreachable server ends the
    command at once (:class:`~adapters.errors.NatsUnreachable`); a signal stops it cleanly
    (requests in flight finish, the connection drains) and it returns.

    Args:
        home: the deployment's folder (a party kit's: it publishes as that party).
        host: the address to listen on.
        port: the port to listen on.
        tokens_file: the issued tokens (the deployment's default file if None).
        nats_url: the NATS server to publish to.
    """
    from adapters.client import EnlaceClient
    from adapters.config import max_message_bytes_from
    from adapters.connection import ServerErrors, close, connect, login_for
    from adapters.deployment import AdapterHome, DirectoryFile
    from adapters.sources.prepare import ClientPublisher

    paths = AdapterHome(home)
    directory = DirectoryFile(paths)
    login = login_for(home)
    state: dict[str, Publisher] = {}
    app = create_gateway_app(
        directory,
        TokenStore(tokens_file or paths.state_dir / "gateway-tokens.json"),
        paths.keys_dir,
        lambda: state["publisher"],
        max_bytes=max_message_bytes_from(home),
    )
    server = _Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):  # also while it connects
        loop.add_signal_handler(sig, server.stop)
    errors = ServerErrors(nats_url, login.name)
    nc = await connect(nats_url, login, errors)
    state["publisher"] = ClientPublisher(EnlaceClient.of_deployment(nc, home, errors))
    try:
        if not server.should_exit:
            await server.serve()
    finally:
        await close(nc)
