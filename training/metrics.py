"""Evaluation metrics, model and rule score side by side, overall and by group."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

TOP_SHARES = (0.1, 0.2, 0.3)


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """Mean |observed rate - mean probability| over equal-width probability bins, weighted by size."""
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        rows = which == b
        if rows.any():
            total += rows.sum() * abs(y[rows].mean() - p[rows].mean())
    return float(total / len(y))


def top_share(y: np.ndarray, score: np.ndarray, share: float) -> float:
    """Acceptance rate among the `share` highest-scored leads (ties broken by order)."""
    k = max(1, round(share * len(y)))
    return float(y[np.argsort(-score, kind="stable")[:k]].mean())


def score_metrics(y: np.ndarray, score: np.ndarray, probability: np.ndarray) -> dict[str, float]:
    """Ranking metrics on `score`, probability metrics on `probability` (same length as y)."""
    both = len(np.unique(y)) == 2
    base = y.mean() if len(y) else np.nan
    out = {
        "roc_auc": roc_auc_score(y, score) if both else np.nan,
        "pr_auc": average_precision_score(y, score) if both else np.nan,
        "log_loss": log_loss(y, np.clip(probability, 1e-6, 1 - 1e-6), labels=[0, 1]),
        "brier": brier_score_loss(y, probability),
        "ece": expected_calibration_error(y, probability),
        "acceptance_rate": base,
    }
    for share in TOP_SHARES:
        rate = top_share(y, score, share)
        out[f"top{int(share * 100)}_acceptance"] = rate
        out[f"top{int(share * 100)}_lift"] = rate / base if base else np.nan
    return {k: float(v) for k, v in out.items()}


def equal_volume(y: np.ndarray, model_probability: np.ndarray, rule_mql: np.ndarray) -> dict[str, float]:
    """If sales takes as many leads as the rules send, which would be accepted more often?"""
    n = int(rule_mql.sum())
    if n == 0:
        return {"mql_count": 0.0, "rule_mql_acceptance": np.nan, "model_mql_acceptance": np.nan}
    return {
        "mql_count": float(n),
        "rule_mql_acceptance": float(y[rule_mql].mean()),
        "model_mql_acceptance": top_share(y, model_probability, n / len(y)),
    }


def compare(y, model_probability, rule_score, rule_probability, rule_mql) -> dict[str, float]:
    """Flat metrics dict: model_*, rule_* and equal-volume figures."""
    out = {f"model_{k}": v for k, v in score_metrics(y, model_probability, model_probability).items()}
    out.update({f"rule_{k}": v for k, v in score_metrics(y, rule_score, rule_probability).items()})
    out.update({f"equal_volume_{k}": v for k, v in equal_volume(y, model_probability, rule_mql).items()})
    return out


def by_group(
    groups: pd.Series, y, model_probability, rule_score, rule_probability, rule_mql, min_rows: int = 50
) -> pd.DataFrame:
    """The comparison per group (segment, source) with at least `min_rows` rows."""
    rows = []
    for name in sorted(groups.dropna().unique()):
        m = (groups == name).to_numpy()
        if m.sum() < min_rows or len(np.unique(y[m])) < 2:
            continue
        metrics = compare(y[m], model_probability[m], rule_score[m], rule_probability[m], rule_mql[m])
        rows.append({"group": name, "rows": int(m.sum()), **metrics})
    return pd.DataFrame(rows)
