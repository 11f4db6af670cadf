"""PostgreSQL sink: one row per delivery, envelope columns + JSONB payload.

The table (created at open if absent; name set by the ``table`` option)::

    id text PRIMARY KEY, recipient, subject, theme, type, version, sender_country,
    sender_agency, sender_poc, issued_at timestamptz, handling, evaluation jsonb,
    correlation_id, in_reply_to, view, agreement, original_digest, digest, signature,
    countersignature, payload jsonb, raw text, delivered_at timestamptz DEFAULT now(),
    published_at timestamptz, original_id, amends, revision integer, status

Corrections and retractions (:mod:`schemas.amendments`) keep the history: every version
is a row of its own. ``original_id`` names the chain's first version, ``revision`` the
version (1 for the original), ``amends`` the row a correction or retraction amends, and
``status`` is ``current``, ``corrected`` (a later version replaced it), ``retracted``
(withdrawn) or ``retraction`` (the row of a retraction itself). A correction's insert
marks the row it replaces ``corrected``, a retraction's marks it ``retracted``, in the same
transaction; the current version of every message is ``WHERE status = 'current'``. The
order of arrival does not matter: a version stored after a row that amends it (the hub
handled the two at once, or a dead letter was replayed late) takes its status from that
row in the same transaction (``amends`` is indexed for it).

``raw`` keeps the exact delivered bytes so the signature can be checked later, at
``published_at`` (when the hub published it; added to older tables at open): a row as
``row_to_json`` prints it is a record ``enlace verify -`` checks. The insert
is ``ON CONFLICT (id) DO NOTHING``: a redelivery writes nothing and is reported as a
duplicate. It runs in autocommit, so the row is committed (and, with PostgreSQL's default
``synchronous_commit``, on disk) before the runner acks.

Connection trouble, serialization failures and deadlocks are transient; bad data and
constraint or permission errors are permanent.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import psycopg
from psycopg import errors as pg_errors
from psycopg import sql
from psycopg.types.json import Jsonb
from pydantic import BaseModel, ConfigDict, Field, model_validator

from adapters.base import DeliveryResult, SinkContext
from adapters.delivery import Delivery
from adapters.errors import AdapterConfigError, PermanentSinkError, TransientSinkError
from adapters.sinks._amendments import SinkAmendment, amendment_of
from adapters.sinks._conditions import CONDITION_COLUMNS, CONDITION_MIGRATIONS, condition_values
from adapters.sinks._options import parse_options
from schemas.amendments import CORRECTION, RETRACTION

__all__ = ["PostgresSink"]

_IDENT = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")

_COLUMNS = (
    "id",
    "recipient",
    "subject",
    "theme",
    "type",
    "version",
    "sender_country",
    "sender_agency",
    "sender_poc",
    "issued_at",
    "handling",
    "evaluation",
    "correlation_id",
    "in_reply_to",
    "view",
    "agreement",
    "original_digest",
    "digest",
    "signature",
    "countersignature",
    "payload",
    "raw",
    "published_at",
    *CONDITION_COLUMNS,
    "original_id",
    "amends",
    "revision",
    "status",
)

_DDL = """
CREATE TABLE IF NOT EXISTS {table} (
    id text PRIMARY KEY,
    recipient char(2) NOT NULL,
    subject text NOT NULL,
    theme text NOT NULL,
    type text NOT NULL,
    version integer,
    sender_country char(2),
    sender_agency text,
    sender_poc text,
    issued_at timestamptz,
    handling text,
    evaluation jsonb,
    correlation_id text,
    in_reply_to text,
    view text NOT NULL,
    agreement text,
    original_digest text NOT NULL,
    digest text NOT NULL,
    signature text NOT NULL,
    countersignature text,
    payload jsonb,
    raw text NOT NULL,
    delivered_at timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz,
    original_id text,
    amends text,
    revision integer,
    status text NOT NULL DEFAULT 'current'
)
"""

# A table made before a column was kept gets it (NULL or the default for its older rows).
_MIGRATE = """
ALTER TABLE {table}
    ADD COLUMN IF NOT EXISTS published_at timestamptz,
    ADD COLUMN IF NOT EXISTS original_id text,
    ADD COLUMN IF NOT EXISTS amends text,
    ADD COLUMN IF NOT EXISTS revision integer,
    ADD COLUMN IF NOT EXISTS status text NOT NULL DEFAULT 'current'
