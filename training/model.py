"""`LeadModel`: everything between a feature row and a calibrated, thresholded answer.

It owns the fitted category vocabulary, the LightGBM booster, one calibrator per segment (and one
for all), the per-segment MQL thresholds, grades and the rule score, so that training, batch
scoring and the service run exactly the same steps. Feature rows come from `features/`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import lightgbm as lgb
import numpy as np
import pandas as pd

from core.schema import ANSWER, names
from features.contract import ContractConfig
from features.rules import RuleConfig, rule_score
from features.settings import FeatureConfig
from training.encode import category_lookups, to_matrix

ALL = "__all__"


@dataclass(frozen=True)
class Answers:
    """What the model says about a batch of feature rows, as arrays (contributions: per feature,
    the expected value last, when asked for)."""

    probability: np.ndarray
    threshold: np.ndarray
    grade: np.ndarray
    contributions: np.ndarray | None = None


@dataclass
class LeadModel:
    booster: lgb.Booster
    feature_names: list[str]
    categories: dict[str, list[str]]
    calibrators: dict[str, object]  # segment (or ALL) -> fitted CalibratedClassifierCV on the booster
    calibration_methods: dict[str, str]
    thresholds: dict[str, float]  # segment (or ALL) -> probability threshold for "model MQL"
    grades: dict[str, float]
    rules: RuleConfig
    feature_config: FeatureConfig
    contract: ContractConfig
    version: str = "unregistered"
    lookups: dict[str, dict[str, int]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.lookups = category_lookups(self.categories)

    def matrix(self, features) -> np.ndarray:
        """The booster's input (see `to_matrix`)."""
        return to_matrix(features, self.feature_names, self.lookups)

    def raw(self, matrix: np.ndarray) -> np.ndarray:
        """Uncalibrated probabilities."""
        return self.booster.predict(matrix)

    def margin(self, matrix: np.ndarray, threads: int | None = None) -> np.ndarray:
        """The booster's raw log-odds (on `threads` threads; default: LightGBM's own choice)."""
        return self.booster.predict(matrix, raw_score=True, **_threads(threads))

    def calibrated(self, matrix: np.ndarray, segments: np.ndarray) -> np.ndarray:
        """Calibrated probabilities for booster rows, each by its segment's calibrator."""
        return self.calibrate(self.margin(matrix), segments)

    def calibrate(self, margin: np.ndarray, segments: np.ndarray) -> np.ndarray:
        """Calibrated probabilities from the booster's raw log-odds (which `pred_contrib` rows
        also sum to), each by its segment's calibrator."""
        segments = np.asarray(segments).astype(str)
        out = np.empty(len(margin))
        for segment in np.unique(segments):
            rows = segments == segment
            out[rows] = self._maps.get(segment, self._maps[ALL])(margin[rows])
        return np.clip(out, 1e-6, 1 - 1e-6)

    @cached_property
    def _maps(self) -> dict[str, MarginMap]:
        return {segment: MarginMap.of(calibrator) for segment, calibrator in self.calibrators.items()}

    def probability(self, features) -> np.ndarray:
        """Calibrated P(sales accepts) for each feature row (`answers` without thresholds and grades,
        which need a fitted model: training calls this before it has chosen its thresholds)."""
        return self.calibrated(self.matrix(features), np.asarray(features["segment"]))

    def answers(self, features, contributions: bool = False, threads: int | None = None) -> Answers:
        """The model's arrays for feature rows, computed once: every scoring path (the service,
        batch and Spark scoring, the report) adapts these. With `contributions`, one booster pass
        (`pred_contrib`, whose rows sum to the raw log-odds) serves both the score and the reasons."""
        matrix = self.matrix(features)
        segments = np.asarray(features["segment"], dtype=object)
        contrib = self.contributions(matrix, threads) if contributions else None
        margin = contrib.sum(axis=1) if contrib is not None else self.margin(matrix, threads)
        probability = self.calibrate(margin, segments)
        return Answers(probability, self.threshold(segments), self.grade(probability), contrib)

    def threshold(self, segments: np.ndarray) -> np.ndarray:
        return np.array([self.thresholds.get(str(s), self.thresholds[ALL]) for s in segments], dtype=float)

    def grade(self, probability: np.ndarray) -> np.ndarray:
        ordered = sorted(self.grades.items(), key=lambda kv: -kv[1])
        out = np.full(len(probability), "D", dtype=object)
        for name, minimum in reversed(ordered):
            out[probability >= minimum] = name
        return out

    def predict(self, features: pd.DataFrame, rules: RuleConfig | None = None) -> pd.DataFrame:
        """The full answer per feature row (`core.schema.ANSWER`): model and rules (this model's,
        or `rules`) side by side."""
        return self.frame(features, self.answers(features), rules)

    def frame(self, features: pd.DataFrame, answers: Answers, rules: RuleConfig | None = None) -> pd.DataFrame:
        """`answers` of `features` as the answer table, with the rule score beside them."""
        scored = rule_score(features, rules or self.rules)
        values = {
            "lead_id": features["lead_id"].to_numpy(),
            "probability": answers.probability,
            "score": np.rint(answers.probability * 100).astype(int),
            "grade": answers.grade,
            "is_mql": answers.probability >= answers.threshold,
            "threshold": answers.threshold,
            "rule_score": scored.score,
            "rule_is_mql": scored.is_mql,
            "rule_threshold": scored.threshold,
            "segment": features["segment"].to_numpy(),
            "model_version": self.version,
        }
        return pd.DataFrame({name: values[name] for name in names(ANSWER)}, index=features.index)

    def contributions(self, matrix: np.ndarray, threads: int | None = None) -> np.ndarray:
        """LightGBM's SHAP contributions per feature (last column: the expected value)."""
        return self.booster.predict(matrix, pred_contrib=True, **_threads(threads))


