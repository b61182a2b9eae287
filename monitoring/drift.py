"""Drift of each feature and of the score, by segment: the population stability index (PSI), a
chi-square test with the Benjamini-Hochberg correction over every test of a run, the missing
share and the share of categories the reference never saw.

Why counts, not Evidently's own calls: Evidently compares two DataFrames of rows, but a model
version's reference profile (`training.profile.Profile`) keeps binned counts only (no rows, no
PII), and Evidently 0.7.23 (which fits the lock) takes no counts or weights. So leadscore computes
PSI from counts with Evidently's own formula and empty-bin rule, re-typed from
evidentlyai/evidently src/evidently/legacy/calculations/stattests/psi.py (`_psi`) and utils.py
(`get_binned_data`, `feel_zeroes`); tests/code/test_monitoring_stats.py checks it against a hand
computation and against that source re-typed.

The bins are the reference's own (its numeric edges, its top categories, then "unseen" for a
category it never saw and "missing" last): PSI counts a change in missingness or a flood of new
categories as drift too. A row is flagged `drifted` when PSI is above `threshold` AND the
adjusted p-value below `alpha`; with fewer than `min_rows` current rows it says "too few rows",
has no test and is never flagged (PSI is still shown). The chi-square test is of the current
counts against the reference's proportions (the reference taken as exact, empty bins floored as
PSI floors them); with many rows it finds tiny shifts, which is why a flag needs PSI too.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import chi2, false_discovery_control

PSI_THRESHOLD = 0.2  # above: a shift worth acting on (the usual rule of thumb: 0.1 some, 0.2 major)
ALPHA = 0.01  # the adjusted p-value below which a shift is not chance
MIN_ROWS = 200  # fewer current rows than this: too few rows to judge drift
TOO_FEW = "too few rows"
NO_REFERENCE = "no reference rows"  # the profile has no lead of this segment
SCORE = "probability"  # the score is drift-checked like a feature
ALL = "all"  # the segment name of every lead together
COLUMNS = [
    "feature",
    "segment",
    "n_ref",
    "n_cur",
    "psi",
    "p_value",
    "p_adjusted",
    "missing_ref",
    "missing_cur",
    "unseen_share",
    "drifted",
    "note",
]


def shares(counts: np.ndarray, eps: float = 1e-4) -> np.ndarray:
    """Counts as shares with Evidently's empty-bin rule: an empty bin gets `eps`, or the smallest
    non-empty share / 10**6 when that share is itself at most `eps`."""
    counts = np.asarray(counts, dtype=float)
    out = counts / counts.sum()
    smallest = out[out > 0].min()
    out[out == 0] = smallest / 10**6 if smallest <= eps else eps
    return out


def psi(ref_counts, cur_counts, eps: float = 1e-4) -> float:
    """Evidently's PSI of two count arrays over the same bins: sum((ref% - cur%) * ln(ref% / cur%)),
    empty bins filled as `shares` does; NaN when either side has no rows."""
    ref, cur = np.asarray(ref_counts, dtype=float), np.asarray(cur_counts, dtype=float)
    if ref.shape != cur.shape:
        raise ValueError(f"psi: {ref.shape} reference bins against {cur.shape} current bins")
    if ref.sum() <= 0 or cur.sum() <= 0:
        return float("nan")
    r, c = shares(ref, eps), shares(cur, eps)
    return float(np.sum((r - c) * np.log(r / c)))


def chi_square(ref_counts, cur_counts, eps: float = 1e-4) -> float:
    """The p-value of a chi-square test of the current counts against the reference's proportions
    (bins empty on both sides dropped; NaN when fewer than two bins are left or a side is empty)."""
    ref, cur = np.asarray(ref_counts, dtype=float), np.asarray(cur_counts, dtype=float)
    used = (ref > 0) | (cur > 0)
    ref, cur = ref[used], cur[used]
    if len(ref) < 2 or ref.sum() <= 0 or cur.sum() <= 0:
        return float("nan")
    expected = shares(ref, eps)
    expected = expected / expected.sum() * cur.sum()  # the floor adds a little: sums must agree
    # Pearson's statistic and its chi-square tail, as scipy.stats.chisquare computes them (without
    # its per-call argument checks: a run makes about ten thousand of these tests)
    return float(chi2.sf(((cur - expected) ** 2 / expected).sum(), len(cur) - 1))


@dataclass(frozen=True)
class Pair:
    """One comparison: a feature in a segment, as reference and current counts over the same bins
    (the last one "missing"), and the index of the "unseen" bin of a categorical feature."""

    feature: str
    segment: str
    ref: np.ndarray
    cur: np.ndarray
    unseen: int | None = None


def drift_table(
    pairs: Iterable[Pair], threshold: float = PSI_THRESHOLD, alpha: float = ALPHA, min_rows: int = MIN_ROWS
) -> pd.DataFrame:
    """One row per pair (`COLUMNS`): PSI, the chi-square p-value, Benjamini-Hochberg over every
    test of the table, the missing shares, the unseen share and the flag (see the module)."""
    rows = []
    for pair in pairs:
        ref, cur = np.asarray(pair.ref, dtype=float), np.asarray(pair.cur, dtype=float)
        n_ref, n_cur = int(ref.sum()), int(cur.sum())
        few = n_cur < min_rows or n_ref == 0
        rows.append(
            {
                "feature": pair.feature,
                "segment": pair.segment,
                "n_ref": n_ref,
                "n_cur": n_cur,
                "psi": psi(ref, cur),
                "p_value": np.nan if few else chi_square(ref, cur),
                "missing_ref": ref[-1] / n_ref if n_ref else np.nan,
                "missing_cur": cur[-1] / n_cur if n_cur else np.nan,
                "unseen_share": cur[pair.unseen] / n_cur if pair.unseen is not None and n_cur else np.nan,
                "note": NO_REFERENCE if n_ref == 0 else TOO_FEW if few else "",
            }
        )
    table = pd.DataFrame(rows, columns=[c for c in COLUMNS if c not in ("p_adjusted", "drifted")])
    table["p_adjusted"] = adjusted(table["p_value"].to_numpy(dtype=float))
    table["drifted"] = (table["psi"] > threshold) & (table["p_adjusted"] < alpha) & (table["note"] == "")
    return table[COLUMNS]


def adjusted(p_values: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values over the tests that ran (NaN stays NaN)."""
    out = np.full(len(p_values), np.nan)
    ran = ~np.isnan(p_values)
    if ran.any():
        out[ran] = false_discovery_control(p_values[ran], method="bh")
    return out


