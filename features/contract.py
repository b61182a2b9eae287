"""The lead data contract: three tables, their columns, types and vocabularies, in one place.

A data folder holds `leads`, `events` and `outcomes` as CSV or Parquet. Only `leads` is
required: live scoring has no outcomes, and a flat CRM export has no event log.
`load_dataset` validates every table with pandera and raises `ContractError` naming the file,
the column, the first offending rows (row 1 is the first row after the header) and what was
expected. Columns the contract does not know are kept as they are.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pandas as pd
import pyarrow
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict, Field, field_validator

from core.decisions import DECISIONS, REASONS, TIME_RANGE, bad_text, bad_time, before_handover, missing_reason
from core.errors import LeadscoreError
from core.schema import LEAD, fit_fields
from features.names import CalendarPart
from features.tables import find_table, read_table

# with the spark extra installed, pandera imports pyspark.pandas, whose notice that it was not
# written for pandas 3 is meant for pyspark's developers, not for leadscore's users: silenced for
# this import only, leaving the process's warning filters as they were
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "PySpark does not yet fully support pandas", FutureWarning)
    import pandera.pandas as pa

TIMESTAMP = pd.DatetimeTZDtype("us", "UTC")

EVENT_TYPES: tuple[str, ...] = (
    "page_view",
    "pricing_page_view",
    "content_download",
    "webinar_registered",
    "webinar_attended",
    "email_open",
    "email_click",
    "form_submit",
    "demo_request",
    "free_trial_signup",
    "product_active_day",
    "unsubscribe",
)
FIT_CATEGORICAL: tuple[str, ...] = fit_fields("text")
FIT_NUMERIC: tuple[str, ...] = fit_fields("number")


def known_timezone(value: str) -> str:
    """`value` if it names an IANA time zone, else a ValueError saying so."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{value!r} is not an IANA time zone (e.g. Europe/Berlin, UTC)") from None
    return value


class ContractConfig(BaseModel):
    """What a data folder may contain beyond the built-in vocabularies."""

    model_config = ConfigDict(extra="forbid", frozen=True)  # read once, kept (`features.settings.derived`)

    extra_event_types: list[str] = Field(
        default_factory=list, description="Event types accepted in addition to EVENT_TYPES."
    )
    reasons: list[str] = Field(
        default_factory=lambda: list(REASONS),
        description="Reason codes sales may give for a rejected or recycled lead.",
    )
    extra_fit_columns: dict[str, Literal["categorical", "numeric"]] = Field(
        default_factory=dict,
        description="Further `leads` columns to use as fit features; they become required.",
    )
    counter_columns: list[str] = Field(
        default_factory=list,
        description="`leads` columns holding engagement counters a flat CRM export already aggregated "
        "(visits, minutes on site); numbers >= 0, used as engagement features as they are.",
    )
    require_reasons: bool = Field(
        default=True,
        description="Whether rejected and recycled outcomes must carry a reason code; "
        "false for CRMs that record no reasons.",
    )
    calendar: list[CalendarPart] = Field(
        default_factory=list,
        description="Calendar features of the scoring time (the hand-over, when training), as fit features: "
        "handover_month and handover_weekday (words), handover_hour (0-23); read from the as-of time only.",
    )
    timezone: str = Field(
        default="UTC", description="The business's time zone (IANA, e.g. Europe/Berlin) of the calendar features."
    )

    _known_zone = field_validator("timezone")(classmethod(lambda cls, value: known_timezone(value)))

    @property
    def private_columns(self) -> frozenset[str]:
        """The extra text columns: they may hold anything (names, notes), so the feature log and the
        reference profile keep only whether a value was given, never the value."""
        return frozenset(n for n, kind in self.extra_fit_columns.items() if kind == "categorical")

    @property
    def event_types(self) -> list[str]:
        return list(EVENT_TYPES) + [t for t in self.extra_event_types if t not in EVENT_TYPES]


