"""The feedback store and score log (SQLAlchemy): sales decisions kept for retraining, every
answer logged for monitoring and for comparing model and rules on live traffic.

Default: a SQLite file `leadscore.db` in the current folder; `LEADSCORE_DB_URL` points at
PostgreSQL (or any SQLAlchemy URL). `FeedbackStore(url)` never connects: `open()` connects and
migrates (Alembic, `core/migrations`), and every operation opens on demand, raising
`StoreUnavailable` while the database cannot be reached. Times are UTC instants on every database.

Feature rows (`score_features`): the model's input feature row of a sampled share of model
answers, written with the score rows (`log_scores(rows, features)`), read in bulk by
`read_feature_rows`. Compact (`core.tables.features_table`): a row's numbers are one float64
vector, its texts a short JSON array, the feature names and kinds kept once per layout
(`feature_layouts`); a million rows of 87 features take ~880 bytes each on SQLite (2.3 kB as JSON)
and read in seconds (benchmarks/bench_feature_log.py). `prune(before)` deletes score-log and
feature rows scored before an instant; decisions are never pruned, nor the score rows that place
a decision sent without its hand-over.

Decisions: idempotent by the client's `feedback_id` (the same body again is a duplicate, another
body a `DecisionConflict`). A decision belongs to the hand-over (lead_id, mql_at); one without
mql_at is placed first on its lead's latest hand-over at or before its decision (the mql_at its
lead's decisions name, and the lead's score times in the score log; `core.decisions.with_status`),
then the latest of a placed hand-over (greatest decided_at, then received_at, then feedback_id;
voided ones left out first) supersedes the others, which stay in the history. Status is computed
when read, never stored.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import (
    String,
    Table,
    bindparam,
    create_engine,
    delete,
    event,
    func,
    insert,
    select,
    sql,
    text,
    type_coerce,
    union_all,
    update,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import (
    DBAPIError,
    DisconnectionError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    SQLAlchemyError,
)

from core.decisions import with_status
from core.errors import LeadscoreError
from core.tables import (
    FEATURE_KEYS,
    NUMBER_KIND,
    TEXT_KIND,
    UTCDateTime,
    decisions,
    encode_features,
    feature_kinds,
    feature_layouts,
    layout_id,
    metadata,
    migrate,
    score_features,
    score_row,
    scores,
    scores_table,
    utc,
)

BODY = ("lead_id", "mql_at", "decision", "reason", "decided_at", "rep_id", "note")  # what a repeat must match
STATUS = ("status", "superseded_by")
# the tables and the answer columns live in core/tables.py; callers may take them from here
__all__ = [
    "BODY",
    "STATUS",
    "DecisionConflict",
    "DecisionRefused",
    "FeedbackStore",
    "LastScores",
    "Logged",
    "StoreUnavailable",
    "Stored",
    "UTCDateTime",
    "database_url",
    "decisions",
    "feature_layouts",
    "metadata",
    "migrate",
    "open_store",
    "redacted",
    "score_features",
    "score_row",
    "scores",
    "scores_table",
    "scrubbed",
    "unreachable",
    "utc",
    "with_status",
]  # fmt: skip


class StoreUnavailable(LeadscoreError):
    """The database cannot be reached or written now; nothing was stored."""


class DecisionConflict(LeadscoreError):
    """A `feedback_id` already stored with another decision; `fields` names what differs."""

    def __init__(self, feedback_id: str, fields: list[str]):
        self.feedback_id, self.fields = feedback_id, fields
        super().__init__(
            f"feedback_id '{feedback_id}' was stored with another decision (differs in: {', '.join(fields)})"
        )


class DecisionRefused(LeadscoreError):
    """The database refused a decision (a value it cannot hold); nothing was stored."""


def database_url(url: str | None = None) -> str:
    return url or os.environ.get("LEADSCORE_DB_URL") or f"sqlite:///{Path.cwd() / 'leadscore.db'}"


def redacted(url: str) -> str:
    """The URL without its password, for logs and messages."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "(unparseable database URL)"


def unreachable(exc: BaseException) -> bool:
    """Whether a database error means "cannot reach or use the database now" rather than "this row"."""
    if isinstance(exc, OperationalError | InterfaceError | DisconnectionError | OSError):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


