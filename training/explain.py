"""Why a lead scored as it did, in words a sales rep understands: contributions -> concepts -> words.

LightGBM's own SHAP contributions (`pred_contrib`) are per feature; several features describe one
thing the lead did or is (seven features are about the pricing page). Contributions are summed
per such concept and the strongest ones are described from the lead's own feature values. The same
contributions, summed per part (fit: the spec's `fit` group; intent: its `engagement` and
`account` groups, so the account's activity counts as intent), say how much fit and intent each
add to the log-odds.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from core.schema import Reason
from features.spec import FeatureSpec

PARTS = ("fit", "intent")
PART_OF_GROUP = {"fit": "fit", "engagement": "intent", "account": "intent"}  # the spec's groups
SIGNS = {"positive": "+", "negative": "\u2212"}  # before each reason of a one-line text: raised, lowered


class Row(Mapping):
    """One lead's feature values, read from the feature columns only when asked for (its reasons
    read a handful of a hundred columns)."""

    __slots__ = ("columns", "i")

    def __init__(self, columns: Mapping, i: int):
        self.columns, self.i = columns, i

    def __getitem__(self, name: str):
        return self.columns[name][self.i]

    def __iter__(self):
        return iter(self.columns)

    def __len__(self) -> int:
        return len(self.columns)

    def get(self, name: str, default=None):
        values = self.columns.get(name)
        return default if values is None else values[self.i]


class Explainer:
    """Per-feature SHAP contributions of one model's features, summed per concept (the feature spec's),
    in the spec's words."""

    def __init__(self, names: list[str], spec: FeatureSpec):
        self.spec = spec
        concept = [spec[n].concept for n in names]
        self.concepts = list(dict.fromkeys(concept))
        self.membership = np.zeros((len(names), len(self.concepts)))
        for j, c in enumerate(concept):
            self.membership[j, self.concepts.index(c)] = 1.0
        self.part_membership = np.zeros((len(names), len(PARTS)))
        for j, name in enumerate(names):
            self.part_membership[j, PARTS.index(PART_OF_GROUP[spec[name].group])] = 1.0

    def parts(self, contributions: np.ndarray) -> np.ndarray:
        """Fit's and intent's log-odds for each row (columns in `PARTS` order): their features'
        contributions summed; with the expected value (the last column of `contributions`) they add
        up to the row's raw log-odds."""
        return contributions[:, : len(self.part_membership)] @ self.part_membership

    def totals(self, contributions: np.ndarray) -> np.ndarray:
        """Contribution per concept for each row (`contributions` as `pred_contrib` gives them,
        the expected value last)."""
        return contributions[:, : len(self.membership)] @ self.membership

    def texts(self, contributions: np.ndarray, columns: Mapping) -> list[str]:
        """Each row's reasons as one line, each after its sign ("+ reason; \u2212 reason; ...": raised or
        lowered the probability), from `pred_contrib` rows and the feature columns they were computed on."""
        totals = self.totals(contributions)
        return [
            "; ".join(f"{SIGNS[r.direction]} {r.text}" for r in self.reasons(totals[i], Row(columns, i)))
            for i in range(len(totals))
        ]

    def reasons(
        self, totals: np.ndarray, row: Mapping, positive: int = 3, negative: int = 2, minimum: float = 0.02
    ) -> list[Reason]:
        """The strongest positive and negative concepts for one lead (one row of `totals`)."""
        ranked = np.argsort(-np.abs(totals), kind="stable")
        ups = [j for j in ranked if totals[j] >= minimum][:positive]
        downs = [j for j in ranked if totals[j] <= -minimum][:negative]
        return [
            Reason(
                text=self.spec.words(self.concepts[j], row, low=totals[j] < 0),
                direction="positive" if totals[j] > 0 else "negative",
                weight=round(float(totals[j]), 4),
            )
            for j in sorted(ups + downs, key=lambda j: -abs(totals[j]))
        ]