class ContractError(LeadscoreError):
    """A data file breaks the contract."""


@dataclass(frozen=True)
class Dataset:
    """The validated contract tables of one data folder."""

    leads: pd.DataFrame
    events: pd.DataFrame
    outcomes: pd.DataFrame


def _text(required: bool = True, nullable: bool = True, **kwargs) -> pa.Column:
    return pa.Column(str, required=required, nullable=nullable, coerce=True, **kwargs)


def _isin(values: list[str]) -> pa.Check:
    return pa.Check.isin(values, error=f"one of: {', '.join(values)}")


def _lead_column(field) -> pa.Column:
    """A `leads` column of the contract, from its one definition in `core.schema.LEAD`."""
    required = not field.nullable
    if field.kind == "datetime":
        return pa.Column(TIMESTAMP, nullable=field.nullable, required=required, coerce=True)
    if field.kind == "long":
        checks = [
            pa.Check.ge(field.minimum, error=f"a whole number of {field.unit} >= {field.minimum}"),
            pa.Check.le(field.maximum, error=f"a whole number of {field.unit} <= {field.maximum:,}"),
        ]
        return pa.Column("Int64", checks, required=required, nullable=field.nullable, coerce=True)
    return _text(required=required, nullable=field.nullable, unique=field.name == "lead_id")


def leads_schema(config: ContractConfig) -> pa.DataFrameSchema:
    columns = {field.name: _lead_column(field) for field in LEAD}
    for name, kind in config.extra_fit_columns.items():
        columns[name] = _text() if kind == "categorical" else pa.Column(float, nullable=True, coerce=True)
    for name in config.counter_columns:
        columns[name] = pa.Column(float, pa.Check.ge(0, error="a count >= 0"), nullable=True, coerce=True)
    return pa.DataFrameSchema(columns, strict=False, name="leads")


def among(values: pd.Series, allowed: pd.Series) -> pd.Series:
    """Whether each value is one of `allowed` (missing: False), by Arrow's hashing: pandas'
    `isin` on Arrow strings turns every allowed value into a Python object first."""
    text = pyarrow.large_string()
    found = pc.is_in(pyarrow.array(values, type=text), value_set=pyarrow.array(allowed, type=text), skip_nulls=True)
    return pd.Series(found.to_numpy(zero_copy_only=False), index=values.index)


def _known_lead(lead_ids: pd.Series) -> pa.Check:
    return pa.Check(lambda s: among(s, lead_ids), element_wise=False, error="a lead_id present in leads")


def events_schema(config: ContractConfig, lead_ids: pd.Series) -> pa.DataFrameSchema:
    known = _known_lead(lead_ids)
    return pa.DataFrameSchema(
        {
            "lead_id": _text(nullable=False, checks=known),
            "ts": pa.Column(TIMESTAMP, nullable=False, coerce=True),
            "type": _text(nullable=False, checks=_isin(config.event_types)),
            "detail": _text(required=False),
        },
        strict=False,
        name="events",
    )


def outcomes_schema(config: ContractConfig, lead_ids: pd.Series) -> pa.DataFrameSchema:
    """Sales decisions per hand-over, checked by the rules of `core.decisions` (the same that
    /feedback and retraining from the feedback store apply)."""
    known = _known_lead(lead_ids)
    storable = pa.Check(lambda s: ~bad_text(s), error="text without NUL characters or lone surrogates")
    dated = pa.Check(lambda s: ~bad_time(s), error=TIME_RANGE)
    decided = pa.Check(
        lambda d: ~before_handover(d["mql_at"], d["decided_at"]),
        error="decided_at at or after mql_at",
    )
    opened = pa.Check(
        lambda d: (d["decision"] == "open") == d["decided_at"].isna(),
        error="decided_at empty for open decisions and present for every other decision",
    )
    reasoned = pa.Check(
        lambda d: ~missing_reason(d["decision"], d["reason"]),
        error="a reason code for every rejected or recycled lead",
    )
    return pa.DataFrameSchema(
        {
            "lead_id": _text(nullable=False, checks=[known, storable]),
            "mql_at": pa.Column(TIMESTAMP, dated, nullable=False, coerce=True),
            "decision": _text(nullable=False, checks=_isin(list(DECISIONS))),
            "reason": _text(checks=[_isin(config.reasons), storable]),
            "decided_at": pa.Column(TIMESTAMP, dated, nullable=True, coerce=True),
        },
        checks=[decided, opened, reasoned] if config.require_reasons else [decided, opened],
        unique=["lead_id", "mql_at"],
        strict=False,
        name="outcomes",
    )