def feature_drift(
    profile,
    current: pd.DataFrame,
    segment_column: str = "segment",
    *,
    threshold: float = PSI_THRESHOLD,
    alpha: float = ALPHA,
    min_rows: int = MIN_ROWS,
) -> pd.DataFrame:
    """Drift of every feature of `profile` (a `training.profile.Profile`) and of the score in the
    rows of `current` (logged feature rows, with `probability` for the score), for every lead
    ("all") and per segment of the profile: `drift_table`'s columns. A feature the current rows
    lack is left out; a segment the profile has and the rows lack has no row."""
    names = [n for n in dict.fromkeys([*profile.features, SCORE]) if n in current.columns]
    segments = current[segment_column].astype(str) if segment_column in current else None
    parts = [(ALL, current)]
    if segments is not None:
        parts += [(s, current[segments == s]) for s in profile.segments if s != ALL and (segments == s).any()]
    pairs = []
    for name in names:
        categorical = name != SCORE and profile.kind(name) == "categorical"
        for segment, part in parts:
            pairs.append(
                Pair(
                    feature=name,
                    segment=segment,
                    ref=np.asarray(profile.reference_counts(name, segment=segment), dtype=float),
                    cur=np.asarray(profile.bin_counts(name, part[name]), dtype=float),
                    unseen=-2 if categorical else None,  # the profile's bins: ..., "unseen", "missing"
                )
            )
    return drift_table(pairs, threshold, alpha, min_rows)
