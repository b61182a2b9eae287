"""Cross-fitting: a model fitted on every row it is given and calibrated on out-of-fold log-odds.

Without hand-over times (a flat snapshot) there is no "newest" window to calibrate on, and
holding a fifth of a small export out of the booster costs ranking. Cross-fitting uses every row
twice, never both times for the same thing: K boosters, each fitted on K-1 folds (grouped by
account, stratified by outcome) and early-stopped on the fold it leaves out, give every row a
margin from a booster that never saw it; the calibrators, intervals and thresholds are fitted on
those out-of-fold margins; the model's own booster is then fitted on all rows. The number of
rounds is found once, by early stopping inside the first fold's training rows, and scaled to each
fit's rows, so that no fold's margins come from a booster stopped on that fold.
This is what scikit-learn's `CalibratedClassifierCV(ensemble=False)` does, on LightGBM with
leadscore's calibration.
"""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold

from core.errors import LeadscoreError
from features.contract import ContractConfig
from features.rules import RuleConfig
from features.settings import FeatureConfig
from features.spec import FeatureSpec
from training.fit import Period, best_rounds, calibrated_model, encode_periods, fit_booster
from training.model import LeadModel
from training.settings import TrainingConfig


def crossfit(
    period: Period,
    groups: np.ndarray,
    names: list[str],
    config: TrainingConfig,
    rules: RuleConfig,
    feature_config: FeatureConfig,
    contract: ContractConfig,
    params: dict | None = None,
    folds: int = 5,
) -> LeadModel:
    """The model fitted on every row of `period`, calibrated on out-of-fold margins (module doc);
    `groups` (the account of each row) keeps an account's rows in one fold."""
    spec = FeatureSpec(feature_config, contract)
    categories, X = encode_periods(period, (period,), names, spec)
    y, w = period.y, period.w
    accounts = len(np.unique(groups))
    if accounts < folds:
        raise LeadscoreError(f"training: {accounts} account(s); at least {folds} are needed to cross-fit a model")
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=config.model.random_state)
    splits = list(splitter.split(X, y, groups))
    part = lambda rows: Period(period.features.iloc[rows], y[rows], w[rows])  # noqa: E731
    # the rounds: early stopping on rows of the first fold's training part, never on a held fold
    outer = splits[0][0]
    a, b = next(splitter.split(X[outer], y[outer], groups[outer]))
    first, stop = outer[a], outer[b]
    probe = fit_booster(X[first], X[stop], part(first), part(stop), names, categories, config, spec, params).booster_
    best = best_rounds(probe)
    margin = np.empty(len(y))
    for fit_rows, held in splits:
        rounds = max(1, round(best * len(fit_rows) / len(first)))
        fitted = fit_booster(
            X[fit_rows], X[held], part(fit_rows), part(held), names, categories, config, spec, params, rounds=rounds
        ).booster_
        margin[held] = fitted.predict(X[held], raw_score=True)
    total = max(1, round(best * len(y) / len(first)))
    final = fit_booster(X, X, period, period, names, categories, config, spec, params, rounds=total).booster_
    return calibrated_model(final, names, categories, margin, period, config, rules, spec)
