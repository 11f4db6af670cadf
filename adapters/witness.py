"""A party's witness of the hub's audit log: it cosigns only what extends what it saw.

No single operator should be able to rewrite the record unseen by the parties. Each
party's side runs a witness (``enlace adapter witness``, and ``enlace adapter run``
beside its sinks) that keeps, in a file of its own state folder, the last checkpoint it
cosigned. Every few seconds it asks the hub (``enlace.witness.<CC>.checkpoint``, body
``old <size>``) for the latest checkpoint with the RFC 9162 consistency proof from that
size, as a C2SP tlog-witness ``add-checkpoint`` body (:mod:`hub.audit.witness` answers),
and checks, in the order of C2SP tlog-witness:

- the checkpoint is of the log it follows (its origin; the first one it sees sets it):
  else ``witness_unknown_log``;
- a hub key of the directory signed it: else ``witness_unsigned``;
- it is not smaller than the one it cosigned: else ``witness_rollback``;
- the proof starts from the size it cosigned: else ``witness_conflict``;
- at the same size, the same root; at a larger one, the proof holds between the kept
  root and the new one: else ``witness_fork`` (a log forked or rewritten since).

Then it keeps the new checkpoint (written and synced before anything is said) and stores
its cosignature (C2SP tlog-cosignature/v1 with the party's system key, named
:func:`schemas.tlog.cosigner_name`) on ``enlace.witness.<CC>.cosigned``: the checkpoint
with its signature line added. A refusal is stored on ``enlace.witness.<CC>.refused``
(reason code, what it means, and both hub-signed checkpoints: evidence anyone can check)
and logged as an error; the kept checkpoint does not change. Both go to AUDIT_WITNESS,
which nobody may delete from.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import nats.errors
import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from nats.aio.client import Client as NatsClient

from adapters.connection import close, connect, login_for
from adapters.deployment import AdapterHome, DirectoryFile
from adapters.errors import (
    WitnessConflict,
    WitnessFork,
    WitnessMalformed,
    WitnessRefusal,
    WitnessRollback,
    WitnessUnknownLog,
    WitnessUnsigned,
)
from adapters.keys import party_signer
from schemas.errors import TlogError
from schemas.subjects import (
    HDR_MSG_ID,
    witness_cosigned_subject,
    witness_refused_subject,
    witness_request_subject,
)
from schemas.tlog import (
    ANSWER_ERROR,
    AddCheckpoint,
    CheckpointHead,
    NoteKey,
    checkpoint_head,
    cosign,
    cosigner_name,
    split_note,
    verify_consistency,
    verify_note,
)

__all__ = [
    "REFUSAL_FORMAT",
    "Witness",
    "WitnessOutcome",
    "Witnesses",
    "open_witness",
    "run_witness",
    "witness_once",
]

log = structlog.get_logger("enlace.adapters.witness")

REFUSAL_FORMAT = "enlace-witness-refusal"
_SAID_MAX = 1000
_REQUEST_TIMEOUT = 10.0


def _head(note: str) -> CheckpointHead:
    return checkpoint_head(split_note(note)[0])


class Witness:
    """What party ``country`` has cosigned of the hub's log, and the checks before more.

    Args:
        country: the party.
        key: its system key (the one its sinks sign receipts with).
        hub_keys: the hub's public keys by kid (the directory's, read at each check).
        state_file: where the last cosigned checkpoint is kept.
        clock: POSIX seconds (tests pass their own).
    """

    def __init__(
        self,
        country: str,
        key: Ed25519PrivateKey,
        hub_keys: Callable[[], dict[str, Ed25519PublicKey]],
        state_file: Path,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.country = country
        self._key = key
        self._hub_keys = hub_keys
        self.state_file = state_file
        self._clock = clock

    def kept(self) -> str | None:
        """The last checkpoint this witness cosigned (the hub's signed note), if any."""
        try:
            return self.state_file.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None

    def kept_size(self) -> int:
        note = self.kept()
        return _head(note).size if note else 0

    def _keep(self, note: str) -> None:
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.state_file.with_name(f".{self.state_file.name}.tmp")
        with tmp.open("w", encoding="utf-8") as fh:
            fh.write(note)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(self.state_file)
        with contextlib.suppress(OSError):  # the rename durable too
            folder = os.open(self.state_file.parent, os.O_RDONLY)
            try:
                os.fsync(folder)
            finally:
                os.close(folder)

    def check(self, text: str) -> str:
        """Check an add-checkpoint body; keep and cosign its checkpoint.

        Returns:
            The checkpoint with this witness's cosignature line added.

        Raises:
            WitnessRefusal: a subclass per reason (see the module docstring); nothing is
                kept or signed.
        """
        kept = self.kept()
        known = _head(kept) if kept else None
        known_size = known.size if known else 0
        try:
            request = AddCheckpoint.parse(text)
            body = split_note(request.note)[0]
            head = checkpoint_head(body)
        except TlogError as exc:
            raise WitnessMalformed(exc.description, known_size) from None
        if known is not None and head.origin != known.origin:
            raise WitnessUnknownLog(
                f"the checkpoint is of log {head.origin!r}; this witness follows {known.origin!r}",
                known_size,
            )
        keys = [
            NoteKey(name, public)
            for kid, public in self._hub_keys().items()
            for name in (kid, head.origin)
        ]
        try:
            verify_note(request.note, keys)
        except TlogError as exc:
            raise WitnessUnsigned(exc.description, known_size) from None
        if head.size < known_size:
            raise WitnessRollback(
                f"the hub's latest checkpoint has {head.size} entries, but this witness "
                f"cosigned one of {known_size}: the log was rolled back",
                known_size,
            )
        if request.old_size != known_size:
            raise WitnessConflict(
                f"the proof starts from size {request.old_size}, this witness cosigned "
                f"{known_size}",
                known_size,
            )
        if known is not None:
            try:
                verify_consistency(known.size, head.size, known.root, head.root, request.proof)
            except TlogError as exc:
                raise WitnessFork(
                    f"the checkpoint of size {head.size} does not extend the one of size "
                    f"{known.size} this witness cosigned ({exc.description}): the log was "
                    "forked or rewritten",
                    known_size,
                ) from None
        elif request.proof:
            raise WitnessMalformed("a proof from size 0 must be empty", known_size)
        self._keep(request.note)
        name = cosigner_name(head.origin, self.country)
        return request.note + cosign(self._key, name, body, int(self._clock()))


@dataclass(frozen=True)
class WitnessOutcome:
    """What one round did: ``cosigned``, ``refused``, ``unchanged``, ``nothing`` (no
    checkpoint yet) or ``unanswered`` (the hub said why not, in ``detail``); ``size`` of
    the checkpoint; ``reason`` of a refusal."""

    status: str
    size: int | None = None
    reason: str | None = None
    detail: str | None = None


async def witness_once(nc: NatsClient, witness: Witness, said: set[str]) -> WitnessOutcome:
    """Ask the hub once; cosign or refuse, and store what was said in AUDIT_WITNESS.

    Args:
        nc: the party's connection (its own login).
        witness: the party's witness.
        said: ids of what this process already stored (not stored twice).

    Raises:
        nats.errors.Error: the hub did not answer, or the store refused.
    """
    cc = witness.country
    reply = await nc.request(
        witness_request_subject(cc), f"old {witness.kept_size()}\n".encode(), _REQUEST_TIMEOUT
    )
    text = reply.data.decode("utf-8", errors="replace")
    if not text:
        return WitnessOutcome("nothing")
    if text.startswith(ANSWER_ERROR):  # the hub could not answer: nothing to refuse or store
        log.warning("witness_unanswered", country=cc, detail=text[:300])
        return WitnessOutcome("unanswered", detail=text[len(ANSWER_ERROR) :][:300])
    if len(said) > _SAID_MAX:
        said.clear()  # at worst one record stored again, which the stream's window drops
    js = nc.jetstream(timeout=_REQUEST_TIMEOUT)
    kept = witness.kept()
    try:
        cosigned = witness.check(text)
    except WitnessRefusal as err:
        offered = AddCheckpoint.parse(text).note if not isinstance(err, WitnessMalformed) else None
        size = _head(offered).size if offered else None
        log.error("witness_refused", country=cc, reason=err.code, detail=err.description, size=size)
        record = {
            "format": REFUSAL_FORMAT,
            "country": cc,
            "reason": err.code,
            "detail": err.description,
            "known_size": err.known_size,
            "offered": offered,
            "kept": kept,
            "at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        msg_id = f"{cc}:refused:{err.code}:{size}:{_root(offered)}"
        if msg_id not in said:
            data = json.dumps(record, sort_keys=True).encode()
            await js.publish(witness_refused_subject(cc), data, headers={HDR_MSG_ID: msg_id})
            said.add(msg_id)
        return WitnessOutcome("refused", size, err.code, err.description)
    head = _head(cosigned)
    msg_id = f"{cc}:cosigned:{head.size}:{_root(cosigned)}"
    if msg_id in said:
        return WitnessOutcome("unchanged", head.size)
    await js.publish(witness_cosigned_subject(cc), cosigned.encode(), headers={HDR_MSG_ID: msg_id})
    said.add(msg_id)
    log.info("witness_cosigned", country=cc, size=head.size)
    return WitnessOutcome("cosigned", head.size)


def _root(note: str | None) -> str:
    return base64.b16encode(_head(note).root[:8]).decode() if note else "-"


async def run_witness(
    nc: NatsClient, witness: Witness, stop: asyncio.Event, every: float = 10.0
) -> None:
    """Witness the hub's log every ``every`` seconds until ``stop`` is set.

    A hub that does not answer (restarting) is asked again next time; so is one whose
    answer could not be stored.

    Args:
        nc: the party's connection.
        witness: the party's witness.
        stop: set to stop.
        every: seconds between rounds.
    """
    said: set[str] = set()
    while not stop.is_set():
        try:
            await witness_once(nc, witness, said)
        except (nats.errors.Error, OSError, TlogError) as exc:
            # TlogError: its kept checkpoint is unreadable; it refuses nothing it cannot check.
            log.warning("witness_round_failed", country=witness.country, error=str(exc)[:300])
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)


def open_witness(home: Path, country: str) -> Witness:
    """The witness of ``country`` on this deployment folder: its system key, the hub keys
    of the accepted directory (re-read when it changes), its state in
    ``state/witness/<CC>.checkpoint``.

    Raises:
        SigningKeyMissing: no valid system key of ``country`` is held here.
        GovernanceError: the directory is not accepted.
    """
    paths = AdapterHome(home)
    directory = DirectoryFile(paths)
    signer = party_signer(directory(), paths.keys_dir, country)

    def hub_keys() -> dict[str, Ed25519PublicKey]:
        return {k.kid: k.public_key for k in directory().hub.keys}

    state = paths.state_dir / "witness" / f"{country}.checkpoint"
    return Witness(country, signer.key, hub_keys, state)


@dataclass
class Witnesses:
    """The witnesses of several parties in one process, each over its own party's login."""

    stop: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    connections: list[NatsClient] = field(default_factory=list)

    @classmethod
    async def start(
        cls, home: Path, countries: Sequence[str], url: str, every: float = 10.0
    ) -> Witnesses:
        """Start a witness per country of ``countries`` (each logs in as itself).

        Args:
            home: the deployment folder holding the parties' keys and logins.
            countries: the parties.
            url: the NATS server.
            every: seconds between rounds.

        Raises:
            SigningKeyMissing, GovernanceError: a witness cannot be made (nothing started).
            NatsUnreachable: no connection to ``url``.
        """
        group = cls()
        witnesses = [open_witness(home, cc) for cc in countries]
        try:
            for witness in witnesses:
                nc = await connect(url, login_for(home, witness.country))
                group.connections.append(nc)
                task = run_witness(nc, witness, group.stop, every)
                group.tasks.append(asyncio.create_task(task, name=f"witness-{witness.country}"))
        except BaseException:
            await group.close()
            raise
        return group

    async def close(self) -> None:
        """Stop every witness and close its connection."""
        self.stop.set()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        for nc in self.connections:
            await close(nc)
