"""Optional hyper-parameter search (Optuna): LightGBM parameters by log-loss on the calibration
period, with early stopping; the chosen ones are logged with the run."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import log_loss

from features.spec import FeatureSpec
from training.fit import Period, encode_periods, fit_booster
from training.settings import TrainingConfig


def search_params(
    train: Period, calibrate: Period, names: list[str], config: TrainingConfig, rules, feature_config, contract
) -> dict:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    spec = FeatureSpec(feature_config, contract)
    categories, X_train, X_cal = encode_periods(train, (train, calibrate), names, spec)
    fixed = {"bagging_fraction": 0.8, "bagging_freq": 1, "cat_smooth": 20, "min_data_per_group": 50}

    def objective(trial) -> float:
        params = {
            "learning_rate": trial.suggest_float("learning_rate", 0.02, 0.2, log=True),
            "num_leaves": trial.suggest_int("num_leaves", 8, 128, log=True),
            "min_child_samples": trial.suggest_int("min_child_samples", 10, 200, log=True),
            "feature_fraction": trial.suggest_float("feature_fraction", 0.5, 1.0),
            "lambda_l2": trial.suggest_float("lambda_l2", 1e-3, 30, log=True),
            **fixed,
        }
        model = fit_booster(X_train, X_cal, train, calibrate, names, categories, config, spec, params)
        return log_loss(calibrate.y, np.clip(model.predict_proba(X_cal)[:, 1], 1e-6, 1 - 1e-6))

    seed = config.model.random_state
    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.optimize(objective, n_trials=config.model.search_trials)
    return {**study.best_params, **fixed}
