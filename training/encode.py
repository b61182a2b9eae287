"""The booster's input: feature rows as a float matrix."""

from __future__ import annotations

from collections.abc import Collection

import numpy as np

NEVER_DAYS = 10_000.0  # "days since" an event that never happened: long ago, not unknown


def category_lookups(categories: dict[str, list[str]]) -> dict[str, dict[str, int]]:
    return {c: {v: i for i, v in enumerate(cats)} for c, cats in categories.items()}


def to_matrix(features, names: list[str], lookups: dict[str, dict[str, int]], days: Collection[str] = ()) -> np.ndarray:
    """Feature rows (a DataFrame or a dict of column arrays) as the booster's float matrix:
    numbers as they are, categories as their fitted codes (unseen: NaN), and the `days` features
    (the spec's "days since" an event) as long ago when the event never happened."""
    out = np.empty((len(features[names[0]]), len(names)))
    for j, name in enumerate(names):
        values = features[name]
        if name in lookups:
            lookup = lookups[name]
            out[:, j] = [lookup.get(v, np.nan) if isinstance(v, str) else np.nan for v in values]
        else:
            column = np.asarray(values, dtype=float)
            if name in days:
                column = np.where(np.isnan(column), NEVER_DAYS, column)
            out[:, j] = column
    return out