def scrubbed(message: str, url: str) -> str:
    """`message` without the database password, whatever quoted it."""
    from sqlalchemy.engine import make_url

    try:
        password = make_url(url).password
    except Exception:
        return message
    return message.replace(str(password), "***") if password else message


def open_store(db: str, option: str = "--db") -> FeedbackStore:
    """The feedback store that command-line `option` names (a URL, or "default": $LEADSCORE_DB_URL,
    else ./leadscore.db), open. One clear line (password hidden) when it cannot be, and a SQLite
    file that does not exist is never created: there is no store there to read."""
    from sqlalchemy.engine import make_url

    url = database_url(None if db == "default" else db)
    try:
        parsed = make_url(url)
    except Exception:
        raise LeadscoreError(f"{option}: not a database URL ({redacted(url)})") from None
    path = parsed.database or ""
    local = parsed.get_backend_name() == "sqlite" and path and path != ":memory:" and not path.startswith("file:")
    if local and not Path(path).is_file():
        raise LeadscoreError(f"{path}: no feedback store there (the service creates it when it first starts)")
    store = FeedbackStore(url)
    if not store.open():
        raise LeadscoreError(scrubbed(f"feedback store unavailable: {store.problem or redacted(url)}", url))
    return store


class _OneLine(logging.Filter):
    """SQLAlchemy's pool logs a connection that the database closed under it (a restart,
    pg_terminate_backend) as "Exception during reset or similar" with a traceback; the store
    reconnects on its next use, so the error's kind and first line are all an operator needs."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            first = (str(exc).strip().splitlines() or [""])[0][:200]
            record.msg, record.args = f"{record.getMessage()}: {type(exc).__name__}: {first}", None
            record.exc_info, record.exc_text = None, None
        return True


ONE_LINE = _OneLine()


def _engine(url: str) -> Engine:
    """An engine for `url`, not connected. SQLite: SQLAlchemy emits BEGIN (so savepoints and DDL are
    transactional; `sqlite_immediate` takes the write lock at once); PostgreSQL: a connect timeout."""
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
        backend = parsed.get_backend_name()
        args = {"timeout": 30} if backend == "sqlite" else {}
        if backend == "postgresql" and "connect_timeout" not in parsed.query:
            args["connect_timeout"] = 5
        engine = create_engine(parsed, pool_pre_ping=True, connect_args=args)
    except (SQLAlchemyError, ImportError, ValueError) as exc:
        raise LeadscoreError(f"feedback store {redacted(url)}: not a usable database URL ({exc})") from None
    pool_logger = engine.pool.logger  # a logging.Logger per pool class (an echoing engine has its own)
    if isinstance(pool_logger, logging.Logger) and ONE_LINE not in pool_logger.filters:
        pool_logger.addFilter(ONE_LINE)
    if backend == "sqlite":

        @event.listens_for(engine, "connect")
        def _no_driver_begin(dbapi_connection, _record) -> None:
            dbapi_connection.isolation_level = None

        @event.listens_for(engine, "begin")
        def _begin(connection: Connection) -> None:
            immediate = connection.get_execution_options().get("sqlite_immediate")
            connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


@dataclass(frozen=True)
class Stored:
    feedback_id: str
    duplicate: bool


@dataclass(frozen=True)
class Logged:
    """What `log_scores` did: rows written, rows the database refused (dropped) and its errors' kinds."""

    written: int
    refused: int = 0
    errors: tuple[str, ...] = ()


@dataclass(frozen=True)
class LastScores:
    """A lead's latest model score and latest rule score in the score log, each with when it was
    given (`scored_at`); None where the log has none."""

    score: float | None = None
    score_at: datetime | None = None
    rule_score: float | None = None
    rule_at: datetime | None = None


