"""Optional hyper-parameter search (Optuna): LightGBM parameters by log-loss on the calibration
period, with early stopping; the chosen ones are logged with the run."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
from sklearn.metrics import log_loss

from features.build import categorical_features
from training.fit import Period, learn_categories
from training.model import category_lookups, monotone_constraints, to_matrix
from training.settings import TrainingConfig


def search_params(
    train: Period, calibrate: Period, names: list[str], config: TrainingConfig, rules, feature_config, contract
) -> dict:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    categorical = [c for c in categorical_features(contract) if c in names]
    lookups = category_lookups(learn_categories(train.features, categorical))
    X_train, X_cal = to_matrix(train.features, names, lookups), to_matrix(calibrate.features, names, lookups)
    settings = config.model
    constraints = monotone_constraints(names, settings.monotone_increasing, settings.monotone_decreasing)

    def objective(trial) -> float:
        params = {
            "learning_rate": trial.suggest_float("learning_rate", 0.02, 0.2, log=True),
            "num_leaves": trial.suggest_int("num_leaves", 8, 128, log=True),
            "min_child_samples": trial.suggest_int("min_child_samples", 10, 200, log=True),
            "feature_fraction": trial.suggest_float("feature_fraction", 0.5, 1.0),
            "lambda_l2": trial.suggest_float("lambda_l2", 1e-3, 30, log=True),
            "bagging_fraction": 0.8,
            "bagging_freq": 1,
            "cat_smooth": 20,
            "min_data_per_group": 50,
        }
        model = lgb.LGBMClassifier(
            **params,
            n_estimators=settings.max_rounds,
            random_state=settings.random_state,
            monotone_constraints=constraints,
            monotone_constraints_method="intermediate",
            verbose=-1,
            n_jobs=2,
        )
        model.fit(
            X_train,
            train.y,
            sample_weight=train.w,
            eval_X=(X_cal,),
            eval_y=(calibrate.y,),
            eval_sample_weight=[calibrate.w],
            categorical_feature=[names.index(c) for c in categorical],
            callbacks=[lgb.early_stopping(settings.early_stopping_rounds, verbose=False)],
        )
        return log_loss(calibrate.y, np.clip(model.predict_proba(X_cal)[:, 1], 1e-6, 1 - 1e-6))

    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=settings.random_state))
    study.optimize(objective, n_trials=settings.search_trials)
    return {**study.best_params, "bagging_fraction": 0.8, "bagging_freq": 1, "cat_smooth": 20, "min_data_per_group": 50}