def _describe(failures: pd.DataFrame, path: Path, labels: pd.Series | None = None, max_rows: int = 5) -> str:
    """Turn pandera's failure cases into one line: a part per (column, expectation), joined by
    " | "; rows by number in the file, or by `labels` (e.g. lead ids) when the frame is not the
    file's row order."""

    def row(index) -> str:
        return str(int(index) + 1) if labels is None else f"{labels.name} {labels.iloc[int(index)]!r}"

    lines = []
    coercions = failures[failures["check"].astype(str).str.startswith("coerce_dtype")]
    coerce_failed = set(coercions["column"])
    unparsed_rows = set(coercions["index"].dropna())
    for (column, check), group in failures.groupby(["column", "check"], dropna=False, sort=False):
        check = str(check)
        if check.startswith("dtype(") and column in coerce_failed:
            continue  # the coercion failure already says it
        if column in coerce_failed and not check.startswith("coerce_dtype"):
            continue  # checks on a column that did not parse only repeat the problem
        if check == "column_in_dataframe":
            missing = ", ".join(str(v) for v in group["failure_case"])
            lines.append(f"{path}: missing required column(s): {missing}")
            continue
        expected = _expected(check)
        where = "" if pd.isna(column) else f", column '{column}'"
        rows = group.dropna(subset=["index"]).drop_duplicates(subset=["index"])
        if pd.isna(column):
            rows = rows[~rows["index"].isin(unparsed_rows)]  # already reported as unparseable
            if rows.empty:
                continue
            shown = ", ".join(row(i) for i in rows["index"].head(max_rows))
        else:
            # rows only, never the cell: a value in the wrong column may be an email or a name
            shown = ", ".join(row(i) for i in rows["index"].head(max_rows))
        more = f" and {len(rows) - max_rows} more" if len(rows) > max_rows else ""
        lines.append(f"{path}{where}: expected {expected}; {len(rows)} row(s) fail: {shown}{more}")
    return " | ".join(lines)


def _expected(check: str) -> str:
    if check.startswith("coerce_dtype(") or check.startswith("dtype("):
        if "datetime" in check:
            return "a timestamp (ISO 8601, e.g. 2024-05-01T09:30:00Z)"
        if "Int64" in check:
            return "a whole number"
        if "float" in check:
            return "a number"
        return f"type {check}"
    if check == "field_uniqueness":
        return "unique values (each id once)"
    if check == "multiple_fields_uniqueness":
        return "one row per (lead_id, mql_at)"
    if check.startswith("not_nullable"):
        return "a value (no empty cells)"
    return check