class FeedbackStore:
    """Sales decisions and the score log in one database; see the module's docstring."""

    def __init__(self, url: str | None = None):
        self.url = database_url(url)
        self.engine: Engine = _engine(self.url)
        self.problem: str | None = None  # why the last open failed (for logs; no password)
        self._failure = ""  # the kind of that failure, for messages to clients
        self._migrated = False
        self._reachable = False
        self._opening = threading.Lock()
        self._layouts: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}  # feature-row layouts met

    @property
    def ready(self) -> bool:
        """Whether the database is migrated and answered the last time it was used."""
        return self._migrated and self._reachable

    def open(self) -> bool:
        """Connect and migrate (once; later calls check the database answers). Never raises for a
        database that is down or refuses: returns False and keeps why in `problem`."""
        from core.migrations import upgrade

        with self._opening:
            try:
                if self._migrated:
                    with self.engine.connect() as connection:
                        connection.execute(text("SELECT 1"))
                else:
                    upgrade(self.engine, migrate)
                    self._migrated = True
            except (SQLAlchemyError, OSError, LeadscoreError) as exc:
                self._reachable, self._failure = False, type(exc).__name__
                detail = (str(exc).strip().splitlines() or [""])[0][:200]
                self.problem = f"{redacted(self.url)}: {self._failure}: {detail}"
                return False
            self._reachable, self.problem, self._failure = True, None, ""
            return True

    @contextmanager
    def _connection(self, write: bool = False, single: bool = False) -> Iterator[Connection]:
        """A connection (in a transaction that commits when `write`), opening the store first if
        needed; a database that cannot be reached -> StoreUnavailable. `single`: a read of one
        statement, in autocommit on a database server (no BEGIN and ROLLBACK round trips around
        it; SQLite has no round trips, and switching its mode costs more than it saves)."""
        if not self._migrated and not self.open():
            raise StoreUnavailable(f"feedback store unavailable: cannot open it ({self._failure})")
        try:
            with self.engine.begin() if write else self.engine.connect() as connection:
                if single and connection.dialect.name != "sqlite":
                    connection.execution_options(isolation_level="AUTOCOMMIT")
                yield connection
        except SQLAlchemyError as exc:
            if not unreachable(exc):
                raise
            self._reachable = False
            raise StoreUnavailable(f"feedback store unavailable ({type(exc).__name__})") from None
        self._reachable = True

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
        """Store a sales decision once: the same body again is a duplicate, another body a
        `DecisionConflict` naming what differs."""
        body = dict(
            lead_id=lead_id,
            mql_at=utc(mql_at),
            decision=decision,
            reason=reason,
            decided_at=utc(decided_at),
            rep_id=rep_id,
            note=note,
        )
        try:
            with self._connection(write=True) as connection:
                connection.execute(insert(decisions).values(feedback_id=feedback_id, received_at=_now(), **body))
            return Stored(feedback_id, duplicate=False)
        except IntegrityError:
            pass  # most likely stored before: compare below
        except SQLAlchemyError as exc:
            raise DecisionRefused(f"decision not stored: the database refused it ({type(exc).__name__})") from None
        with self._connection() as connection:
            stored = connection.execute(select(decisions).where(decisions.c.feedback_id == feedback_id)).first()
        if stored is None:
            raise DecisionRefused("decision not stored: the database refused it (IntegrityError)")
        differs = [name for name in BODY if getattr(stored, name) != body[name]]
        if differs:
            raise DecisionConflict(feedback_id, differs)
        return Stored(feedback_id, duplicate=True)

    def decisions(
        self, since=None, lead_id: str | None = None, decision: str | None = None, reason: str | None = None, known=None
    ):
        """Every stored decision (the history) with its `handover`, `status` ("latest": in force,
        "superseded", "voided") and `superseded_by` (`core.decisions.with_status`); the hand-overs
        a decision without mql_at is placed on: `known` (lead_id, mql_at), by default the score
        log's times of those decisions' leads. Filters: received after `since`, lead, decision, reason."""
        import pandas as pd

        history = self.read(select(decisions))
        if known is None:  # the score log's times, for leads none of whose decisions names its hand-over:
            # a lead re-scored after a decision that names its hand-over must not make a correction
            # without mql_at a hand-over of its own (both would be in force)
            named = set(history.loc[history["mql_at"].notna() & history["voided_at"].isna(), "lead_id"])
            undated = history.loc[history["mql_at"].isna() & ~history["lead_id"].isin(named), "lead_id"]
            known = self.score_times(undated.unique().tolist()).rename(columns={"scored_at": "mql_at"})
        frame = with_status(history, known)
        keep = pd.Series(True, index=frame.index)
        if since is not None:
            keep &= frame["received_at"] > pd.Timestamp(utc(since))
        for column, wanted in (("lead_id", lead_id), ("decision", decision), ("reason", reason)):
            if wanted is not None:
                keep &= frame[column] == wanted
        return frame[keep].reset_index(drop=True)

    def read(self, query):
        """The rows of a select as a DataFrame (the time columns aware UTC)."""
        import pandas as pd

        with self._connection() as connection:
            return pd.read_sql(query, connection)

    def read_scores(
        self,
        columns: list[str] | None = None,
        *,
        lead_ids: list[str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        model_version: str | None = None,
        model_only: bool = False,
        chunk: int = 500,
    ):
        """The score log, the one way every reader takes it: the rows' `columns` (all when None;
        `id`, `lead_id` and `scored_at` always), of `lead_ids` when given (one query per `chunk`),
        scored from `since` to `until` (both inclusive), by `model_version`, only model answers
        (`probability` not null) when `model_only`; ordered by scored_at then id, `scored_at` as UTC
        instants in microseconds."""
        import pandas as pd

        keep = [
            "id",
            "lead_id",
            "scored_at",
            *(c for c in (columns or scores.c.keys()) if c not in ("id", "lead_id", "scored_at")),
        ]
        query = select(*(scores.c[name] for name in keep))
        if since is not None:
            query = query.where(scores.c.scored_at >= since)
        if until is not None:
            query = query.where(scores.c.scored_at <= until)
        if model_version is not None:
            query = query.where(scores.c.model_version == model_version)
        if model_only:
            query = query.where(scores.c.probability.is_not(None))
        if lead_ids is None:
            parts = [self.read(query)]
        else:
            ids = list(dict.fromkeys(lead_ids))
            parts = [
                self.read(query.where(scores.c.lead_id.in_(ids[i : i + chunk]))) for i in range(0, len(ids), chunk)
            ]
        frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=keep)
        frame = frame.reindex(columns=keep)
        frame["scored_at"] = pd.to_datetime(frame["scored_at"], utc=True).astype(pd.DatetimeTZDtype("us", "UTC"))
        return frame.sort_values(["scored_at", "id"], kind="stable").reset_index(drop=True)

    def score_times(self, lead_ids: list[str], chunk: int = 500):
        """When the score log scored each of `lead_ids` (lead_id, scored_at as UTC instants)."""
        return self.read_scores([], lead_ids=lead_ids, chunk=chunk)[["lead_id", "scored_at"]]

    def latest_decisions(self, known=None):
        """The decision in force for each placed hand-over: the rows with status "latest"."""
        frame = self.decisions(known=known)
        return frame[frame["status"] == "latest"].reset_index(drop=True)

    def decisions_since(self, since: datetime | None = None):
        """Decisions received after `since` (all when None): `decisions(since)`, kept for callers of 0.1.0."""
        return self.decisions(since=since)

    def void(self, feedback_id: str, why: str) -> None:
        """Leave a decision out of training, kept in the history with when and why."""
        if not why or not why.strip():
            raise LeadscoreError("why: say why the decision is voided")
        with self._connection(write=True) as connection:
            done = connection.execute(
                update(decisions)
                .where(decisions.c.feedback_id == feedback_id, decisions.c.voided_at.is_(None))
                .values(voided_at=_now(), void_reason=why)
            ).rowcount
            if done != 1:
                query = select(decisions.c.voided_at).where(decisions.c.feedback_id == feedback_id)
                voided = connection.execute(query).first()
        if done == 1:
            return
        if voided is None:
            raise LeadscoreError(f"feedback_id '{feedback_id}': no such decision in the feedback store")
        raise LeadscoreError(f"feedback_id '{feedback_id}' was already voided at {voided[0].isoformat()}")

    def log_scores(self, rows: list[dict], features: list[dict] = ()) -> Logged:
        """Write score-log rows, and `features` rows (`log_feature_rows`), in one transaction. The
        database unreachable -> StoreUnavailable and nothing written (keep the rows, retry). Rows
        the database refuses (DataError, IntegrityError, a NUL on PostgreSQL, ...) are found by
        halving the batch under savepoints, left out and counted in the answer (score rows only:
        a refused feature row is left out silently): the others are written, so one row never
        blocks the log."""
        if not rows and not features:
            return Logged(0)
        errors: list[str] = []
        with self._connection(write=True) as connection:
            if rows:
                _insert(connection, scores, rows, errors)
            if features:
                try:
                    encoded = self._encoded(connection, features)
                except (TypeError, ValueError) as exc:  # a fault of the feature rows: the score rows still go
                    logging.getLogger("leadscore.store").warning("feature rows not logged (%s)", type(exc).__name__)
                    encoded = []
                if encoded:
                    _insert(connection, score_features, encoded, [])
        return Logged(len(rows) - len(errors), len(errors), tuple(sorted(set(errors))))

    def log_feature_rows(self, rows: list[dict]) -> int:
        """Write feature rows (lead_id, scored_at, model_version, segment, features: {name: value}
        or its JSON text) in one transaction; returns how many the database took."""
        if not rows:
            return 0
        errors: list[str] = []
        with self._connection(write=True) as connection:
            _insert(connection, score_features, self._encoded(connection, rows), errors)
        return len(rows) - len(errors)

    def log_feature_frame(self, frame, chunk: int = 100_000) -> int:
        """Write feature rows given as columns (bulk writers: benchmarks, imports): lead_id,
        scored_at, model_version, segment, then one column per feature; `chunk` rows per insert,
        all in one transaction. Returns how many were written."""
        keys = list(FEATURE_KEYS)
        names = [name for name in frame.columns if name not in keys]
        with self._connection(write=True) as connection:
            for start in range(0, len(frame), chunk):
                part = frame.iloc[start : start + chunk]
                columns = {name: _column(part[name]) for name in names}
                heads = part[keys].astype(object).where(part[keys].notna(), None).to_dict("records")
                connection.execute(insert(score_features), self._layout_rows(connection, heads, columns))
        return len(frame)

    def _encoded(self, connection: Connection, rows: list[dict]) -> list[dict]:
        """Feature rows as `score_features` keeps them (`core.tables.encode_features`), their
        layouts stored when new; rows with the same feature names are encoded together."""
        import json

        groups: dict[tuple[str, ...], list[tuple[dict, dict]]] = {}
        for row in rows:
            values = row["features"]
            values = json.loads(values) if isinstance(values, str) else values
            if not isinstance(values, Mapping):  # the score rows beside them are written all the same
                raise TypeError("a feature row's features must be an object of names and values")
            groups.setdefault(tuple(values), []).append((row, values))
        out = []
        for names, group in groups.items():
            heads = [{key: row.get(key) for key in FEATURE_KEYS} for row, _ in group]
            # each row's values in the order of `names` (its own keys' order: the group's key)
            rows_values = zip(*(values.values() for _, values in group), strict=True)
            columns = dict(zip(names, map(list, rows_values), strict=True))
            out += self._layout_rows(connection, heads, columns)
        return out

    def _layout_rows(self, connection: Connection, heads: list[dict], columns: dict) -> list[dict]:
        """The rows to insert for one set of feature names: `heads` (the keys) with the layout id,
        numbers and texts; the layout stored first when this store has not met it."""
        import json

        known = self._layout_kinds(connection, tuple(columns))
        kinds = feature_kinds(columns, known)
        layout = layout_id(tuple(columns), kinds)
        # looked for in every transaction: one that rolled back may have taken a new layout with it
        stored = connection.execute(select(feature_layouts.c.layout).where(feature_layouts.c.layout == layout)).first()
        if stored is None:
            body = {"layout": layout, "names": json.dumps(list(columns)), "kinds": json.dumps(list(kinds))}
            _insert(connection, feature_layouts, [body], [])  # another worker's at once: a duplicate
        self._layouts[layout] = (tuple(columns), kinds)
        numbers, texts = encode_features(columns, kinds, len(heads))
        return [
            {**head, "layout": layout, "numbers": blob, "texts": text_}
            for head, blob, text_ in zip(heads, numbers, texts, strict=True)
        ]

    def _layout_kinds(self, connection: Connection, names: tuple[str, ...]) -> dict[str, str]:
        """The kinds a stored layout of these names gives its features (for a feature a batch has
        no value of), the store's layouts read once per store."""
        if not self._layouts:
            self._layouts.update(_read_layouts(connection))
        for stored, kinds in self._layouts.values():
            if stored == names:
                return dict(zip(stored, kinds, strict=True))
        return {}

    def read_feature_rows(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        model_version: str | None = None,
        chunk: int = 50_000,
    ):
        """The feature rows scored from `since` to `until` (both inclusive), of `model_version`:
        lead_id, scored_at (UTC, microseconds), model_version, segment, then one column per feature
        (in the order their layouts were first written; numbers float64, text object, None where missing;
        a feature that is text in one layout and a number in another: object), ordered by
        scored_at then id. Fetched `chunk` rows at a time: a chunk's numbers are one
        `np.frombuffer` per layout, its texts one `json.loads`."""
        table = score_features
        where = []
        if since is not None:
            where.append(table.c.scored_at >= utc(since))
        if until is not None:
            where.append(table.c.scored_at <= utc(until))
        if model_version is not None:
            where.append(table.c.model_version == model_version)
        at = type_coerce(table.c.scored_at, String)  # parsed below in one call, not row by row
        fetch = select(
            table.c.lead_id, at, table.c.model_version, table.c.segment, table.c.layout, table.c.numbers, table.c.texts
        ).where(*where)
        with self._connection() as connection:
            counted = select(table.c.layout, func.count(), func.min(table.c.id)).where(*where).group_by(table.c.layout)
            found = sorted(connection.execute(counted), key=lambda row: row[2])
            layouts = _read_layouts(connection)
            missing = [row[0] for row in found if row[0] not in layouts]
            if missing:
                raise LeadscoreError(f"score_features: rows of layout {missing[0]}, which feature_layouts lacks")
            gathered = Gathered([layouts[row[0]] for row in found], layouts, sum(row[1] for row in found))
            result = connection.execution_options(stream_results=True, yield_per=chunk).execute(
                fetch.order_by(table.c.scored_at, table.c.id)
            )
            with _no_gc():  # millions of small objects made and dropped: the collector's passes cost more
                for rows in result.partitions(chunk):
                    gathered.add(rows)
        return gathered.frame()

    def newest_score(self) -> datetime | None:
        """When the newest answer in the score log was scored (None: the log is empty)."""
        with self._connection() as connection:
            return utc(connection.execute(select(func.max(scores.c.scored_at))).scalar_one())

    def prune(self, older_than: datetime, chunk: int = 5_000) -> dict[str, int]:
        """Delete the score-log rows and feature rows scored before `older_than`, `chunk` rows per
        transaction; returns how many of each. Decisions are never pruned, nor the score rows of
        leads with a decision sent without its hand-over's mql_at (they place it:
        `core.decisions.with_status`)."""
        cut = utc(older_than)
        if cut is None:
            raise LeadscoreError("prune: say before which instant")
        undated = select(decisions.c.lead_id).where(decisions.c.mql_at.is_(None))
        targets = (
            ("scores", scores, [scores.c.scored_at < cut, scores.c.lead_id.not_in(undated)]),
            ("score_features", score_features, [score_features.c.scored_at < cut]),
        )
        deleted = {}
        for name, table, where in targets:
            deleted[name] = 0
            while True:
                batch = select(table.c.id).where(*where).limit(chunk).scalar_subquery()
                with self._connection(write=True) as connection:
                    done = connection.execute(delete(table).where(table.c.id.in_(batch))).rowcount
                deleted[name] += done
                if done < chunk:
                    break
        return deleted

    def last_scores(self, lead_ids: list[str], chunk: int = 200) -> dict[str, LastScores]:
        """Each lead's latest logged model score and latest rule score (`LastScores`); leads the log
        has never scored are left out. One query per `chunk` leads: the newest row of each lead
        and its newest row with a model score (every row has a rule score), each found through the
        index on (lead_id, scored_at, id), however many rows the lead has."""
        ids = list(dict.fromkeys(lead_ids))
        found: dict[str, LastScores] = {}
        with self._connection(single=len(ids) <= chunk) as connection:
            for start in range(0, len(ids), chunk):
                part = ids[start : start + chunk]
                query, values = _latest_rows(len(part)), {f"lead{k}": i for k, i in enumerate(part)}
                for row in connection.execute(query, values):
                    found[row.lead_id] = _merged(found.get(row.lead_id, LastScores()), row)
        return found

    def count(self, table: Table) -> int:
        with self._connection() as connection:
            return int(connection.execute(select(func.count()).select_from(table)).scalar_one())