"""

# What an amendment does to the row it amends (a redelivery does it again: no change).
_MARK = "UPDATE {table} SET status = %s WHERE id = %s AND status = 'current'"
_MARKS = {CORRECTION: "corrected", RETRACTION: "retracted"}
# What a row inserted after an amendment of it gets from that amendment's row.
_MARKED_BEFORE = """
UPDATE {table} AS v
SET status = CASE WHEN a.status = 'retraction' THEN 'retracted' ELSE 'corrected' END
FROM {table} AS a
WHERE v.id = ANY(%s) AND v.status = 'current' AND a.amends = v.id
"""
_INDEX = "CREATE INDEX IF NOT EXISTS {index} ON {table} (amends)"

# Worth retrying: the server or the network, not the data.
_TRANSIENT = (
    psycopg.OperationalError,
    pg_errors.SerializationFailure,
    pg_errors.DeadlockDetected,
    pg_errors.LockNotAvailable,
)


class PostgresOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dsn: str | None = Field(None, description="libpq connection string or URI")
    dsn_env: str | None = Field(None, description="environment variable holding the DSN")
    table: str = Field(
        "enlace_deliveries",
        pattern=_IDENT.pattern,
        description="the table (created if absent; a plain lower-case SQL name)",
    )

    @model_validator(mode="after")
    def _one_dsn(self) -> PostgresOptions:
        if (self.dsn is None) == (self.dsn_env is None):
            raise ValueError("give exactly one of dsn or dsn_env (keep passwords in the env)")
        return self


class PostgresSink:
    """Inserts each delivery as one row of ``table``."""

    name: ClassVar[str] = "postgres"
    options_model: ClassVar[type[BaseModel]] = PostgresOptions

    def __init__(self, dsn: str, table: str = "enlace_deliveries") -> None:
        if not _IDENT.fullmatch(table):
            raise AdapterConfigError(f"table name {table!r} is not a plain SQL identifier")
        self._dsn = dsn
        self.table = table
        self._conn: psycopg.AsyncConnection[Any] | None = None

    @classmethod
    def from_options(cls, options: Mapping[str, Any], context: SinkContext) -> PostgresSink:
        opts = parse_options(PostgresOptions, options, cls.name, context.country)
        dsn = opts.dsn
        if opts.dsn_env is not None:
            dsn = os.environ.get(opts.dsn_env)
            if not dsn:
                raise AdapterConfigError(
                    f"adapters.{context.country} (postgres): environment variable "
                    f"{opts.dsn_env} (dsn_env) is not set"
                )
        assert dsn is not None  # the validator asks for one of the two
        return cls(dsn, opts.table)

    async def _connection(self) -> psycopg.AsyncConnection[Any]:
        if self._conn is None or self._conn.closed or self._conn.broken:
            try:
                self._conn = await psycopg.AsyncConnection.connect(self._dsn, autocommit=True)
            except psycopg.OperationalError as err:
                # The DSN may hold a password: report the kind of failure only.
                raise TransientSinkError(
                    f"cannot connect to PostgreSQL for table {self.table}: {type(err).__name__}"
                ) from None
        return self._conn

    async def open(self) -> None:
        conn = await self._connection()
        for statement in (_DDL, _MIGRATE, *CONDITION_MIGRATIONS, _INDEX):
            await conn.execute(
                sql.SQL(statement).format(
                    table=sql.Identifier(self.table),
                    index=sql.Identifier(f"{self.table}_amends"),
                )
            )

    async def already_delivered(self, message_id: str) -> bool:
        conn = await self._connection()
        query = sql.SQL("SELECT 1 FROM {} WHERE id = %s").format(sql.Identifier(self.table))
        try:
            cur = await conn.execute(query, (message_id,))
            return await cur.fetchone() is not None
        except _TRANSIENT as err:
            raise TransientSinkError(f"PostgreSQL: {type(err).__name__}") from None

    @staticmethod
    def _row(delivery: Delivery, amendment: SinkAmendment | None) -> tuple[Any, ...]:
        msg = delivery.message
        raw_sender = msg.get("sender")
        sender: dict[str, Any] = raw_sender if isinstance(raw_sender, dict) else {}
        evaluation = msg.get("evaluation")
        payload = msg.get("payload")
        version = msg.get("version")
        return (
            delivery.message_id,
            delivery.recipient,
            delivery.subject,
            delivery.theme,
            delivery.type,
            version if isinstance(version, int) else None,
            sender.get("country"),
            sender.get("agency"),
            sender.get("poc"),
            msg.get("issued_at"),
            msg.get("handling"),
            Jsonb(evaluation) if evaluation is not None else None,
            msg.get("correlation_id"),
            msg.get("in_reply_to"),
            delivery.view,
            delivery.agreement,
            delivery.original_digest,
            delivery.digest,
            delivery.signature,
            delivery.countersignature,
            Jsonb(payload) if payload is not None else None,
            delivery.body.decode("utf-8"),
            delivery.published_at,
            *condition_values(delivery),
            amendment.original if amendment else delivery.message_id,
            amendment.amends if amendment else None,
            amendment.version if amendment else 1,
            "retraction" if amendment and amendment.kind == RETRACTION else "current",
        )

    async def deliver(self, delivery: Delivery) -> DeliveryResult:
        return (await self.deliver_batch([delivery]))[0]

    async def deliver_batch(self, deliveries: Sequence[Delivery]) -> list[DeliveryResult]:
        """Insert every delivery in one transaction (one commit: one WAL flush)."""
        query = sql.SQL(
            "INSERT INTO {table} ({columns}) VALUES ({values}) "
            "ON CONFLICT (id) DO NOTHING RETURNING id"
        ).format(
            table=sql.Identifier(self.table),
            columns=sql.SQL(", ").join(map(sql.Identifier, _COLUMNS)),
            values=sql.SQL(", ").join(sql.Placeholder() * len(_COLUMNS)),
        )
        mark = sql.SQL(_MARK).format(table=sql.Identifier(self.table))
        marked_before = sql.SQL(_MARKED_BEFORE).format(table=sql.Identifier(self.table))
        rows, amendments = [], [amendment_of(d) for d in deliveries]
        for delivery, amendment in zip(deliveries, amendments, strict=True):
            try:
                rows.append(self._row(delivery, amendment))
            except UnicodeDecodeError:
                raise PermanentSinkError(
                    f"delivery {delivery.message_id} is not UTF-8", reason="not_utf8"
                ) from None
        conn = await self._connection()
        results = []
        what = ", ".join(d.message_id for d in deliveries[:3]) + (
            f" and {len(deliveries) - 3} more" if len(deliveries) > 3 else ""
        )
        try:
            async with conn.transaction():
                for delivery, row, amendment in zip(deliveries, rows, amendments, strict=True):
                    cur = await conn.execute(query, row)
                    inserted = await cur.fetchone()
                    if amendment is not None:
                        await conn.execute(mark, (_MARKS[amendment.kind], amendment.amends))
                    location = f"{self.table}:{delivery.message_id}"
                    results.append(DeliveryResult(location, duplicate=inserted is None))
                stored = [
                    d.message_id
                    for d, r in zip(deliveries, results, strict=True)
                    if not r.duplicate
                ]
                if stored:
                    await conn.execute(marked_before, (stored,))
        except _TRANSIENT as err:
            raise TransientSinkError(f"PostgreSQL insert of {what}: {type(err).__name__}") from None
        except psycopg.Error as err:
            state = err.sqlstate or "unknown"
            raise PermanentSinkError(
                f"PostgreSQL refused {what} into {self.table}: "
                f"{type(err).__name__} (SQLSTATE {state})",
                reason=f"pg_{state}",
            ) from None
        return results

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None
