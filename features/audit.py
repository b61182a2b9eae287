"""Leakage audit of a flat CRM export: which columns know the outcome?

Three signals per column, each computed against the label:

- strength: the ROC AUC of the column alone (out-of-fold target encoding, so a column with many
  values cannot score by memorising; numbers are binned). A status that sales sets after the
  decision predicts it far better than anything known at hand-over.
- missingness: how much the acceptance rate differs between rows where the column is empty and
  rows where it is filled. Fields that sales fills in while working a lead are filled mostly for
  the leads they worked.
- one-outcome values: the share of rows whose value occurs with only one outcome (at least 10
  rows, acceptance <= 2% or >= 98%), as a value set after the decision does ("Closed by X",
  "Lost to Y").

Verdict: `leak` (strength >= 0.85 or one-outcome share >= 0.10), `suspect` (strength >= 0.75,
missingness gap >= 0.25 with enough rows on both sides, or one-outcome share >= 0.03), else `ok`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sklearn.preprocessing import TargetEncoder


@dataclass(frozen=True)
class Thresholds:
    leak_auc: float = 0.85
    suspect_auc: float = 0.75
    missing_gap: float = 0.25
    leak_pure: float = 0.10
    suspect_pure: float = 0.03


MISSING = "(missing)"


def _categories(values: pd.Series, bins: int = 20) -> pd.Series:
    """A column as categories: numbers in quantile bins, text as is, missing as its own value."""
    number = pd.to_numeric(values, errors="coerce")
    numeric = number.notna().sum() >= 0.95 * values.notna().sum() and values.nunique() > bins
    if numeric:
        binned = pd.qcut(number, bins, duplicates="drop").astype(str)
        return binned.where(number.notna(), MISSING)
    return values.astype(object).where(values.notna(), MISSING).astype(str)


def _strength(codes: pd.Series, y: np.ndarray, random_state: int) -> float:
    if codes.nunique() < 2:
        return 0.5
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=random_state)
    encoder = TargetEncoder(target_type="binary", cv=folds)
    encoded = encoder.fit_transform(codes.to_frame(), y)[:, 0]
    auc = roc_auc_score(y, encoded)
    return max(auc, 1 - auc)


def audit(
    frame: pd.DataFrame, label: np.ndarray, thresholds: Thresholds | None = None, random_state: int = 0
) -> pd.DataFrame:
    """One row per column of `frame`: the three signals, a verdict and why."""
    limits = thresholds or Thresholds()
    y = np.asarray(label, dtype=int)
    min_rows = max(30, int(0.01 * len(y)))
    rows = []
    for column in frame.columns:
        codes = _categories(frame[column])
        missing = (codes == MISSING).to_numpy()
        gap = np.nan
        if missing.sum() >= min_rows and (~missing).sum() >= min_rows:
            gap = abs(y[missing].mean() - y[~missing].mean())
        stats = pd.Series(y).groupby(codes.to_numpy()).agg(["mean", "size"])
        stats = stats.drop(index=MISSING, errors="ignore")
        pure = stats[(stats["size"] >= 10) & ((stats["mean"] <= 0.02) | (stats["mean"] >= 0.98))]
        pure_share = pure["size"].sum() / len(y)
        strength = _strength(codes, y, random_state)
        why = []
        if strength >= limits.suspect_auc:
            why.append(f"alone it predicts the label with AUC {strength:.2f}")
        if not np.isnan(gap) and gap >= limits.missing_gap:
            why.append(f"acceptance differs by {gap:.0%} between empty and filled rows")
        if pure_share >= limits.suspect_pure:
            examples = ", ".join(repr(v) for v in pure.sort_values("size", ascending=False).index[:2])
            why.append(f"{pure_share:.0%} of rows hold values seen with one outcome only ({examples})")
        if strength >= limits.leak_auc or pure_share >= limits.leak_pure:
            verdict = "leak"
        elif why:
            verdict = "suspect"
        else:
            verdict = "ok"
        rows.append(
            {
                "column": column,
                "auc": strength,
                "missing": missing.mean(),
                "missing_gap": gap,
                "one_outcome_share": pure_share,
                "verdict": verdict,
                "why": "; ".join(why),
            }
        )
    order = {"leak": 0, "suspect": 1, "ok": 2}
    result = pd.DataFrame(rows)
    return result.sort_values(["verdict", "auc"], key=lambda s: s.map(order) if s.name == "verdict" else -s)
