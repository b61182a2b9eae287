"""The booster's input: feature rows as a float matrix."""

from __future__ import annotations

from collections.abc import Collection

import numpy as np

from features.arrays import SMALL

NEVER_DAYS = 10_000.0  # "days since" an event that never happened: long ago, not unknown


def category_lookups(categories: dict[str, list[str]]) -> dict[str, dict[str, int]]:
    return {c: {v: i for i, v in enumerate(cats)} for c, cats in categories.items()}


class Encoder:
    """Feature rows (a DataFrame or a dict of column arrays) as the booster's float matrix:
    numbers as they are, categories as their fitted codes (unseen: NaN), and the `days` features
    (the spec's "days since" an event) as long ago when the event never happened. Which column is
    which is worked out once; a request's few rows convert all their numbers in one call."""

    def __init__(self, names: list[str], lookups: dict[str, dict[str, int]], days: Collection[str] = ()):
        self.names = names
        self.lookups = lookups
        self.days = days
        numeric = [j for j, name in enumerate(names) if name not in lookups]
        self._numeric = (np.array(numeric, dtype=np.intp), [names[j] for j in numeric])
        self._days = np.array([j for j in numeric if names[j] in days], dtype=np.intp)
        self._categorical = [(j, names[j], lookups[names[j]]) for j, name in enumerate(names) if name in lookups]

    def __call__(self, features) -> np.ndarray:
        n = len(features[self.names[0]])
        out = np.empty((n, len(self.names)))
        where, numeric = self._numeric
        if n <= SMALL:  # one conversion of every number, not one per column
            out[:, where] = np.array([features[name] for name in numeric], dtype=float).reshape(len(numeric), n).T
        else:
            for j, name in zip(where.tolist(), numeric, strict=True):
                out[:, j] = np.asarray(features[name], dtype=float)
        if len(self._days):
            given = out[:, self._days]
            out[:, self._days] = np.where(np.isnan(given), NEVER_DAYS, given)
        for j, name, lookup in self._categorical:
            out[:, j] = [lookup.get(v, np.nan) if isinstance(v, str) else np.nan for v in features[name]]
        return out


def to_matrix(features, names: list[str], lookups: dict[str, dict[str, int]], days: Collection[str] = ()) -> np.ndarray:
    """Feature rows as the booster's float matrix (`Encoder`)."""
    return Encoder(names, lookups, days)(features)
