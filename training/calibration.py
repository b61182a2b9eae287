"""Calibration on the calibration period: isotonic, sigmoid or none, whichever has the lowest
cross-validated log-loss, per segment when a segment has enough data, else for all leads.
"none" keeps the booster's own probabilities when recalibrating would only add noise."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import StratifiedKFold, cross_val_score

from training.model import ALL
from training.settings import CalibrationConfig


def _fit_one(classifier, X, y: np.ndarray, w: np.ndarray, config: CalibrationConfig, seed: int):
    folds = StratifiedKFold(n_splits=config.folds, shuffle=True, random_state=seed)
    losses = {}
    with warnings.catch_warnings():
        # the frozen booster takes no weights; they are meant for the calibrator, which uses them
        warnings.filterwarnings("ignore", message="Since FrozenEstimator does not appear to accept sample_weight")
        for method in config.methods:
            candidate = _calibrator(classifier, method)
            scores = cross_val_score(candidate, X, y, cv=folds, scoring="neg_log_loss", params={"sample_weight": w})
            losses[method] = -float(np.mean(scores))
        best = min(losses, key=losses.get)
        fitted = _calibrator(classifier, best).fit(X, y, sample_weight=w)
    return fitted, best, losses


def _calibrator(classifier, method: str):
    if method == "none":
        return FrozenEstimator(classifier)  # the booster's probabilities as they are
    return CalibratedClassifierCV(FrozenEstimator(classifier), method=method)


def fit_calibrators(
    classifier,
    X: pd.DataFrame,
    y: np.ndarray,
    w: np.ndarray,
    segments: np.ndarray,
    config: CalibrationConfig,
    seed: int = 0,
) -> tuple[dict, dict, dict]:
    """Fitted `CalibratedClassifierCV` by segment (ALL for every lead), the method each uses, and
    each one's cross-validated log-loss."""
    calibrators, methods, losses = {}, {}, {}
    calibrators[ALL], methods[ALL], losses[ALL] = _fit_one(classifier, X, y, w, config, seed)
    if config.per_segment:
        for segment in sorted(set(segments.astype(str))):
            rows = segments.astype(str) == segment
            if rows.sum() < config.min_segment_rows or y[rows].sum() < config.min_segment_positives:
                continue
            if (1 - y[rows]).sum() < config.min_segment_positives:
                continue
            fitted = _fit_one(classifier, X[rows], y[rows], w[rows], config, seed)
            calibrators[segment], methods[segment], losses[segment] = fitted
    return calibrators, methods, losses
