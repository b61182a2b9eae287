"""Flat CRM exports: a mapping file (features/mapping.py) turns one table, or several files
joined by lead id (features/joins.py), into the contract's tables.

An export column the mapping does not declare is an error: leakage is a decision, not a default.
The file's delimiter, BOM and encoding are detected (`delimiter:` / `encoding:` override), and
errors name the export's file and columns, never the import's own staging tables. An employee
column mapped `as: company_size` is read as whole employees, bands included (features/sizes.py);
the values it cannot read are counted and named by row in the import's summary.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from core.errors import LeadscoreError
from features.contract import (
    CONFIG_FILE,
    FIT_CATEGORICAL,
    FIT_NUMERIC,
    ContractConfig,
    ContractError,
    leads_schema,
    load_dataset,
    outcomes_schema,
    validate,
)
from features.joins import Export, read_mapped, rows_named
from features.mapping import EXPORT_TIME, TIME_FIELDS, Mapping, load_mapping
from features.names import calendar as calendar_name
from features.sizes import read_sizes
from features.tables import write_table

__all__ = ["Mapping", "check_absent", "convert", "import_export", "label", "load_mapping", "undeclared"]


def _special(mapping: Mapping) -> set[str]:
    """The columns the import reads for what they are (id, account, label, times), whatever file holds them."""
    named = (mapping.label.column, mapping.id_column, mapping.account_column)
    return {c for c in named if c} | set(mapping.times.columns())


def _declared(export: Export, mapping: Mapping) -> dict[Path, set[str]]:
    """Per file of the export, the columns the mapping gives a role."""
    declared = {export.path: set(mapping.columns)}
    for name, spec in mapping.files.items():
        declared[export.path.parent / name] = set(spec.columns)
    return declared


def undeclared(export: Export, mapping: Mapping) -> dict[Path, list[str]]:
    """Per file, the columns the mapping does not declare (which the import refuses)."""
    special = _special(mapping)
    found = {}
    for path, names in _declared(export, mapping).items():
        missing = [c for c in export.columns_of(path) if c not in names and c not in special]
        if missing:
            found[path] = missing
    return found


def check_absent(export: Export, mapping: Mapping) -> None:
    """Refuse a mapping that names a column its file does not have."""
    absent = {path: sorted(names - set(export.columns_of(path))) for path, names in _declared(export, mapping).items()}
    absent[export.path] = sorted(set(absent[export.path]) | (_special(mapping) - set(export.frame.columns)))
    for path, columns in absent.items():
        if columns:
            raise LeadscoreError(f"{path}: the mapping names column(s) the export does not have: {', '.join(columns)}")


def _check_columns(export: Export, mapping: Mapping) -> None:
    for path, columns in undeclared(export, mapping).items():
        raise LeadscoreError(
            f"{path}: column(s) not in the mapping: {', '.join(columns)}; declare each as fit, counter or "
            "exclude (with the reason)"
        )
    check_absent(export, mapping)


def masked(export: Export, mapping: Mapping) -> Export:
    """The export with the mapping's 'not given' values made missing."""
    return replace(export, frame=export.frame.mask(export.frame.isin(mapping.missing_values)))


def label(export: Export, mapping: Mapping) -> np.ndarray:
    """Whether sales accepted each lead: the label column's values, or a row in `label.exists_in`."""
    if mapping.label.exists_in is not None:
        return export.present[mapping.label.exists_in]
    column = mapping.label.column
    values = export.frame[column].astype("str").str.strip()
    positive, negative = values.isin(mapping.label.positive), values.isin(mapping.label.negative)
    odd = np.flatnonzero(~(positive | negative).to_numpy())
    if len(odd):
        shown = rows_named(odd)
        expected = mapping.label.positive + mapping.label.negative
        raise LeadscoreError(
            f"{export.origin[column]}, column '{column}': expected one of {expected}; {len(odd)} row(s) fail: {shown}"
        )
    return positive.to_numpy()


def _when(frame: pd.DataFrame, mapping: Mapping, name: str) -> pd.Series:
    """Time `name` of every row: its first source column that is filled, else the export time if listed."""
    result = pd.Series(None, index=frame.index, dtype=object)
    for source in mapping.times.sources(name):
        values = frame[source] if source != EXPORT_TIME else pd.Series(mapping.times.exported_at, index=frame.index)
        result = result.where(result.notna(), values)
    return result


def _check_decided(decided: pd.Series, export: Export, mapping: Mapping) -> None:
    """Every accepted or rejected lead needs a decision time: name the column that left it empty."""
    empty = np.flatnonzero(decided.isna().to_numpy())
    if not len(empty):
        return
    sources = mapping.times.sources("decided_at")
    rows = rows_named(empty)
    raise LeadscoreError(
        f"{export.origin[sources[0]]}, column '{sources[0]}' (times.decided_at): empty for {len(empty)} decided "
        f"lead(s) (rows {rows} of {export.path.name}); list what to use there instead, e.g. "
        f"decided_at: [{', '.join(sources)}, {EXPORT_TIME}] (the export time where the column is empty)"
    )


@dataclass(frozen=True)
class Converted:
    """The contract tables of an export, their contract config, and the values the import left empty."""

    tables: dict[str, pd.DataFrame]
    contract: ContractConfig
    unreadable_sizes: dict[str, np.ndarray] = field(default_factory=dict)  # column -> rows (0-based) not read


