"""The calibration maps on a small fitted booster: the request path's numpy map, the fit beside
scikit-learn's `CalibratedClassifierCV`, and calibrators of models registered by 0.1.0."""

from __future__ import annotations

import numpy as np
import pytest


def _booster_and_rows():
    import lightgbm as lgb

    rng = np.random.default_rng(3)
    X = rng.normal(size=(2_000, 4))
    y = (X[:, 0] + rng.normal(size=2_000) > 0.5).astype(int)
    booster = lgb.LGBMClassifier(n_estimators=30, verbose=-1, random_state=0).fit(X[:1_000], y[:1_000])
    return booster, X, y


@pytest.mark.parametrize("method", ["isotonic", "sigmoid", "none"])
def test_the_request_path_map_equals_sklearn_predict(method):
    """The service maps the log-odds that `pred_contrib` rows sum to with numpy on the fitted
    estimator's public attributes; it must give what scikit-learn's own predict gives."""
    from training.calibration import fit_calibrator
    from training.model import MarginMap

    booster, X, y = _booster_and_rows()
    margin = booster.booster_.predict(X, raw_score=True)
    calibrator = fit_calibrator(method, margin[1_000:], y[1_000:])
    wide = np.concatenate([margin, [-50.0, 50.0]])  # beyond the fitted range too
    np.testing.assert_allclose(MarginMap.of(calibrator)(wide), calibrator.predict(wide), rtol=0, atol=1e-12)


@pytest.mark.parametrize("method", ["isotonic", "sigmoid", "none"])
def test_margin_calibration_matches_calibrated_classifier_cv(method):
    """The same kind of fit as `CalibratedClassifierCV` on the frozen booster: isotonic exactly,
    Platt scaling by logistic regression within a small difference (sklearn's Platt shrinks the
    0/1 targets a little), the booster's own probability for "none"."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.frozen import FrozenEstimator

    from training.calibration import fit_calibrator

    booster, X, y = _booster_and_rows()
    margin = booster.booster_.predict(X, raw_score=True)
    ours = fit_calibrator(method, margin[1_000:], y[1_000:]).predict(margin)
    if method == "none":
        reference = booster.predict_proba(X)[:, 1]
    else:
        reference = CalibratedClassifierCV(FrozenEstimator(booster), method=method).fit(X[1_000:], y[1_000:])
        reference = reference.predict_proba(X)[:, 1]
    tolerance = {"isotonic": 1e-12, "sigmoid": 5e-3, "none": 1e-12}[method]  # measured: 2.2e-3 for sigmoid
    np.testing.assert_allclose(ours, reference, rtol=0, atol=tolerance)


@pytest.mark.parametrize("method", ["isotonic", "sigmoid", "none"])
def test_a_0_1_0_calibrator_converts_to_the_same_probabilities(method):
    """Models registered by leadscore 0.1.0 hold `CalibratedClassifierCV` objects (a bare
    `FrozenEstimator` for "none"); converted, they score exactly as before."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.frozen import FrozenEstimator

    from training.model import MarginMap, calibrator_from_0_1_0

    booster, X, y = _booster_and_rows()
    old = FrozenEstimator(booster)
    if method != "none":
        old = CalibratedClassifierCV(old, method=method).fit(X[1_000:], y[1_000:])
    converted = calibrator_from_0_1_0(old)
    margin = booster.booster_.predict(X, raw_score=True)
    assert converted.method == method
    np.testing.assert_allclose(MarginMap.of(converted)(margin), old.predict_proba(X)[:, 1], rtol=0, atol=1e-12)
    np.testing.assert_allclose(converted.predict(margin), old.predict_proba(X)[:, 1], rtol=0, atol=1e-12)