def _parse_timestamps(frame: pd.DataFrame, schema: pa.DataFrameSchema) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Parse timestamp columns cell by cell (ISO 8601, any offset, naive = UTC).

    pandera coerces a column as a whole, so one odd format would fail every row; parsing here
    keeps each good cell and returns the bad ones as failure cases in pandera's own shape.
    """
    frame = frame.copy(deep=False)  # the caller's frame keeps its columns
    bad = []
    for name, column in schema.columns.items():
        if column.dtype != pa.engines.pandas_engine.Engine.dtype(TIMESTAMP) or name not in frame:
            continue
        raw = frame[name]
        if pd.api.types.is_datetime64_any_dtype(raw.dtype):  # already times (Parquet): nothing to parse
            frame[name] = (raw.dt.tz_localize("UTC") if raw.dt.tz is None else raw).astype(TIMESTAMP)
            continue
        parsed = pd.to_datetime(raw, utc=True, format="ISO8601", errors="coerce")
        broken = raw.notna() & parsed.isna()
        bad.append(
            pd.DataFrame(
                {
                    "column": name,
                    "check": "coerce_dtype('datetime')",
                    "failure_case": raw[broken].astype(str),
                    "index": raw.index[broken],
                }
            )
        )
        frame[name] = parsed.astype(TIMESTAMP)
    return frame, pd.concat(bad, ignore_index=True) if bad else pd.DataFrame()


def validate(
    frame: pd.DataFrame, schema: pa.DataFrameSchema, path: Path | str, labels: pd.Series | None = None
) -> pd.DataFrame:
    """Validate and coerce one table (index 0..n-1), raising ContractError with every problem
    found; rows are named by number, or by `labels` when given."""
    frame, unparsed = _parse_timestamps(frame, schema)
    failures = [unparsed] if len(unparsed) else []
    try:
        frame = schema.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as exc:
        failures.insert(0, exc.failure_cases)
    if failures:
        cases = pd.concat(failures, ignore_index=True)
        table_wide = cases.get("schema_context", pd.Series(index=cases.index, dtype=object)) == "DataFrameSchema"
        table_wide &= cases["check"] != "column_in_dataframe"
        cases.loc[table_wide, "column"] = None  # pandera repeats a table-wide check once per column
        raise ContractError(_describe(cases, path, labels))
    return frame


def _read(folder: Path, name: str, schema_for, config: ContractConfig, *args) -> pd.DataFrame | None:
    path = find_table(folder, name)
    if path is None:
        return None
    return validate(read_table(path), schema_for(config, *args), path)


CONFIG_FILE = "contract.yaml"


def folder_config(folder: Path | str) -> ContractConfig:
    """The contract config a data folder carries (`contract.yaml` beside its tables), else defaults."""
    from core.config import load_config

    path = Path(folder) / CONFIG_FILE
    return load_config(path if path.is_file() else None, ContractConfig)


def load_dataset(folder: Path | str, config: ContractConfig | None = None) -> Dataset:
    """Read and validate the contract tables of `folder`; events and outcomes may be absent.

    Without an explicit `config`, the folder's own `contract.yaml` (written by `leadscore import`)
    applies when present.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ContractError(f"{folder}: no such data folder")
    config = config or folder_config(folder)
    leads = _read(folder, "leads", leads_schema, config)
    if leads is None:
        raise ContractError(f"{folder}: no leads.csv or leads.parquet; the leads table is required")
    for name in (*FIT_CATEGORICAL, *FIT_NUMERIC):
        if name not in leads.columns:
            leads[name] = pd.Series(pd.NA, index=leads.index, dtype="Int64" if name in FIT_NUMERIC else "str")
    ids = leads["lead_id"]
    events = _read(folder, "events", events_schema, config, ids)
    outcomes = _read(folder, "outcomes", outcomes_schema, config, ids)
    if events is None:
        events = empty_events()
    if outcomes is None:
        outcomes = empty_outcomes()
    return Dataset(leads=leads, events=events, outcomes=outcomes)


def _empty(columns: dict[str, object]) -> pd.DataFrame:
    """A table with no rows and the contract's column types."""
    return pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in columns.items()})


def empty_events() -> pd.DataFrame:
    return _empty({"lead_id": "str", "ts": TIMESTAMP, "type": "str", "detail": "str"})


def empty_outcomes() -> pd.DataFrame:
    return _empty({"lead_id": "str", "mql_at": TIMESTAMP, "decision": "str", "reason": "str", "decided_at": TIMESTAMP})
