"""The feedback store and score log (SQLAlchemy): sales decisions kept for retraining, every
answer logged for monitoring and for comparing model and rules on live traffic.

Default: a SQLite file `leadscore.db` in the current folder; `LEADSCORE_DB_URL` points at
PostgreSQL (or any SQLAlchemy URL). Tables are created when missing, never dropped. A decision is
idempotent by the client's id: posting it again stores nothing new and says so.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    insert,
    select,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError

from core.errors import LeadscoreError
from core.schema import ANSWER, TEXT, Field

metadata = MetaData()
decisions = Table(
    "decisions",
    metadata,
    Column("feedback_id", String(128), primary_key=True),
    Column("lead_id", String(128), nullable=False, index=True),
    Column("mql_at", DateTime(timezone=True), nullable=True),
    Column("decision", String(16), nullable=False),
    Column("reason", String(64), nullable=True),
    Column("decided_at", DateTime(timezone=True), nullable=False),
    Column("rep_id", String(128), nullable=True),
    Column("note", Text, nullable=True),
    Column("received_at", DateTime(timezone=True), nullable=False),
)
SQL_TYPES = {"string": String, "double": Float, "long": BigInteger, "boolean": Boolean, "datetime": DateTime}


def _sql(field: Field) -> Column:
    """A score-log column for an answer field: nullable, so that `migrate` can add it to a table that
    an older leadscore created."""
    kind = SQL_TYPES[field.kind]
    if field.kind == "string":
        return Column(field.name, kind(field.length), nullable=True)
    return Column(field.name, kind(timezone=True) if field.kind == "datetime" else kind(), nullable=True)


def scores_table(meta: MetaData, fields: tuple[Field, ...] = ANSWER) -> Table:
    """The score log: every answer's fields (`core.schema.ANSWER`), when, by what, and the lead's
    source. Columns added to the answer after a table was created are added by `migrate`."""
    lead_id, *rest = fields
    return Table(
        "scores",
        meta,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column(lead_id.name, String(lead_id.length), nullable=False, index=True),
        Column("scored_at", DateTime(timezone=True), nullable=False, index=True),
        *(_sql(field) for field in rest),
        Column("scored_by", String(8), nullable=False),
        Column("source", String(TEXT), nullable=True),
    )


scores = scores_table(metadata)


def score_row(answer, source: str | None, scored_at: datetime, fields: tuple[Field, ...] = ANSWER) -> dict:
    """The score-log row of one answer (any object with the answer's fields as attributes)."""
    row = {field.name: getattr(answer, field.name) for field in fields}
    return {**row, "scored_at": scored_at, "scored_by": answer.scored_by, "source": source}


def migrate(engine: Engine, meta: MetaData = metadata) -> list[str]:
    """Add the nullable columns a newer leadscore logs to tables an older one created (rows kept,
    the new column empty for them); the schema only ever grows. Returns what it added."""
    from sqlalchemy import inspect, text

    added = []
    existing = inspect(engine)
    for table in meta.sorted_tables:
        have = {column["name"] for column in existing.get_columns(table.name)}
        for column in table.columns:
            if column.name in have:
                continue
            if not column.nullable:
                raise LeadscoreError(f"table {table.name} lacks column {column.name}, which cannot be added empty")
            kind = column.type.compile(dialect=engine.dialect)
            with engine.begin() as connection:
                connection.execute(text(f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" {kind}'))
            added.append(f"{table.name}.{column.name}")
    return added


class StoreUnavailable(LeadscoreError):
    """The database cannot be reached or written now; nothing was stored."""


def database_url(url: str | None = None) -> str:
    return url or os.environ.get("LEADSCORE_DB_URL") or f"sqlite:///{Path.cwd() / 'leadscore.db'}"


def redacted(url: str) -> str:
    """The URL without its password, for logs and messages."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "(unparseable database URL)"


@dataclass(frozen=True)
class Stored:
    feedback_id: str
    duplicate: bool


class FeedbackStore:
    def __init__(self, url: str | None = None):
        self.url = database_url(url)
        try:
            self.engine: Engine = create_engine(self.url, pool_pre_ping=True, future=True)
            metadata.create_all(self.engine)  # creates what is missing; never drops
            migrate(self.engine)
        except SQLAlchemyError as exc:
            raise LeadscoreError(
                f"feedback store {redacted(self.url)}: cannot open it ({type(exc).__name__}: "
                f"{str(exc).splitlines()[0][:200]})"
            ) from None

    def add_decision(
        self,
        feedback_id: str,
        lead_id: str,
        decision: str,
        reason: str | None,
        decided_at: datetime,
        mql_at: datetime | None = None,
        rep_id: str | None = None,
        note: str | None = None,
    ) -> Stored:
        """Store a sales decision once; a repeat of the same id stores nothing new."""
        row = dict(
            feedback_id=feedback_id,
            lead_id=lead_id,
            decision=decision,
            reason=reason,
            decided_at=decided_at,
            mql_at=mql_at,
            rep_id=rep_id,
            note=note,
            received_at=datetime.now(UTC),
        )
        try:
            with self.engine.begin() as connection:
                connection.execute(insert(decisions).values(**row))
            return Stored(feedback_id, duplicate=False)
        except IntegrityError:
            return Stored(feedback_id, duplicate=True)
        except OperationalError as exc:
            raise StoreUnavailable(f"feedback store unavailable ({type(exc.orig).__name__})") from None

    def log_scores(self, rows: list[dict]) -> None:
        if not rows:
            return
        try:
            with self.engine.begin() as connection:
                connection.execute(insert(scores), rows)
        except SQLAlchemyError as exc:
            raise StoreUnavailable(f"score log unavailable ({type(exc).__name__})") from None

    def decisions_since(self, since: datetime | None = None):
        """Decisions received after `since` (all when None), as an outcomes-shaped frame."""
        import pandas as pd

        query = select(decisions)
        if since is not None:
            query = query.where(decisions.c.received_at > since)
        with self.engine.connect() as connection:
            frame = pd.read_sql(query, connection)
        for column in ("mql_at", "decided_at", "received_at"):
            frame[column] = pd.to_datetime(frame[column], utc=True)
        return frame

    def count(self, table: Table) -> int:
        from sqlalchemy import func

        with self.engine.connect() as connection:
            return int(connection.execute(select(func.count()).select_from(table)).scalar_one())
