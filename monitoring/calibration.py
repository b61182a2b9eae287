"""Realised calibration from decided leads: by segment and overall, by period when the rows carry
one, the ECE (`training.metrics.expected_calibration_error`, as training computes it) beside its
sampling floor (`monitoring.estimate.expected_ece`), ROC AUC, and observed against predicted
acceptance per grade with a 95% Wilson interval. A grade is the caller's column `grade` when the
rows have one, else the probability's ECE bin ("0–10%", ..., "90–100%"): the reliability table."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import binomtest
from sklearn.metrics import roc_auc_score

from monitoring.estimate import BINS, ece_bins, expected_ece
from training.metrics import expected_calibration_error

ALL = "all"
COLUMNS = [
    "period",
    "segment",
    "grade",
    "n",
    "accepted",
    "predicted",
    "observed",
    "low",
    "high",
    "ece",
    "ece_floor",
    "roc_auc",
]


def grades(probability: pd.Series, bins: int = BINS) -> pd.Series:
    """Each probability's ECE bin as a label: '30–40%'."""
    which = ece_bins(probability.to_numpy(dtype=float), bins)
    width = 100 // bins
    return pd.Series([f"{b * width}–{(b + 1) * width}%" for b in which], index=probability.index)


def wilson(k: int, n: int) -> tuple[float, float]:
    """The 95% Wilson interval of k accepted of n (NaN, NaN for none)."""
    if n == 0:
        return (np.nan, np.nan)
    ci = binomtest(int(k), int(n)).proportion_ci(confidence_level=0.95, method="wilson")
    return (float(ci.low), float(ci.high))


def _row(part: pd.DataFrame) -> dict:
    """The figures of one cell (decided rows only)."""
    y, p = part["accepted"].to_numpy(dtype=float), part["probability"].to_numpy(dtype=float)
    k, n = int(y.sum()), len(y)
    low, high = wilson(k, n)
    return {
        "n": n,
        "accepted": k,
        "predicted": float(p.mean()) if n else np.nan,
        "observed": k / n if n else np.nan,
        "low": low,
        "high": high,
        "ece": expected_calibration_error(y, p) if n else np.nan,
        "ece_floor": expected_ece(p) if n else np.nan,
        "roc_auc": float(roc_auc_score(y, p)) if len(np.unique(y)) == 2 else np.nan,
    }


def by_segment(frame: pd.DataFrame) -> pd.DataFrame:
    """Calibration of decided rows (`probability`, `accepted` 1/0, NaN while open: left out;
    `segment`; optional `grade` and `period`) per period (ALL when the rows have none), segment
    (each, then ALL) and grade (each, then ALL): `COLUMNS`. The ALL-grade rows carry the cell's
    ECE, its sampling floor and ROC AUC; a grade row's ECE is that of its own leads."""
    decided = frame[frame["accepted"].notna() & frame["probability"].notna()].copy()
    decided["segment"] = decided["segment"].astype(str) if "segment" in decided else ALL
    decided["grade"] = decided["grade"].astype(str) if "grade" in decided else grades(decided["probability"])
    decided["period"] = decided.get("period", ALL)
    rows = []
    for period, in_period in decided.groupby("period", sort=True):
        segments = [(s, part) for s, part in in_period.groupby("segment", sort=True)]
        if len(segments) != 1 or segments[0][0] != ALL:
            segments.append((ALL, in_period))
        for segment, part in segments:
            for grade, cell in part.groupby("grade", sort=True):
                rows.append({"period": period, "segment": segment, "grade": grade, **_row(cell)})
            rows.append({"period": period, "segment": segment, "grade": ALL, **_row(part)})
    return pd.DataFrame(rows, columns=COLUMNS).astype({"n": int, "accepted": int})


def periods(when: pd.Series, by: str = "week") -> pd.Series:
    """UTC instants as the first day of their week (Monday) or month, for `by_segment`'s `period`."""
    freq = {"week": "W-SUN", "month": "M"}[by]
    return pd.to_datetime(when, utc=True).dt.tz_localize(None).dt.to_period(freq).dt.start_time
