"""The booster's input: feature rows as a float matrix, and the monotone constraints on its columns."""

from __future__ import annotations

import numpy as np

NEVER_DAYS = 10_000.0  # "days since" an event that never happened: long ago, not unknown


def category_lookups(categories: dict[str, list[str]]) -> dict[str, dict[str, int]]:
    return {c: {v: i for i, v in enumerate(cats)} for c, cats in categories.items()}


def to_matrix(features, names: list[str], lookups: dict[str, dict[str, int]]) -> np.ndarray:
    """Feature rows (a DataFrame or a dict of column arrays) as the booster's float matrix:
    numbers as they are, categories as their fitted codes (unseen: NaN), and "days since" an
    event that never happened as long ago."""
    out = np.empty((len(features[names[0]]), len(names)))
    for j, name in enumerate(names):
        values = features[name]
        if name in lookups:
            lookup = lookups[name]
            out[:, j] = [lookup.get(v, np.nan) if isinstance(v, str) else np.nan for v in values]
        else:
            column = np.asarray(values, dtype=float)
            if name.startswith("days_since_"):
                column = np.where(np.isnan(column), NEVER_DAYS, column)
            out[:, j] = column
    return out


def monotone_constraints(names: list[str], increasing: list[str], decreasing: list[str]) -> list[int]:
    """LightGBM constraints: +1 / -1 for listed features (a trailing * matches a prefix), else 0."""

    def listed(name: str, patterns: list[str]) -> bool:
        return any(name.startswith(p[:-1]) if p.endswith("*") else name == p for p in patterns)

    return [1 if listed(n, increasing) else -1 if listed(n, decreasing) else 0 for n in names]
