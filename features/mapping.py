"""The mapping of a flat CRM export: the role of every column of every file (features/flat.py reads it).

Real CRMs export one row per lead with everything in it: profile fields, engagement counters,
the outcome, and columns sales filled in after contacting the lead. The mapping declares every
column's role, so nothing enters the features by accident:

- `id_column`: the lead id (null: the row number, 1 = the first row after the header);
- `label`: the outcome column with its positive and negative values, or `exists_in: FILE`
  (accepted when the lead has a row in that file, e.g. its won deals);
- `fit`: a profile attribute (`as:` a contract column such as `source` or `company_size`, or a new
  name), kept as a category, or as a number with `kind: numeric`;
- `counter`: an engagement counter the CRM already aggregated (visits, time on site);
- `exclude`: left out, with the reason (e.g. "filled in by sales after contact").

`files:` names further files of the same export (beside the main one), each joined to the leads
by its `key` column (at most one row per lead), with its own columns' roles. A time is a column,
or a list of columns tried in order where filled, in which `exported_at` stands for the export time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from features.contract import FIT_CATEGORICAL, FIT_NUMERIC, known_timezone
from features.names import CalendarPart
from features.tables import DELIMITERS

RESERVED = {"lead_id", "account_id", "created_at"}  # set by the import itself, never `as:` a column
LEAD_FIT = (*FIT_CATEGORICAL, *FIT_NUMERIC)  # the contract's profile columns, e.g. `as: company_size`
EXPORT_TIME = "exported_at"  # in a list of time columns: the mapping's own export time
TIME_FIELDS = ("created_at", "mql_at", "decided_at")

TimeSource = str | list[str] | None


class Label(BaseModel):
    model_config = ConfigDict(extra="forbid")
    column: str | None = Field(default=None, description="The outcome column.")
    positive: list[str] = Field(default_factory=list, description="Values meaning 'sales accepted' (['1', 'Yes']).")
    negative: list[str] = Field(default_factory=list, description="Values meaning 'not accepted'.")
    exists_in: str | None = Field(
        default=None,
        description="A file of `files:`: the lead is accepted when it has a row there (won if a deal exists).",
    )

    @model_validator(mode="after")
    def _one_source(self) -> Label:
        if (self.column is None) == (self.exists_in is None):
            raise ValueError("give either column (with positive and negative) or exists_in (a file of files:)")
        if self.column is not None and not (self.positive and self.negative):
            raise ValueError("a label column needs its positive and negative values")
        if self.exists_in is not None and (self.positive or self.negative):
            raise ValueError("exists_in takes no positive or negative values: a row in the file is the positive")
        return self


class Times(BaseModel):
    """Where the export's times are; a flat snapshot without them uses `exported_at` for all."""

    model_config = ConfigDict(extra="forbid")
    exported_at: str = Field(description="When the export was taken (ISO 8601): the default for every time.")
    created_at: TimeSource = Field(default=None, description="A column, or columns tried in order where filled.")
    mql_at: TimeSource = Field(default=None, description="As created_at: the hand-over time.")
    decided_at: TimeSource = Field(
        default=None,
        description="As created_at: e.g. [won_date, exported_at] = the won date where filled, else the export time.",
    )
    calendar: list[CalendarPart] = Field(
        default_factory=list,
        description="Calendar features of the hand-over (mql_at) to learn from: month, weekday, hour; computed "
        "from the scoring time when the model scores (point-in-time). Needs mql_at.",
    )
    timezone: str = Field(default="UTC", description="The business's time zone (IANA) of the calendar features.")
    _known_zone = field_validator("timezone")(classmethod(lambda cls, value: known_timezone(value)))

    @model_validator(mode="after")
    def _calendar_needs_handovers(self) -> Times:
        if self.calendar and not self.mql_at:
            raise ValueError(
                "calendar: needs mql_at, the export's hand-over time column (without it every hand-over "
                "carries exported_at and the calendar is the same for all)"
            )
        return self

    def sources(self, name: str) -> list[str]:
        """Where time `name` comes from, in order: export columns, and EXPORT_TIME for the export time."""
        value = getattr(self, name)
        if value is None:
            return [EXPORT_TIME]
        return [value] if isinstance(value, str) else list(value)

    def columns(self) -> dict[str, list[str]]:
        """Each export column a time reads -> the times it gives (created_at, mql_at, decided_at)."""
        found: dict[str, list[str]] = {}
        for name in TIME_FIELDS:
            for column in self.sources(name):
                if column != EXPORT_TIME:
                    found.setdefault(column, []).append(name)
        return found


