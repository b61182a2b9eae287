"""Flat CRM exports: a mapping file turns one table into the contract's tables.

Real CRMs export one row per lead with everything in it: profile fields, engagement counters,
the outcome, and columns sales filled in after contacting the lead. The mapping declares every
column's role, so nothing enters the features by accident:

- `id_column`: the lead id (null: the row number, 1 = the first row after the header);
- `label`: the outcome column, with its positive and negative values;
- `fit`: a profile attribute (`as:` a contract column such as `source`, or a new name), kept as a
  category, or as a number with `kind: numeric`;
- `counter`: an engagement counter the CRM already aggregated (visits, time on site);
- `exclude`: left out, with the reason (e.g. "filled in by sales after contact").

An export column the mapping does not declare is an error: leakage is a decision, not a default.
The file's delimiter, BOM and encoding are detected (`delimiter:` / `encoding:` override), and
errors name the export's file and columns, never the import's own staging tables.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from core.errors import LeadscoreError
from features.contract import (
    CONFIG_FILE,
    FIT_CATEGORICAL,
    ContractConfig,
    ContractError,
    known_timezone,
    leads_schema,
    load_dataset,
    outcomes_schema,
    validate,
)
from features.names import CalendarPart
from features.tables import DELIMITERS, read_export, write_table

RESERVED = {"lead_id", "account_id", "created_at", "company_size"}


class Label(BaseModel):
    model_config = ConfigDict(extra="forbid")
    column: str
    positive: list[str] = Field(min_length=1, description="Values meaning 'sales accepted' (e.g. ['1', 'Yes']).")
    negative: list[str] = Field(min_length=1, description="Values meaning 'not accepted'.")


class Times(BaseModel):
    """Where the export's times are; a flat snapshot without them uses `exported_at` for all."""

    model_config = ConfigDict(extra="forbid")
    exported_at: str = Field(description="When the export was taken (ISO 8601): the default for every time.")
    created_at: str | None = None
    mql_at: str | None = None
    decided_at: str | None = None
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


class Mapping(BaseModel):
    """How to read one flat export into the contract tables."""

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

    def target(self, column: str) -> str:
        role = self.columns[column]
        return role.as_ or _snake(column)

    @model_validator(mode="after")
    def _targets_are_unique(self) -> Mapping:
        kept = [self.target(c) for c, r in self.columns.items() if r.role in ("fit", "counter")]
        dupes = sorted({t for t in kept if kept.count(t) > 1})
        if dupes:
            raise ValueError(f"columns: several columns map to {dupes}")
        bad = sorted(set(kept) & RESERVED)
        if bad:
            raise ValueError(f"columns: {bad} are set by the import itself; choose another 'as' name")
        if sum(r.role == "reason" for r in self.columns.values()) > 1:
            raise ValueError("columns: at most one column can hold the reason code")
        return self


def _snake(name: str) -> str:
    return "_".join("".join(ch.lower() if ch.isalnum() else " " for ch in name).split())


def load_mapping(path: Path | str) -> Mapping:
    from core.config import load_config

    return load_config(path, Mapping)


def _check_columns(export: pd.DataFrame, mapping: Mapping, path: Path) -> None:
    declared = set(mapping.columns) | {mapping.label.column}
    times = mapping.times
    declared |= {
        c for c in (mapping.id_column, mapping.account_column, times.created_at, times.mql_at, times.decided_at) if c
    }
    undeclared = [c for c in export.columns if c not in declared]
    if undeclared:
        raise LeadscoreError(
            f"{path}: column(s) not in the mapping: {', '.join(undeclared)}; declare each as fit, counter or "
            "exclude (with the reason)"
        )
    absent = sorted(c for c in declared if c not in export.columns)
    if absent:
        raise LeadscoreError(f"{path}: the mapping names column(s) the export does not have: {', '.join(absent)}")


def label(export: pd.DataFrame, mapping: Mapping, path: Path) -> np.ndarray:
    values = export[mapping.label.column].astype("str").str.strip()
    positive, negative = values.isin(mapping.label.positive), values.isin(mapping.label.negative)
    odd = np.flatnonzero(~(positive | negative).to_numpy())
    if len(odd):
        shown = ", ".join(f"{i + 1} ({values.iloc[i]!r})" for i in odd[:5])
        expected = mapping.label.positive + mapping.label.negative
        raise LeadscoreError(
            f"{path}, column '{mapping.label.column}': expected one of {expected}; {len(odd)} row(s) fail: {shown}"
        )
    return positive.to_numpy()


