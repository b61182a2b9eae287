"""Reading the files a mapping names into one table: the main export's rows, in its order, with
each further file's columns joined by lead id (features/mapping.py `files:`).

The import and the audit both read an export through `read_mapped`, so the audit judges exactly
the table the import converts. Errors name the file and its own column; a key that is empty or
repeated (more than one row per lead) is an error, a key that matches no lead is counted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from core.errors import LeadscoreError
from features.mapping import JoinedFile, Mapping
from features.tables import read_export


@dataclass(frozen=True)
class Export:
    """The joined table and where each of its columns came from."""

    path: Path  # the main file
    frame: pd.DataFrame
    origin: dict[str, Path]  # column -> the file that holds it
    present: dict[str, np.ndarray] = field(default_factory=dict)  # joined file -> has the lead a row there
    unmatched: dict[str, int] = field(default_factory=dict)  # joined file -> its rows matching no lead
    attrs: dict = field(default_factory=dict)  # the main file's delimiter and encoding

    def columns_of(self, path: Path) -> list[str]:
        return [c for c, p in self.origin.items() if p == path]


def rows_named(positions: np.ndarray, limit: int = 5) -> str:
    """Row numbers (1 = the first row after the header) of 0-based `positions`: the first `limit`,
    then how many more; never the rows' values."""
    shown = ", ".join(str(i + 1) for i in positions[:limit])
    return shown + (f" and {len(positions) - limit} more" if len(positions) > limit else "")


def _keys(other: pd.DataFrame, path: Path, key: str) -> pd.Series:
    """The key column of a joined file as text, after checking it is filled and unique."""
    if key not in other.columns:
        raise LeadscoreError(f"{path}: no key column '{key}' (files: {path.name}: key); columns: {list(other.columns)}")
    keys = other[key]
    empty = np.flatnonzero(keys.isna().to_numpy())
    if len(empty):
        raise LeadscoreError(f"{path}, column '{key}': {len(empty)} row(s) without a lead id: rows {rows_named(empty)}")
    keys = keys.astype(str)
    repeated = np.flatnonzero(keys.duplicated(keep=False).to_numpy())
    if len(repeated):
        leads = keys.iloc[repeated].nunique()
        raise LeadscoreError(
            f"{path}, column '{key}': {leads} lead(s) have more than one row (rows {rows_named(repeated)}); the "
            "mapping joins at most one row per lead: keep one (e.g. the first won deal) before importing"
        )
    return keys


def read_mapped(path: Path, mapping: Mapping) -> Export:
    """The main export joined with every file of `mapping.files` (paths relative to its folder)."""
    frame = read_export(path, mapping.delimiter, mapping.encoding)
    return join_files(path, frame, mapping.id_column, mapping.files)


def join_files(path: Path, frame: pd.DataFrame, id_column: str | None, files: dict[str, JoinedFile]) -> Export:
    """The main export `frame` (read from `path`) joined with `files` by its `id_column`."""
    attrs = dict(frame.attrs)
    origin = dict.fromkeys(frame.columns, path)
    if not files:
        return Export(path, frame, origin, attrs=attrs)
    if id_column not in frame.columns:
        raise LeadscoreError(f"{path}: no id column '{id_column}' to join the files {list(files)} by")
    ids = frame[id_column].astype(str)
    present, unmatched, parts = {}, {}, [frame]
    for name, spec in files.items():
        other_path = path.parent / name
        other = read_export(other_path, spec.delimiter, spec.encoding)
        keys = _keys(other, other_path, spec.key)
        clash = [c for c in other.columns if c != spec.key and c in origin]
        if clash:
            raise LeadscoreError(
                f"{other_path}: column(s) {', '.join(clash)} also in {origin[clash[0]].name}; "
                "rename them in one of the files so each column has one role"
            )
        rows = other.drop(columns=spec.key).set_index(keys)
        joined = rows.reindex(ids.to_numpy())
        joined.index = frame.index
        parts.append(joined)
        present[name] = ids.isin(keys).to_numpy()
        unmatched[name] = int((~keys.isin(ids)).sum())
        origin |= dict.fromkeys(joined.columns, other_path)
    return Export(path, pd.concat(parts, axis=1), origin, present, unmatched, attrs)
