"""Fit a `LeadModel`: LightGBM on the training period with early stopping on the calibration
period, calibrators and thresholds on the calibration period."""

from __future__ import annotations

from dataclasses import dataclass

import lightgbm as lgb
import numpy as np
import pandas as pd

from features.contract import ContractConfig
from features.rules import RuleConfig, rule_score
from features.settings import FeatureConfig
from features.spec import FeatureSpec
from features.transformer import learn_categories
from training.calibration import fit_calibrators
from training.encode import category_lookups, to_matrix
from training.interval import fit_intervals
from training.model import LeadModel
from training.settings import TrainingConfig
from training.thresholds import choose_thresholds


@dataclass
class Period:
    """Feature rows of one part of the split, with labels and weights."""

    features: pd.DataFrame
    y: np.ndarray
    w: np.ndarray


def encode_periods(learn_from: Period, parts: tuple[Period, ...], names: list[str], spec: FeatureSpec):
    """Categories learnt on `learn_from` (the training rows), and each of `parts` as a booster matrix."""
    categorical = [c for c in spec.of_kind("category") if c in names]
    categories = learn_categories(learn_from.features, categorical)
    lookups = category_lookups(categories)
    matrices = (to_matrix(part.features, names, lookups, spec.days) for part in parts)
    return categories, *matrices


def best_rounds(booster: lgb.Booster) -> int:
    """The rounds a booster scores with: early stopping's best, else every round it was fitted."""
    return booster.best_iteration or booster.current_iteration()


def fit_booster(
    X_train: np.ndarray,
    X_cal: np.ndarray,
    train: Period,
    calibrate: Period,
    names: list[str],
    categories: dict[str, list[str]],
    config: TrainingConfig,
    spec: FeatureSpec,
    params: dict | None = None,
    rounds: int | None = None,
):
    """LightGBM on the training period, early-stopped on the calibration period, with the monotone
    constraints of the feature spec (or the training config's, checked against the spec); with
    `rounds`, exactly that many rounds and no early stopping (a refit whose rounds are known)."""
    settings = config.model
    classifier = lgb.LGBMClassifier(
        **(params or settings.params),
        n_estimators=rounds or settings.max_rounds,
        random_state=settings.random_state,
        monotone_constraints=spec.monotone(names, settings.monotone_increasing, settings.monotone_decreasing),
        monotone_constraints_method="intermediate",
        verbose=-1,
        n_jobs=2,
    )
    categorical = [names.index(c) for c in categories]
    if rounds:
        return classifier.fit(X_train, train.y, sample_weight=train.w, categorical_feature=categorical)
    return classifier.fit(
        X_train,
        train.y,
        sample_weight=train.w,
        eval_X=(X_cal,),
        eval_y=(calibrate.y,),
        eval_sample_weight=[calibrate.w],
        categorical_feature=categorical,
        callbacks=[lgb.early_stopping(settings.early_stopping_rounds, verbose=False)],
    )


def fit_model(
    train: Period,
    calibrate: Period,
    names: list[str],
    config: TrainingConfig,
    rules: RuleConfig,
    feature_config: FeatureConfig,
    contract: ContractConfig,
    params: dict | None = None,
    rounds: int | None = None,
) -> LeadModel:
    """LightGBM on `train` (early-stopped on `calibrate`, or exactly `rounds` rounds), its
    calibrators and MQL thresholds fitted on `calibrate`."""
    spec = FeatureSpec(feature_config, contract)
    categories, X_train, X_cal = encode_periods(train, (train, calibrate), names, spec)
    classifier = fit_booster(X_train, X_cal, train, calibrate, names, categories, config, spec, params, rounds)
    margin = classifier.booster_.predict(X_cal, raw_score=True)
    return calibrated_model(classifier.booster_, names, categories, margin, calibrate, config, rules, spec)


def calibrated_model(
    booster: lgb.Booster,
    names: list[str],
    categories: dict[str, list[str]],
    margin: np.ndarray,
    calibrate: Period,
    config: TrainingConfig,
    rules: RuleConfig,
    spec: FeatureSpec,
) -> LeadModel:
    """The `LeadModel` of a fitted booster: calibrators, intervals and MQL thresholds fitted on the
    booster's raw log-odds `margin` for the rows of `calibrate` (held out from the booster)."""
    segments = calibrate.features["segment"].to_numpy()
    # calibration is unweighted: "0.30" must mean 30 of 100 such leads accepted, whatever weight
    # the label policy gave each decision for learning the ranking; it maps the booster's raw
    # log-odds, which the model computes (or sums from contributions) when it scores
    calibrators, methods, _ = fit_calibrators(
        margin, calibrate.y, segments, config.calibration, config.model.random_state
    )
    model = LeadModel(
        booster=booster,
        feature_names=names,
        categories=categories,
        calibrators=calibrators,
        calibration_methods=methods,
        thresholds={},
        grades=config.grades,
        rules=rules,
        feature_config=spec.config,
        contract=spec.contract,
    )
    model.intervals = fit_intervals(margin, calibrate.y, segments, calibrators)  # the answer's interval
    probability = model.calibrate(margin, segments)
    rule_mql = rule_score(calibrate.features, rules).is_mql
    model.thresholds = choose_thresholds(
        probability, calibrate.y, segments, calibrate.features["as_of"], rule_mql, config.thresholds
    )
    return model
