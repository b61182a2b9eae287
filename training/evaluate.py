"""The test-period evaluation of a `LeadModel` against the rule score, and the reasons report."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.isotonic import IsotonicRegression

from features.rules import rule_score
from training.fit import Period
from training.metrics import by_group, compare
from training.model import LeadModel
from training.plots import evaluation_plots, reasons_plot


@dataclass
class Evaluation:
    metrics: dict[str, float]
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    plots: list[Path] = field(default_factory=list)
    probability: np.ndarray | None = None


def evaluate(model: LeadModel, calibrate: Period, test: Period, outcomes: pd.DataFrame, out: Path) -> Evaluation:
    """Model vs rule score on the test period, overall, by segment and by source, with plots.

    The rule score is not a probability; for log-loss, Brier and ECE it is mapped to one by an
    isotonic fit on the calibration period, the same data the model's calibration saw.
    """
    probability = model.probability(test.features)
    rules_test = rule_score(test.features, model.rules)
    rules_cal = rule_score(calibrate.features, model.rules)
    iso = IsotonicRegression(out_of_bounds="clip", y_min=1e-4, y_max=1 - 1e-4)
    rule_probability = iso.fit(rules_cal.score, calibrate.y).predict(rules_test.score)
    score, mql = rules_test.score, rules_test.is_mql
    metrics = compare(test.y, probability, score, rule_probability, mql)
    threshold = model.threshold(test.features["segment"].to_numpy())
    metrics["model_mql_share"] = float((probability >= threshold).mean())
    metrics["model_mql_acceptance"] = (
        float(test.y[probability >= threshold].mean()) if (probability >= threshold).any() else np.nan
    )
    metrics["rule_mql_share"] = float(mql.mean())
    tables = {
        "by_segment": by_group(test.features["segment"], test.y, probability, score, rule_probability, mql),
        "by_source": by_group(test.features["source"], test.y, probability, score, rule_probability, mql),
        "calibration_by_segment": _calibration_by(test.features["segment"], test.y, probability),
        "reasons_by_month": reasons_by_period(outcomes, "M"),
        "reasons_by_segment": _reasons_by(outcomes, "segment"),
        "reasons_by_source": _reasons_by(outcomes, "source"),
    }
    importance = pd.Series(model.booster.feature_importance("gain"), index=model.feature_names)
    plots = evaluation_plots(out, test.y, probability, score, rule_probability, importance)
    plots.append(reasons_plot(tables["reasons_by_month"], out / "rejection_reasons.png"))
    return Evaluation(metrics=metrics, tables=tables, plots=plots, probability=probability)


def _calibration_by(groups: pd.Series, y: np.ndarray, probability: np.ndarray) -> pd.DataFrame:
    """Where the model over- or under-scores: mean probability vs observed acceptance per group."""
    frame = pd.DataFrame({"group": groups.to_numpy(), "predicted": probability, "accepted": y})
    out = frame.groupby("group").agg(
        rows=("accepted", "size"), predicted=("predicted", "mean"), accepted=("accepted", "mean")
    )
    out["gap"] = out["predicted"] - out["accepted"]
    return out.reset_index()


def reasons_by_period(outcomes: pd.DataFrame, freq: str = "M") -> pd.DataFrame:
    """Share of each rejection reason among decided hand-overs, per period (rows) and reason."""
    decided = outcomes[outcomes["decision"].isin(["rejected", "recycled"]) & outcomes["reason"].notna()]
    if decided.empty:
        return pd.DataFrame()
    period = decided["mql_at"].dt.tz_convert(None).dt.to_period(freq).astype(str)
    counts = pd.crosstab(period, decided["reason"])
    return counts.div(counts.sum(axis=1), axis=0).round(4)


def _reasons_by(outcomes: pd.DataFrame, column: str) -> pd.DataFrame:
    if column not in outcomes.columns:
        return pd.DataFrame()
    decided = outcomes[outcomes["decision"].isin(["rejected", "recycled"]) & outcomes["reason"].notna()]
    if decided.empty:
        return pd.DataFrame()
    counts = pd.crosstab(decided[column].fillna("unknown"), decided["reason"])
    return counts.div(counts.sum(axis=1), axis=0).round(4)