def _now() -> datetime:
    return datetime.now(UTC)


@functools.lru_cache(maxsize=64)
def _latest_rows(leads: int):
    """For `leads` leads (bind parameters lead0, lead1...), the newest score-log row of each and its
    newest row with a model score (one row when they are the same), oldest first: a correlated
    `ORDER BY scored_at DESC, id DESC LIMIT 1` per lead, which the index answers with one seek,
    over the leads given as a union of one-value selects (SQLite has no VALUES list with column
    names). Made once per number of leads: building it costs more than running it."""
    picks = [select(bindparam(f"lead{k}", type_=scores.c.lead_id.type).label("lead_id")) for k in range(leads)]
    wanted = (picks[0] if leads == 1 else union_all(*picks)).subquery("wanted")
    log = sql.table("scores", *(sql.column(name) for name in ("id", "lead_id", "scored_at", "score"))).alias("newest")

    def newest(scored: bool):
        found = select(log.c.id).where(log.c.lead_id == wanted.c.lead_id)
        if scored:
            found = found.where(log.c.score.is_not(None))
        return found.order_by(log.c.scored_at.desc(), log.c.id.desc()).limit(1).scalar_subquery()

    ids = union_all(select(newest(False)).select_from(wanted), select(newest(True)).select_from(wanted))
    rows = select(scores.c.lead_id, scores.c.scored_at, scores.c.score, scores.c.rule_score)
    return rows.where(scores.c.id.in_(ids)).order_by(scores.c.scored_at, scores.c.id)  # `_merged` takes the last


