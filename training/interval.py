"""An interval for the model's probability: inductive Venn-Abers on the calibration period (Vovk,
Petej and Fedorova, 2015), through the `venn-abers` package.

The score is the booster's margin (its raw log-odds), which the model learnt on the training
period. For a new lead, Venn-Abers fits the isotonic regression of the calibration period's
outcomes on that score twice, once with the lead added as accepted and once as rejected; the two
fitted values at the lead, p0 <= p1, bound its probability, and one of them is calibrated however
the data are distributed. Where the calibration period held many leads with a margin like this
one the two agree (a narrow interval); at the edges, or in a small segment, they part.

As the calibrators do, each segment with its own calibrator gets its own map, every other lead
the map of every lead. `fit_intervals` runs inside `training.fit.fit_model`, so every fitted model
(a refit too) carries one; a model registered before has none, and says so (`missing`).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from venn_abers import VennAbers, calc_probs

from features.arrays import groups

PRECISION = 3  # margins rounded to 0.001 log-odds when fitting: at most a few thousand steps to keep


def _scores(margin: np.ndarray) -> np.ndarray:
    """The package's input: two columns, the score in the second (the first is not read)."""
    margin = np.asarray(margin, dtype=float)
    return np.column_stack([np.zeros(len(margin)), margin])


@dataclass(frozen=True)
class VennAbersMap:
    """One fitted Venn-Abers predictor, as the package's fitted arrays: the calibration period's
    distinct (rounded) margins `c`, ascending, and the isotonic fits with a new lead added as
    rejected (`p0`) and as accepted (`p1`); `rows` calibration rows behind it."""

    c: np.ndarray
    p0: np.ndarray
    p1: np.ndarray
    rows: int

    @classmethod
    def fit(cls, margin: np.ndarray, y: np.ndarray) -> VennAbersMap:
        with warnings.catch_warnings():
            # venn-abers takes np.nanmin of a slice that may be all NaN and then checks the result
            # for NaN itself (its convex-hull step): the RuntimeWarning is its normal path, not a fault
            warnings.filterwarnings("ignore", "All-NaN slice encountered", RuntimeWarning)
            fitted = VennAbers().fit(_scores(margin), np.asarray(y, dtype=float), precision=PRECISION)
        return cls(np.asarray(fitted.c_), np.asarray(fitted.p0_), np.asarray(fitted.p1_), len(margin))

    def __call__(self, margin: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(low, high) for each margin: the Venn-Abers pair p0 <= p1."""
        _, pair = calc_probs(self.p0, self.p1, self.c, _scores(margin))
        return np.minimum(pair[:, 0], pair[:, 1]), np.maximum(pair[:, 0], pair[:, 1])


@dataclass(frozen=True)
class Intervals:
    """The Venn-Abers maps of one model: one for every lead, and one per segment that has its own."""

    everyone: VennAbersMap
    segments: dict[str, VennAbersMap]

    def bounds(self, margin: np.ndarray, segments: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(low, high) for each row, by its segment's map (else the map of every lead)."""
        margin = np.asarray(margin, dtype=float)
        low, high = np.empty(len(margin)), np.empty(len(margin))
        for segment, rows in groups(segments):
            low[rows], high[rows] = self.segments.get(segment, self.everyone)(margin[rows])
        return low, high


def fit_intervals(margin: np.ndarray, y: np.ndarray, segments: np.ndarray, calibrated: Mapping) -> Intervals:
    """Venn-Abers maps from the calibration period's margins and outcomes (0/1, unweighted, as
    calibration): one for every lead, and one for each segment of `segments` named in `calibrated`
    (the calibrators' keys: the segments with a calibrator of their own, and the key of all leads,
    which names no segment)."""
    margin, y = np.asarray(margin, dtype=float), np.asarray(y, dtype=float)
    segments = np.asarray(segments).astype(str)
    own = {}
    for segment in map(str, calibrated):
        rows = segments == segment
        if rows.any():
            own[segment] = VennAbersMap.fit(margin[rows], y[rows])
    return Intervals(VennAbersMap.fit(margin, y), own)


def missing(version: str) -> str:
    """Why a model has no interval: it was fitted before models kept their calibration period's
    Venn-Abers maps."""
    return f"model {version} was fitted without interval data (before intervals existed); retrain to get one"
