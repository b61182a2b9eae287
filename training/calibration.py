"""Calibration on the calibration period: isotonic, sigmoid or none, whichever has the lowest
cross-validated log-loss, per segment when a segment has enough data, else for all leads.
"none" keeps the booster's own probabilities when recalibrating would only add noise.

Each map is a public scikit-learn estimator fitted on the booster's raw log-odds (its margin) as
the one feature: `IsotonicRegression(out_of_bounds="clip")` for "isotonic" (what
`CalibratedClassifierCV(method="isotonic")` fits on a LightGBM classifier's margin), Platt scaling
by an unpenalised `LogisticRegression` for "sigmoid". Calibration is unweighted: "0.30" must mean
30 of 100 such leads accepted, whatever weight the label policy gave each decision."""

from __future__ import annotations

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.model_selection import StratifiedKFold

from training.model import ALL, MarginCalibrator
from training.settings import CalibrationConfig


def fit_calibrator(method: str, margin: np.ndarray, y: np.ndarray) -> MarginCalibrator:
    """`method` ("isotonic", "sigmoid" or "none") fitted on raw log-odds and outcomes (0/1)."""
    margin = np.asarray(margin, dtype=float)
    if method == "isotonic":
        return MarginCalibrator(method, IsotonicRegression(out_of_bounds="clip").fit(margin, y))
    if method == "sigmoid":
        return MarginCalibrator(method, LogisticRegression(C=np.inf).fit(margin.reshape(-1, 1), y))
    if method == "none":
        return MarginCalibrator(method)
    raise ValueError(f"unknown calibration method {method!r}")


def cross_validated_losses(margin: np.ndarray, y: np.ndarray, config: CalibrationConfig, seed: int) -> dict:
    """Each method's mean log-loss on held-out folds (stratified, shuffled with `seed`)."""
    folds = list(StratifiedKFold(n_splits=config.folds, shuffle=True, random_state=seed).split(margin, y))
    losses = {}
    for method in config.methods:
        per_fold = [
            log_loss(y[held], fit_calibrator(method, margin[fit], y[fit]).predict(margin[held]), labels=[0, 1])
            for fit, held in folds
        ]
        losses[method] = float(np.mean(per_fold))
    return losses


def _fit_one(margin: np.ndarray, y: np.ndarray, config: CalibrationConfig, seed: int):
    losses = cross_validated_losses(margin, y, config, seed)
    best = min(losses, key=losses.get)
    return fit_calibrator(best, margin, y), best, losses


def fit_calibrators(
    margin: np.ndarray, y: np.ndarray, segments: np.ndarray, config: CalibrationConfig, seed: int = 0
) -> tuple[dict[str, MarginCalibrator], dict[str, str], dict[str, dict[str, float]]]:
    """From the booster's raw log-odds on the calibration period: the fitted calibrator by segment
    (ALL for every lead; a segment gets its own with enough rows, positives and negatives), the
    method each uses, and each one's cross-validated log-loss by method."""
    margin = np.asarray(margin, dtype=float)
    calibrators, methods, losses = {}, {}, {}
    calibrators[ALL], methods[ALL], losses[ALL] = _fit_one(margin, y, config, seed)
    if config.per_segment:
        segments = np.asarray(segments).astype(str)
        for segment in sorted(set(segments)):
            rows = segments == segment
            if rows.sum() < config.min_segment_rows or y[rows].sum() < config.min_segment_positives:
                continue
            if (1 - y[rows]).sum() < config.min_segment_positives:
                continue
            calibrators[segment], methods[segment], losses[segment] = _fit_one(margin[rows], y[rows], config, seed)
    return calibrators, methods, losses