def _threads(threads: int | None) -> dict:
    return {"num_threads": threads} if threads else {}


@dataclass(frozen=True)
class MarginMap:
    """A fitted `CalibratedClassifierCV` on a frozen booster as a map from the booster's raw
    log-odds to its calibrated probability: the mean of its fitted isotonic (`np.interp` on the
    fitted thresholds, clipped like sklearn's) or sigmoid maps, or the booster's own probability
    for "none". One booster pass instead of two, and no per-call input checks on the request
    path (they cost more than the map itself for one lead); any other calibrator is called as is."""

    parts: tuple

    @classmethod
    def of(cls, calibrator) -> MarginMap:
        fitted = getattr(calibrator, "calibrated_classifiers_", None)
        if fitted is None:  # a FrozenEstimator: the booster's probabilities as they are
            return cls((("logistic", None),))
        return cls(tuple(_part(c.calibrators[0]) for c in fitted))

    def __call__(self, margin: np.ndarray) -> np.ndarray:
        margin = np.asarray(margin, dtype=float)
        total = np.zeros(len(margin))
        for kind, fitted in self.parts:
            if kind == "logistic":
                total += 1.0 / (1.0 + np.exp(-margin))
            elif kind == "isotonic":
                x, y = fitted
                total += np.interp(margin, x, y) if len(x) > 1 else np.full(len(margin), y[0])
            elif kind == "sigmoid":
                a, b = fitted
                total += 1.0 / (1.0 + np.exp(a * margin + b))
            else:
                total += fitted.predict(margin)
        return total / len(self.parts)


def _part(calibrator) -> tuple:
    from sklearn.calibration import _SigmoidCalibration
    from sklearn.isotonic import IsotonicRegression

    if isinstance(calibrator, IsotonicRegression) and calibrator.out_of_bounds == "clip":
        return "isotonic", (calibrator.X_thresholds_, calibrator.y_thresholds_)
    if isinstance(calibrator, _SigmoidCalibration):
        return "sigmoid", (float(calibrator.a_), float(calibrator.b_))
    return "as_is", calibrator
