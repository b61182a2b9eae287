"""Accuracy before the decisions arrive: confidence-based performance estimation (CBPE, as NannyML
does it) from the model's calibrated probabilities alone.

If the probabilities are calibrated, each lead is accepted with its probability, so every count a
metric needs has an expected value: the ROC curve's true positives are cumulative sums of
probabilities down the ranking, and the acceptance of the model's MQLs (its precision) is their
mean probability. The formulas are NannyML's, re-typed from NannyML/nannyml
nannyml/performance_estimation/confidence_based/metrics.py (`estimate_roc_auc`,
`estimate_precision`); NannyML itself does not fit the lock (it needs lightgbm<4.6, leadscore
pins 4.7), so tests/code/test_monitoring_stats.py checks these against that source on hand-made
arrays and against the realised figures of simulated labels.

The calibration error needs its own meaning here. Under calibration the expected gap between
observed and predicted is zero in every bin, but the ECE measured on n real decisions is not: it
is a sum of absolute gaps, each with sampling noise. So the *estimated* ECE (`expected_ece`) is
the ECE a perfectly calibrated model is expected to show on these leads from sampling alone: the
floor the realised ECE is judged against. A realised ECE far above it means the model's
probabilities are off; one near it means the gap is noise. Bins are those of
`training.metrics.expected_calibration_error` (10 equal-width bins of the probability); within a
bin the count of accepted leads is taken as binomial with the bin's mean probability (its variance
a little above the exact Poisson-binomial's, within bins 0.1 wide), and E|accepted - expected| is
summed exactly from the binomial's probabilities.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import binom
from sklearn.metrics import auc

BINS = 10


def ece_bins(p: np.ndarray, bins: int = BINS) -> np.ndarray:
    """Each probability's bin, as `training.metrics.expected_calibration_error` bins them."""
    edges = np.linspace(0, 1, bins + 1)
    return np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)


def expected_roc_auc(probability) -> float:
    """NannyML's `estimate_roc_auc` with the calibrated probability as both its inputs: the ROC
    curve of the expected true and false positives down the ranking (NaN without both classes)."""
    p = np.asarray(probability, dtype=float)
    p = p[np.argsort(p)[::-1]]
    with np.errstate(divide="ignore", invalid="ignore"):
        tps = np.cumsum(p)
        fps = 1 + np.arange(len(p)) - tps
        tps, fps = np.round(np.r_[0, tps], 5), np.round(np.r_[0, fps], 5)
        if len(p) == 0 or tps[-1] <= 0 or fps[-1] <= 0:
            return float("nan")
        return float(auc(fps / fps[-1], tps / tps[-1]))


def expected_precision(probability, is_mql) -> float:
    """NannyML's `estimate_precision`: expected accepted among the MQLs over the MQLs (NaN for none)."""
    p, mql = np.asarray(probability, dtype=float), np.asarray(is_mql, dtype=bool)
    return float(p[mql].mean()) if mql.any() else float("nan")


def expected_ece(probability, bins: int = BINS) -> float:
    """The ECE a calibrated model is expected to show on these leads from sampling alone (see the
    module): sum over bins of E|accepted - n * mean probability|, over the number of leads."""
    p = np.asarray(probability, dtype=float)
    if len(p) == 0:
        return float("nan")
    which, total = ece_bins(p, bins), 0.0
    for b in np.unique(which):
        in_bin = p[which == b]
        n, mean = len(in_bin), float(in_bin.mean())
        k = np.arange(n + 1)
        total += float(np.sum(binom.pmf(k, n, mean) * np.abs(k - n * mean)))
    return total / len(p)


def cbpe(probabilities, is_mql) -> dict:
    """The expected figures of calibrated `probabilities` (NaN ones left out) and the model's MQL
    flags: `n`, `roc_auc`, `acceptance` (mean probability), `mql_count`, `mql_acceptance`
    (expected acceptance of the model's MQLs) and `ece` (the sampling floor, `expected_ece`)."""
    p, mql = np.asarray(probabilities, dtype=float), np.asarray(is_mql, dtype=bool)
    known = ~np.isnan(p)
    p, mql = p[known], mql[known]
    return {
        "n": len(p),
        "roc_auc": expected_roc_auc(p),
        "acceptance": float(p.mean()) if len(p) else float("nan"),
        "mql_count": int(mql.sum()),
        "mql_acceptance": expected_precision(p, mql),
        "ece": expected_ece(p),
    }


def realised(probabilities, is_mql, accepted) -> dict:
    """The same figures as `cbpe` from decided leads (`accepted` 1/0; NaN ones, still open, left
    out), to set beside the estimate once decisions arrive."""
    from sklearn.metrics import roc_auc_score

    from training.metrics import expected_calibration_error

    p, mql, y = (np.asarray(x, dtype=float) for x in (probabilities, is_mql, accepted))
    known = ~np.isnan(p) & ~np.isnan(y)
    p, mql, y = p[known], mql[known].astype(bool), y[known]
    both = len(np.unique(y)) == 2
    return {
        "n": len(p),
        "roc_auc": float(roc_auc_score(y, p)) if both else float("nan"),
        "acceptance": float(y.mean()) if len(y) else float("nan"),
        "mql_count": int(mql.sum()),
        "mql_acceptance": float(y[mql].mean()) if mql.any() else float("nan"),
        "ece": expected_calibration_error(y, p) if len(y) else float("nan"),
    }