class ColumnRole(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    role: Literal["fit", "counter", "exclude", "reason"]
    as_: str | None = Field(default=None, alias="as", description="Name in the contract tables.")
    kind: Literal["categorical", "numeric"] = "categorical"
    reason: str | None = Field(default=None, description="Why an excluded column is left out.")
    note: str | None = None

    @model_validator(mode="after")
    def _reason_for_exclusions(self) -> ColumnRole:
        if self.role == "exclude" and not self.reason:
            raise ValueError("an excluded column needs a reason")
        return self


class JoinedFile(BaseModel):
    """A further file of the export, joined to the leads by its key column."""

    model_config = ConfigDict(extra="forbid")
    key: str = Field(description="This file's column holding the lead id (at most one row per lead).")
    delimiter: Literal[",", ";", "\t", "|"] | None = None
    encoding: str | None = None
    columns: dict[str, ColumnRole] = Field(default_factory=dict, description="The role of each other column.")


class Mapping(BaseModel):
    """How to read one flat export (one file, or several joined by the lead id) into the contract tables."""

    model_config = ConfigDict(extra="forbid")
    source: str = Field(description="What the export is, for people.")
    id_column: str | None = Field(
        description="The lead id column; null: the export has none and the lead id is the row number "
        "(1 is the first row after the header, as error messages count rows)."
    )
    delimiter: Literal[",", ";", "\t", "|"] | None = Field(
        default=None, description=f"The CSV delimiter; none: detected among {list(DELIMITERS)}."
    )
    encoding: str | None = Field(
        default=None, description="The CSV text encoding (e.g. cp1252); none: UTF-8 (BOM or not), else cp1252."
    )
    account_column: str | None = Field(default=None, description="Company column; none: one account per lead.")
    label: Label
    times: Times
    missing_values: list[str] = Field(default_factory=lambda: [""], description="Values that mean 'not given'.")
    columns: dict[str, ColumnRole]
    files: dict[str, JoinedFile] = Field(
        default_factory=dict,
        description="Further files of the export (paths relative to the main file's folder), joined by lead id.",
    )

    @property
    def roles(self) -> dict[str, ColumnRole]:
        """Every declared column of every file and its role."""
        merged = dict(self.columns)
        for spec in self.files.values():
            merged.update(spec.columns)
        return merged

    def target(self, column: str) -> str:
        role = self.roles[column]
        return role.as_ or snake(column)

    @model_validator(mode="after")
    def _targets_are_unique(self) -> Mapping:
        roles = self.roles
        kept = [self.target(c) for c, r in roles.items() if r.role in ("fit", "counter")]
        dupes = sorted({t for t in kept if kept.count(t) > 1})
        if dupes:
            raise ValueError(f"columns: several columns map to {dupes}")
        bad = sorted(set(kept) & RESERVED)
        if bad:
            raise ValueError(f"columns: {bad} are set by the import itself; choose another 'as' name")
        contract = sorted({self.target(c) for c, r in roles.items() if r.role == "counter"} & set(LEAD_FIT))
        if contract:
            raise ValueError(f"columns: {contract} are profile columns of the contract: give them role fit")
        if sum(r.role == "reason" for r in roles.values()) > 1:
            raise ValueError("columns: at most one column can hold the reason code")
        if self.files and self.id_column is None:
            raise ValueError("files: joining files needs id_column, the lead id their key columns hold")
        if self.label.exists_in is not None and self.label.exists_in not in self.files:
            raise ValueError(f"label.exists_in: '{self.label.exists_in}' is not one of files: {list(self.files)}")
        return self


def snake(name: str) -> str:
    """A column name as a feature name: lower case, words joined by underscores."""
    return "_".join("".join(ch.lower() if ch.isalnum() else " " for ch in name).split())


def load_mapping(path: Path | str) -> Mapping:
    from core.config import load_config

    return load_config(path, Mapping)
