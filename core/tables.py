"""The store's tables (SQLAlchemy): sales decisions, the score log and the model's input feature
rows beside it, their UTC time type, the score log's columns derived from the one answer definition
(`core.schema.ANSWER`), the generic
step that grows a table an older leadscore made (which decision of a hand-over is in force:
`core.decisions.with_status`)."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    inspect,
    text,
)
from sqlalchemy.engine import Connection, Engine

from core.errors import LeadscoreError
from core.schema import ANSWER, PARTS, TEXT, Field, joined, key_of


def utc(value) -> datetime | None:
    """`value` (datetime, pandas Timestamp or ISO 8601 text) as an aware UTC datetime; no offset means UTC."""
    if value is None or value != value:  # None, NaT
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        raise TypeError(f"expected a point in time, got {type(value).__name__}")
    if hasattr(value, "to_pydatetime"):  # pandas: microseconds, as the databases keep them
        value = value.to_pydatetime()
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class UTCDateTime(TypeDecorator):
    """A point in time on every database: aware in (naive = UTC), aware UTC out. SQLite has no time
    zone: it keeps the UTC wall time (before, +05:30 was kept as the local wall time and read as UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        value = utc(value)
        return value.replace(tzinfo=None) if value is not None and dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        return utc(value)


metadata = MetaData()
decisions = Table(
    "decisions",
    metadata,
    Column("feedback_id", String(128), primary_key=True),
    Column("lead_id", String(128), nullable=False, index=True),
    Column("mql_at", UTCDateTime(), nullable=True),
    Column("decision", String(16), nullable=False),
    Column("reason", String(64), nullable=True),
    Column("decided_at", UTCDateTime(), nullable=False),
    Column("rep_id", String(128), nullable=True),
    Column("note", Text, nullable=True),
    Column("received_at", UTCDateTime(), nullable=False),
    Column("voided_at", UTCDateTime(), nullable=True),
    Column("void_reason", Text, nullable=True),
)
SQL_TYPES = {"string": String, "double": Float, "long": BigInteger, "boolean": Boolean, "datetime": UTCDateTime}


def _sql(field: Field) -> Column:
    """A score-log column for an answer field: nullable, so that `migrate` can add it to a table that
    an older leadscore created."""
    kind = SQL_TYPES[field.kind]
    return Column(field.name, kind(field.length) if field.kind == "string" else kind(), nullable=True)


def scores_table(meta: MetaData, fields: tuple[Field, ...] = ANSWER) -> Table:
    """The score log: every answer's fields (`core.schema.ANSWER`), when, by what, the lead's
    source, and the API answer's parts that `core.schema.PARTS` names. Columns added to the answer
    after a table was created are added by `migrate`."""
    lead_id = key_of(fields)
    rest = [f for f in fields if f is not lead_id]
    return Table(
        "scores",
        meta,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column(lead_id.name, String(lead_id.length), nullable=False, index=True),
        Column("scored_at", UTCDateTime(), nullable=False, index=True),
        *(_sql(field) for field in rest),
        Column("scored_by", String(8), nullable=False),
        Column("source", String(TEXT), nullable=True),
        *(_sql(field) for field in PARTS),
        # a lead's newest rows (the trend's lookup) found without reading its older ones
        Index(NEWEST_INDEX, lead_id.name, "scored_at", "id"),
    )


NEWEST_INDEX = "ix_scores_lead_newest"
scores = scores_table(metadata)


LAYOUT_CHARS = 16  # a layout id: 8 bytes of BLAKE2b in hex
NUMBER_KIND, TEXT_KIND = KINDS = ("number", "text")  # float64 in `numbers`, JSON in `texts`
FEATURE_KEYS = ("lead_id", "scored_at", "model_version", "segment")  # a feature row's keys, then its features


def features_table(meta: MetaData) -> Table:
    """The model's input feature rows of a sampled share of model answers, beside the score log and
    joined to it by (lead_id, scored_at, model_version), by the model's own feature names (never
    the raw request). Compact: a row's numbers are one binary vector of float64 (`numbers`, NaN for
    a missing value) and its text features a short JSON array (`texts`), in the order of its
    `layout` (`layouts_table`: the names and kinds, kept once)."""
    return Table(
        "score_features",
        meta,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("lead_id", String(128), nullable=False),
        Column("scored_at", UTCDateTime(), nullable=False, index=True),
        Column("model_version", String(128), nullable=False),
        Column("segment", String(64), nullable=True),
        Column("layout", String(LAYOUT_CHARS), nullable=False),
        Column("numbers", LargeBinary, nullable=False),
        Column("texts", Text, nullable=False),
    )


def layouts_table(meta: MetaData) -> Table:
    """The layouts of feature rows: the ordered feature names and their kinds ("number" or
    "text") as JSON arrays, keyed by a short hash of both (`layout_id`)."""
    return Table(
        "feature_layouts",
        meta,
        Column("layout", String(LAYOUT_CHARS), primary_key=True),
        Column("names", Text, nullable=False),
        Column("kinds", Text, nullable=False),
    )


score_features = features_table(metadata)
feature_layouts = layouts_table(metadata)


def layout_id(names: tuple[str, ...], kinds: tuple[str, ...]) -> str:
    """The id of the layout of `names` with `kinds` (the same names and kinds, the same id)."""
    import json
    from hashlib import blake2b

    text_ = json.dumps([list(names), list(kinds)], separators=(",", ":"))
    return blake2b(text_.encode(), digest_size=LAYOUT_CHARS // 2).hexdigest()


NUMBER_TYPES = (int, float, np.number, np.bool_)  # what a "number" feature holds (bool is an int)


def feature_kinds(columns: dict[str, list], known: dict[str, str] | None = None) -> tuple[str, ...]:
    """The kind of each feature column: "text" when a value is text (or another non-number),
    "number" when every value present is a number; a column with no value (only None and NaN)
    takes its kind from `known` (a layout stored before), else "number"."""
    kinds = []
    for name, values in columns.items():
        if isinstance(values, np.ndarray) and values.dtype.kind in "fiub":
            kinds.append(NUMBER_KIND)
            continue
        types = set(map(type, values)) - {type(None)}  # one pass in C, not one isinstance per value
        if not all(issubclass(kind, NUMBER_TYPES) for kind in types):
            kinds.append(TEXT_KIND)
        elif np.isnan(np.array(values, dtype=np.float64)).all():  # None -> NaN: nothing present
            kinds.append((known or {}).get(name, NUMBER_KIND))
        else:
            kinds.append(NUMBER_KIND)
    return tuple(kinds)


def encode_features(columns: dict[str, list], kinds: tuple[str, ...], rows: int) -> tuple[list[bytes], list[str]]:
    """Feature columns of one layout as `score_features` keeps them, one entry per row: the numbers
    as float64 bytes (NaN for missing) and the texts as a JSON array (null for missing; a number
    met in a text feature is kept as a JSON number); `rows` rows (a row may have no feature)."""
    import json

    names = list(columns)
    numeric = [columns[n] for n, kind in zip(names, kinds, strict=True) if kind == NUMBER_KIND]
    texts = [columns[n] for n, kind in zip(names, kinds, strict=True) if kind == TEXT_KIND]
    matrix = np.empty((rows, len(numeric)), dtype=np.float64)
    for j, values in enumerate(numeric):
        if isinstance(values, np.ndarray) and values.dtype.kind in "fiub":
            matrix[:, j] = values
        else:
            matrix[:, j] = np.array(values, dtype=np.float64)  # None -> NaN
    width = 8 * len(numeric)
    buffer = matrix.tobytes()
    numbers = [buffer[i * width : (i + 1) * width] for i in range(rows)]
    texts_ = [[_json_value(v) for v in values] for values in texts]
    encoded = [json.dumps(list(row), separators=(",", ":"), allow_nan=False) for row in zip(*texts_, strict=True)]
    return numbers, encoded or ["[]"] * rows


def _json_value(value):
    """A text feature's value as JSON keeps it: text, a finite number, or null."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, NUMBER_TYPES):
        number = float(value)
        return number if math.isfinite(number) else None
    return str(value)


def score_row(answer, source: str | None, scored_at: datetime, fields: tuple[Field, ...] = ANSWER) -> dict:
    """The score-log row of one answer (any object with the answer's fields as attributes; the
    parts `PARTS` names are read where the API answer holds them, None when it has none)."""
    row = {field.name: _value(answer, field) for field in fields}
    parts = {field.name: _at(answer, field.path) for field in PARTS}
    return {**row, "scored_at": scored_at, "scored_by": answer.scored_by, "source": source, **parts}


def _value(answer, field: Field):
    """An answer's value of `field` as the table keeps it: read where the API answer holds it (its
    `path`), a list of texts joined (`many`)."""
    value = _at(answer, field.path) if field.path else getattr(answer, field.name)
    return joined(value) if field.many and isinstance(value, list) else value


def _at(value, path: tuple[str, ...]):
    """`value.a.b` for the path ("a", "b"); None where a step is missing or None."""
    for name in path:
        value = getattr(value, name, None)
        if value is None:
            return None
    return value


def migrate(bind: Engine | Connection, meta: MetaData = metadata) -> list[str]:
    """Add the nullable columns a newer leadscore logs to tables an older one created (rows kept,
    the new column empty for them); the schema only ever grows. Returns what it added."""
    if isinstance(bind, Engine):
        with bind.begin() as connection:
            return migrate(connection, meta)
    added = []
    existing = inspect(bind)
    quote = bind.dialect.identifier_preparer.quote
    for table in meta.sorted_tables:
        have = {column["name"] for column in existing.get_columns(table.name)}
        for column in table.columns:
            if column.name in have:
                continue
            if not column.nullable:
                raise LeadscoreError(f"table {table.name} lacks column {column.name}, which cannot be added empty")
            kind = column.type.compile(dialect=bind.dialect)
            bind.execute(text(f"ALTER TABLE {quote(table.name)} ADD COLUMN {quote(column.name)} {kind}"))
            added.append(f"{table.name}.{column.name}")
    return added