def convert(export: Export, mapping: Mapping) -> Converted:
    """The contract tables and contract config for one flat export (its files joined)."""
    _check_columns(export, mapping)
    export = masked(export, mapping)
    frame = export.frame
    accepted = label(export, mapping)
    ids = (
        frame[mapping.id_column]
        if mapping.id_column
        else pd.Series(np.arange(1, len(frame) + 1).astype(str), index=frame.index)
    )
    leads = pd.DataFrame(
        {
            "lead_id": ids,
            "account_id": frame[mapping.account_column] if mapping.account_column else ids,
            "created_at": _when(frame, mapping, "created_at"),
        }
    )
    extra: dict[str, str] = {}
    counters: list[str] = []
    unreadable: dict[str, np.ndarray] = {}
    reason = None
    for column, role in mapping.roles.items():
        if role.role == "reason":
            reason = frame[column]
        if role.role not in ("fit", "counter"):
            continue
        name = mapping.target(column)
        leads[name] = frame[column]
        if name == "company_size":
            leads[name], bad = read_sizes(frame[column])
            if len(bad):
                unreadable[column] = bad
        if role.role == "counter":
            counters.append(name)
        elif name not in FIT_CATEGORICAL and name not in FIT_NUMERIC:
            extra[name] = role.kind
    decided = _when(frame, mapping, "decided_at")
    _check_decided(decided, export, mapping)
    outcomes = pd.DataFrame(
        {
            "lead_id": ids,
            "mql_at": _when(frame, mapping, "mql_at"),
            "decision": np.where(accepted, "accepted", "rejected"),
            "reason": reason.where(~accepted) if reason is not None else None,
            "decided_at": decided,
        }
    )
    times = mapping.times
    contract = ContractConfig(
        extra_fit_columns=extra,
        counter_columns=counters,
        require_reasons=reason is not None,
        calendar=times.calendar,
        timezone=times.timezone,
    )
    return Converted({"leads": leads, "outcomes": outcomes}, contract, unreadable)


def _sources(export: Export, mapping: Mapping) -> dict[str, tuple[str, str]]:
    """Each contract column the import writes -> (where errors name it: `FILE, column 'X'`, and the
    export column's name alone)."""

    def at(column: str | None, fallback: str) -> tuple[str, str]:
        if not column:
            return f"{export.path}, column '{fallback}'", fallback
        return f"{export.origin.get(column, export.path)}, column '{column}'", column

    exported = "times.exported_at (mapping)"
    names = {
        "lead_id": at(mapping.id_column, "row number"),
        "account_id": at(mapping.account_column or mapping.id_column, "row number"),
        "decision": at(mapping.label.column, f"label.exists_in: {mapping.label.exists_in}"),
    }
    for name in TIME_FIELDS:
        sources = [s for s in mapping.times.sources(name) if s != EXPORT_TIME]
        where, short = at(sources[0] if sources else None, exported)
        if len(mapping.times.sources(name)) > 1:
            where, short = f"{where} (or the next of times.{name})", f"{short} (times.{name})"
        names[name] = (where, short)
    for column, role in mapping.roles.items():
        if role.role in ("fit", "counter"):
            names[mapping.target(column)] = at(column, column)
        if role.role == "reason":
            names["reason"] = at(column, column)
    return names


def check_tables(converted: Converted, mapping: Mapping, export: Export) -> None:
    """Validate the converted tables against the contract, naming the export's files, columns and
    rows (the tables keep the main file's row order; with joined files, rows are named by lead id)
    instead of the contract's."""
    names = _sources(export, mapping)
    pattern = re.compile(re.escape(str(export.path)) + r", column '([^']*)'|\b(mql_at|decided_at)\b")

    def export_column(match: re.Match) -> str:
        if match.group(1) is not None:
            return names.get(match.group(1), (match.group(0), ""))[0]
        return names[match.group(2)][1]

    tables, contract = converted.tables, converted.contract
    labels = tables["leads"]["lead_id"].rename(mapping.id_column) if mapping.files else None
    try:
        leads = validate(tables["leads"], leads_schema(contract), export.path, labels)
        validate(tables["outcomes"], outcomes_schema(contract, leads["lead_id"]), export.path, labels)
    except ContractError as exc:
        raise ContractError(pattern.sub(export_column, str(exc))) from None


def import_export(export_path: Path, mapping: Mapping, out: Path, fmt: str = "parquet") -> dict[str, object]:
    """Convert a flat export into a validated data folder (leads, outcomes, contract.yaml): the counts of
    leads, outcomes and accepted, the `delimiter` and `encoding` the export was read with, the
    `calendar` features added, the rows (1-based) per company-size column left empty because
    `unreadable_sizes`, and per joined file its rows that match no lead (`unmatched`)."""
    export = read_mapped(export_path, mapping)
    converted = convert(export, mapping)
    check_tables(converted, mapping, export)
    out.mkdir(parents=True, exist_ok=True)
    staging = out / ".import"
    staging.mkdir(exist_ok=True)
    try:
        for name, table in converted.tables.items():
            write_table(table, staging / f"{name}.{fmt}")
        (staging / CONFIG_FILE).write_text(
            f"# written by `leadscore import` from {export_path.name}: {mapping.source}\n"
            + yaml.safe_dump(converted.contract.model_dump(mode="json"), sort_keys=False),
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
    counts: dict[str, object] = {
        "leads": len(dataset.leads),
        "outcomes": len(dataset.outcomes),
        "accepted": int((dataset.outcomes["decision"] == "accepted").sum()),
        "calendar": [calendar_name(part) for part in converted.contract.calendar],
        "unreadable_sizes": {c: [int(i) + 1 for i in rows] for c, rows in converted.unreadable_sizes.items()},
        "unmatched": dict(export.unmatched),
    }
    return counts | {k: export.attrs[k] for k in ("delimiter", "encoding") if k in export.attrs}