def _merged(last: LastScores, row) -> LastScores:
    """`last` with one of `_latest_rows`' rows (oldest first) taken in: its model score, and its
    rule score unless older."""
    at = utc(row.scored_at)
    model = (row.score, at) if row.score is not None else (last.score, last.score_at)
    newer = last.rule_at is None or at >= last.rule_at  # rows come oldest first: at a tie, the later logged
    rule = (row.rule_score, at) if newer else (last.rule_score, last.rule_at)
    return LastScores(*model, *rule)


@contextmanager
def _no_gc() -> Iterator[None]:
    """The cyclic garbage collector paused (nothing made here holds a cycle)."""
    import gc

    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _read_layouts(connection: Connection) -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
    """Every stored layout: its id -> (names, kinds)."""
    import json

    rows = connection.execute(select(feature_layouts.c.layout, feature_layouts.c.names, feature_layouts.c.kinds))
    return {layout: (tuple(json.loads(names)), tuple(json.loads(kinds))) for layout, names, kinds in rows}


def _column(series):
    """A frame's feature column for `encode_features`: numbers as a float64 array, the rest as a list."""
    import numpy as np
    import pandas as pd

    if pd.api.types.is_bool_dtype(series) or pd.api.types.is_numeric_dtype(series):
        return series.to_numpy(dtype=np.float64, na_value=np.nan)
    return series.astype(object).where(series.notna(), None).tolist()


