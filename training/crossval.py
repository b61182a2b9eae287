"""Cross-validation for history without a timeline (a flat export): K folds x seeds, grouped by
account and stratified by outcome. In each fold the model is fitted and calibrated on the other
folds only, as `leadscore train` fits the model it serves for a flat snapshot (cross-fitting,
`training/crossfit.py`), and scored on the fold it never saw; the rule score is calibrated on the
same rows (its points are not fitted, so no fold is held out for it), so both are compared on
equal terms."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.isotonic import IsotonicRegression
from sklearn.metrics import log_loss
from sklearn.model_selection import StratifiedGroupKFold

from features.build import build_features, feature_names
from features.contract import folder_config, load_dataset
from features.rules import RuleConfig, rule_score
from features.settings import FeatureConfig
from training.crossfit import crossfit
from training.fit import Period
from training.labels import label_outcomes
from training.metrics import score_metrics
from training.settings import TrainingConfig

METRICS = ("roc_auc", "pr_auc", "log_loss", "brier", "ece")


def cross_validate(
    data: Path,
    config: TrainingConfig,
    feature_config: FeatureConfig,
    rules: RuleConfig,
    seeds=(0, 1, 2),
    folds: int = 5,
    drop: tuple[str, ...] = (),
    progress: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """One row per (seed, fold): model, uncalibrated model and rule-score metrics on the held-out fold."""
    contract = folder_config(data)
    dataset = load_dataset(data, contract)
    rows = label_outcomes(dataset.outcomes, config.labels).merge(dataset.leads, on="lead_id").reset_index(drop=True)
    features = build_features(rows, dataset.events, "mql_at", feature_config, contract, population=dataset.leads)
    names = [n for n in feature_names(feature_config, contract) if n not in drop]
    y, w = rows["label"].to_numpy(), rows["weight"].to_numpy()
    groups = rows["account_id"].to_numpy()
    records = []
    total, done = len(seeds) * folds, 0
    for seed in seeds:
        outer = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
        for fold, (fit_rows, held) in enumerate(outer.split(features, y, groups)):
            fitted = Period(features.iloc[fit_rows], y[fit_rows], w[fit_rows])
            model = crossfit(fitted, groups[fit_rows], names, config, rules, feature_config, contract)
            test = features.iloc[held]
            p = model.probability(test)
            raw = np.clip(model.raw(model.matrix(test)), 1e-6, 1 - 1e-6)
            rules_fit, rules_test = rule_score(fitted.features, rules), rule_score(test, rules)
            iso = IsotonicRegression(out_of_bounds="clip", y_min=1e-4, y_max=1 - 1e-4)
            rule_p = iso.fit(rules_fit.score, fitted.y).predict(rules_test.score)
            record = {"seed": seed, "fold": fold, "rows": len(held)}
            record.update({f"model_{k}": v for k, v in score_metrics(y[held], p, p).items() if k in METRICS})
            record.update(
                {f"rule_{k}": v for k, v in score_metrics(y[held], rules_test.score, rule_p).items() if k in METRICS}
            )
            record["uncalibrated_log_loss"] = log_loss(y[held], raw, labels=[0, 1])
            records.append(record)
            done += 1
            if progress:
                progress(done, total)
    return pd.DataFrame(records)


def summary(folds: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard deviation over folds, model and rule score side by side."""
    rows = []
    for metric in METRICS:
        rows.append(
            {
                "metric": metric,
                "model_mean": folds[f"model_{metric}"].mean(),
                "model_std": folds[f"model_{metric}"].std(),
                "rule_mean": folds[f"rule_{metric}"].mean(),
                "rule_std": folds[f"rule_{metric}"].std(),
            }
        )
    return pd.DataFrame(rows)