def convert(export: pd.DataFrame, mapping: Mapping, path: Path) -> tuple[dict[str, pd.DataFrame], ContractConfig]:
    """The contract tables and contract config for one flat export."""
    _check_columns(export, mapping, path)
    export = export.mask(export.isin(mapping.missing_values))
    accepted = label(export, mapping, path)
    times = mapping.times

    def when(column: str | None) -> pd.Series:
        return export[column] if column else pd.Series(times.exported_at, index=export.index)

    ids = (
        export[mapping.id_column]
        if mapping.id_column
        else pd.Series(np.arange(1, len(export) + 1).astype(str), index=export.index)
    )
    leads = pd.DataFrame(
        {
            "lead_id": ids,
            "account_id": export[mapping.account_column] if mapping.account_column else ids,
            "created_at": when(times.created_at),
        }
    )
    extra: dict[str, str] = {}
    counters: list[str] = []
    reason = None
    for column, role in mapping.columns.items():
        if role.role == "reason":
            reason = export[column]
        if role.role not in ("fit", "counter"):
            continue
        name = mapping.target(column)
        leads[name] = export[column]
        if role.role == "counter":
            counters.append(name)
        elif name not in FIT_CATEGORICAL:
            extra[name] = role.kind
    decision = np.where(accepted, "accepted", "rejected")
    outcomes = pd.DataFrame(
        {
            "lead_id": ids,
            "mql_at": when(times.mql_at),
            "decision": decision,
            "reason": reason.where(~accepted) if reason is not None else None,
            "decided_at": when(times.decided_at),
        }
    )
    contract = ContractConfig(
        extra_fit_columns=extra,
        counter_columns=counters,
        require_reasons=reason is not None,
        calendar=times.calendar,
        timezone=times.timezone,
    )
    return {"leads": leads, "outcomes": outcomes}, contract


_COLUMN = re.compile(r"column '([^']*)'")


def export_names(mapping: Mapping) -> dict[str, str]:
    """The export column (or mapping setting) behind each contract column the import writes."""
    times = mapping.times
    exported = "times.exported_at (mapping)"
    names = {
        "lead_id": mapping.id_column or "row number",
        "account_id": mapping.account_column or mapping.id_column or "row number",
        "created_at": times.created_at or exported,
        "mql_at": times.mql_at or exported,
        "decided_at": times.decided_at or exported,
        "decision": mapping.label.column,
    }
    names |= {mapping.target(c): c for c, r in mapping.columns.items() if r.role in ("fit", "counter")}
    for column, role in mapping.columns.items():
        if role.role == "reason":
            names["reason"] = column
    return names


def check_tables(tables: dict[str, pd.DataFrame], contract: ContractConfig, mapping: Mapping, path: Path) -> None:
    """Validate the converted tables against the contract, naming the export's file, columns and rows
    (the tables keep the export's row order) instead of the contract's."""
    names = export_names(mapping)

    def export_column(match: re.Match) -> str:
        return f"column '{names.get(match.group(1), match.group(1))}'"

    try:
        leads = validate(tables["leads"], leads_schema(contract), path)
        validate(tables["outcomes"], outcomes_schema(contract, leads["lead_id"]), path)
    except ContractError as exc:
        raise ContractError(_COLUMN.sub(export_column, str(exc))) from None


def import_export(export_path: Path, mapping: Mapping, out: Path, fmt: str = "parquet") -> dict[str, int | str]:
    """Convert a flat export into a validated data folder (leads, outcomes, contract.yaml); the counts
    of leads, outcomes and accepted, and the `delimiter` and `encoding` the export was read with."""
    export = read_export(export_path, mapping.delimiter, mapping.encoding)
    read = dict(export.attrs)
    tables, contract = convert(export, mapping, export_path)
    check_tables(tables, contract, mapping, export_path)
    out.mkdir(parents=True, exist_ok=True)
    staging = out / ".import"
    staging.mkdir(exist_ok=True)
    try:
        for name, table in tables.items():
            write_table(table, staging / f"{name}.{fmt}")
        (staging / CONFIG_FILE).write_text(
            f"# written by `leadscore import` from {export_path.name}: {mapping.source}\n"
            + yaml.safe_dump(contract.model_dump(mode="json"), sort_keys=False),
            encoding="utf-8",
        )
        dataset = load_dataset(staging)  # the import's own output must satisfy the contract
        for name in ("leads", "events", "outcomes"):  # no stale table of another format or data set
            for ext in ("csv", "parquet"):
                (out / f"{name}.{ext}").unlink(missing_ok=True)
        for path in staging.iterdir():
            path.replace(out / path.name)
    finally:
        for path in staging.glob("*"):
            path.unlink()
        staging.rmdir()
    accepted = int((dataset.outcomes["decision"] == "accepted").sum())
    counts: dict[str, int | str] = {
        "leads": len(dataset.leads),
        "outcomes": len(dataset.outcomes),
        "accepted": accepted,
    }
    return counts | {k: read[k] for k in ("delimiter", "encoding") if k in read}