class Gathered:
    """Feature rows read in chunks, put into columns as they come: one float64 array per number
    feature (NaN where missing), one object array per text feature (None where missing), sized
    for the rows counted first and grown if more arrive meanwhile."""

    def __init__(self, order: list, layouts: dict, expected: int):
        self.layouts = layouts
        self.kinds: dict[str, str] = {}  # output columns in order first met: "text" if text in any layout
        for names, kinds in order:
            for name, kind in zip(names, kinds, strict=True):
                if name not in FEATURE_KEYS and self.kinds.get(name) != TEXT_KIND:
                    self.kinds[name] = kind
        self.size, self.n = max(expected, 1), 0
        self.columns = {name: self._empty(kind, self.size) for name, kind in self.kinds.items()}
        self.heads: list[list] = [[], [], [], []]
        self.memo: dict = {}  # each distinct text once

    @staticmethod
    def _empty(kind: str, size: int):
        import numpy as np

        return np.full(size, np.nan) if kind == NUMBER_KIND else np.full(size, None, dtype=object)

    def _grow(self, size: int) -> None:
        for name, values in self.columns.items():
            grown = self._empty(self.kinds[name], size)
            grown[: self.n] = values[: self.n]
            self.columns[name] = grown
        self.size = size

    def add(self, rows) -> None:
        """One chunk of (lead_id, scored_at text, model_version, segment, layout, numbers, texts)."""
        import json

        import numpy as np

        lead_ids, times, versions, segments, layouts, blobs, texts = zip(*rows, strict=True)
        versions, segments = ([self.memo.setdefault(v, v) for v in values] for values in (versions, segments))
        for column, values in zip(self.heads, (lead_ids, times, versions, segments), strict=True):
            column.extend(values)
        if self.n + len(rows) > self.size:
            self._grow(max(2 * self.size, self.n + len(rows)))
        kept = set(layouts)
        for layout in kept:
            if len(kept) == 1:  # the usual case: every row of the chunk in one layout
                place, blob, text_ = slice(self.n, self.n + len(rows)), b"".join(blobs), ",".join(texts)
            else:
                at = np.flatnonzero(np.asarray(layouts, dtype=object) == layout)
                blob, text_ = b"".join([blobs[i] for i in at]), ",".join([texts[i] for i in at])
                place = at + self.n
            parsed = json.loads(f"[{text_}]")
            self._put_layout(layout, place, len(parsed), blob, parsed)
        self.n += len(rows)

    def _put_layout(self, layout: str, place, count: int, blob: bytes, parsed: list[list]) -> None:
        """Rows of one layout into the output columns at `place`: their numbers (one buffer) and
        their texts (parsed JSON arrays)."""
        import numpy as np

        names, kinds = self.layouts[layout]
        number = [name for name, kind in zip(names, kinds, strict=True) if kind == NUMBER_KIND]
        text_ = [name for name, kind in zip(names, kinds, strict=True) if kind == TEXT_KIND]
        matrix = np.frombuffer(blob, dtype=np.float64).reshape(count, len(number))
        for j, name in enumerate(number):
            if name in self.columns:
                self._put(name, place, matrix[:, j])
        columns = zip(*parsed, strict=True) if text_ else ()
        for name, values in zip(text_, columns, strict=True):
            if name in self.columns:  # one object per distinct text (categories repeat); fromiter:
                # numpy would look into every text for a nested sequence
                same = [self.memo.setdefault(v, v) for v in values]
                self.columns[name][place] = np.fromiter(same, dtype=object, count=len(same))

    def _put(self, name: str, place, values) -> None:
        """A layout's numbers into an output column (a text column takes them as floats, None for NaN)."""
        import numpy as np

        if self.kinds[name] == NUMBER_KIND:
            self.columns[name][place] = values
        else:
            self.columns[name][place] = np.where(np.isnan(values), None, values.astype(object))

    def frame(self):
        """The rows read: the keys, then the feature columns."""
        import pandas as pd

        lead_ids, times, versions, segments = (pd.Series(c, dtype=object) for c in self.heads)
        at = pd.to_datetime(times, utc=True, format="ISO8601") if len(times) else pd.Series([], dtype=object)
        head = pd.DataFrame(
            {
                "lead_id": lead_ids,
                "scored_at": pd.Series(at, dtype=pd.DatetimeTZDtype("us", "UTC")),
                "model_version": versions,
                "segment": segments,
            }
        )
        index = pd.RangeIndex(self.n)
        values = {
            name: pd.Series(column[: self.n], index=index, dtype=object if column.dtype == object else None, copy=False)
            for name, column in self.columns.items()
        }  # object stays object: pandas would make text its str dtype
        features = pd.DataFrame(values, index=index, copy=False)
        return pd.concat([head, features], axis=1)


def _insert(connection: Connection, table: Table, rows: list[dict], errors: list[str]) -> None:
    """Insert `rows` into `table` under a savepoint; when the database refuses, halve until the
    refused rows are alone and leave those out (their error's kind appended to `errors`)."""
    try:
        with connection.begin_nested():
            connection.execute(insert(table), rows)
    except SQLAlchemyError as exc:
        if unreachable(exc):
            raise
        if len(rows) == 1:
            errors.append(type(exc).__name__)
            return
        half = len(rows) // 2
        _insert(connection, table, rows[:half], errors)
        _insert(connection, table, rows[half:], errors)
