"""`LeadModel`: everything between a feature row and a calibrated, thresholded answer.

It owns the fitted category vocabulary, the LightGBM booster, one calibrator per segment (and one
for all), the per-segment MQL thresholds, grades and the rule score, so that training, batch
scoring and the service run exactly the same steps. Feature rows come from `features/`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

import lightgbm as lgb
import numpy as np
import pandas as pd

from core.errors import LeadscoreError
from features.arrays import groups
from features.contract import ContractConfig
from features.rules import RuleConfig
from features.settings import FeatureConfig
from features.spec import FeatureSpec
from training.encode import Encoder, category_lookups
from training.interval import Intervals

if TYPE_CHECKING:
    from training.trees import Trees

ALL = "__all__"


@dataclass(frozen=True)
class Answers:
    """What the model says about a batch of feature rows, as arrays (contributions: per feature,
    the expected value last, when asked for)."""

    probability: np.ndarray
    threshold: np.ndarray
    grade: np.ndarray
    contributions: np.ndarray | None = None
    interval: tuple[np.ndarray, np.ndarray] | None = None  # (low, high); None: the model has no interval data


@dataclass
class LeadModel:
    booster: lgb.Booster
    feature_names: list[str]
    categories: dict[str, list[str]]
    calibrators: dict[str, MarginCalibrator]  # segment (or ALL) -> map from the booster's margin
    calibration_methods: dict[str, str]
    thresholds: dict[str, float]  # segment (or ALL) -> probability threshold for "model MQL"
    grades: dict[str, float]
    rules: RuleConfig
    feature_config: FeatureConfig
    contract: ContractConfig
    version: str = "unregistered"
    lookups: dict[str, dict[str, int]] = field(default_factory=dict, repr=False)
    intervals: Intervals | None = None  # Venn-Abers maps of the calibration period (training/interval.py)
    # the newest hand-over whose decision the model learnt from (fitting or calibration): a later
    # run compares it with a challenger only on hand-overs after it (None: not known, 0.1.0)
    trained_through: pd.Timestamp | None = None
    # `leadscore recalibrate`: maps applied in turn to the calibrated log-odds, each a (slope,
    # intercept) for every lead, or {segment (or ALL): (slope, intercept)} (see `recalibrated`)
    recalibration: tuple[RecalibrationMap, ...] = ()
    # a model of a flat snapshot (no hand-over times): the keys of the leads it learnt from
    # (`training.refit.lead_keys`), which recalibration leaves out; None: a time split (or older)
    learnt_leads: np.ndarray | None = None
    # the account answer (`training.accounts.AccountModel`), fitted and registered with this model;
    # None: fitted before accounts (the account answer then has no probability)
    accounts: object | None = None

    def __post_init__(self) -> None:
        self.lookups = category_lookups(self.categories)

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state.pop("_maps", None)  # caches, rebuilt on first use
        state.pop("spec", None)
        state.pop("trees", None)
        state.pop("_encoder", None)
        return state

    def __setstate__(self, state: dict) -> None:
        state = {name: value for name, value in state.items() if name != "_maps"}  # 0.1.0 pickled its cache
        state["calibrators"] = {s: calibrator_from_0_1_0(c) for s, c in state["calibrators"].items()}
        state.setdefault("trained_through", None)  # models registered before these existed
        state.setdefault("recalibration", ())
        state.setdefault("learnt_leads", None)
        state.setdefault("intervals", None)  # fitted before intervals: the answer says so
        state.setdefault("accounts", None)  # fitted before accounts: no account probability
        for name in ("contract", "feature_config", "rules"):  # settings added since: their defaults
            state[name] = _with_defaults(state[name])
        self.__dict__.update(state)

    def matrix(self, features) -> np.ndarray:
        """The booster's input (`training.encode.Encoder`)."""
        return self._encoder(features)

    @cached_property
    def _encoder(self) -> Encoder:
        return Encoder(self.feature_names, self.lookups, self.spec.days)

    @cached_property
    def spec(self) -> FeatureSpec:
        """The features of this model's configuration (`features/spec.py`)."""
        return FeatureSpec(self.feature_config, self.contract)

    def raw(self, matrix: np.ndarray) -> np.ndarray:
        """Uncalibrated probabilities."""
        return self.booster.predict(matrix)

    def margin(self, matrix: np.ndarray, threads: int | None = None) -> np.ndarray:
        """The booster's raw log-odds (on `threads` threads; default: LightGBM's own choice)."""
        return self.trees.margin(matrix, threads)

    def calibrated(self, matrix: np.ndarray, segments: np.ndarray, threads: int | None = None) -> np.ndarray:
        """Calibrated probabilities for booster rows, each by its segment's calibrator."""
        return self.calibrate(self.margin(matrix, threads), segments)

    def calibrate(self, margin: np.ndarray, segments: np.ndarray) -> np.ndarray:
        """Calibrated probabilities from the booster's raw log-odds (which `pred_contrib` rows
        also sum to), each by its segment's calibrator."""
        out = np.empty(len(margin))
        for segment, rows in groups(segments):
            out[rows] = self._maps.get(segment, self._maps[ALL])(margin[rows])
        return recalibrated(np.clip(out, 1e-6, 1 - 1e-6), self.recalibration, segments)

    @cached_property
    def _maps(self) -> dict[str, MarginMap]:
        return {segment: MarginMap.of(calibrator) for segment, calibrator in self.calibrators.items()}

    def probability(self, features, threads: int | None = None) -> np.ndarray:
        """Calibrated P(sales accepts) for each feature row (`answers` without thresholds and grades,
        which need a fitted model: training calls this before it has chosen its thresholds)."""
        return self.calibrated(self.matrix(features), np.asarray(features["segment"]), threads)

    def answers(self, features, contributions: bool = False, threads: int | None = None) -> Answers:
        """The model's arrays for feature rows, computed once: every scoring path (the service,
        batch and Spark scoring, the report) adapts these. With `contributions`, one booster pass
        (`pred_contrib`, whose rows sum to the raw log-odds) serves both the score and the reasons."""
        matrix = self.matrix(features)
        segments = np.asarray(features["segment"], dtype=object)
        contrib = self.contributions(matrix, threads) if contributions else None
        margin = contrib.sum(axis=1) if contrib is not None else self.margin(matrix, threads)
        probability = self.calibrate(margin, segments)
        interval = self.interval(margin, segments, probability)
        return Answers(probability, self.threshold(segments), self.grade(probability), contrib, interval)

    def interval(self, margin: np.ndarray, segments: np.ndarray, probability: np.ndarray):
        """(low, high) around each calibrated `probability`: the Venn-Abers bounds of the margin
        (`training/interval.py`), through the same recalibration as the probability and widened to
        hold it; None for a model fitted without interval data."""
        if self.intervals is None:
            return None
        low, high = (np.clip(b, 1e-6, 1 - 1e-6) for b in self.intervals.bounds(margin, segments))
        low, high = (recalibrated(b, self.recalibration, segments) for b in (low, high))
        low, high = np.minimum(low, high), np.maximum(low, high)  # a falling map swaps them
        return np.minimum(low, probability), np.maximum(high, probability)

    def threshold(self, segments: np.ndarray) -> np.ndarray:
        return np.array([self.thresholds.get(str(s), self.thresholds[ALL]) for s in segments], dtype=float)

    def grade(self, probability: np.ndarray) -> np.ndarray:
        ordered = sorted(self.grades.items(), key=lambda kv: -kv[1])
        out = np.full(len(probability), "D", dtype=object)
        for name, minimum in reversed(ordered):
            out[probability >= minimum] = name
        return out

    def contributions(self, matrix: np.ndarray, threads: int | None = None) -> np.ndarray:
        """The booster's exact SHAP contributions per feature (last column: the expected value), as
        LightGBM's `pred_contrib` gives them (`training.trees.Trees`)."""
        return self.trees.contributions(matrix, threads)

    @cached_property
    def trees(self) -> Trees:
        """The booster compiled for margins and SHAP (made on first use; `warm` makes it at load)."""
        from training.trees import Trees

        return Trees().fit(self.booster)

    def warm(self) -> LeadModel:
        """Make what the first answer would otherwise wait for: the compiled trees and SHAP tables."""
        row = np.zeros((1, self.booster.num_feature()))
        self.trees.margin(row, threads=1), self.trees.contributions(row, threads=1)
        return self


RecalibrationMap = tuple[float, float] | dict[str, tuple[float, float]]


def recalibrated(probability: np.ndarray, maps: tuple[RecalibrationMap, ...], segments=None) -> np.ndarray:
    """`probability` through each map on its log-odds, in turn: a (slope, intercept) for every
    row, or per segment ({segment: (slope, intercept)}, `ALL` for a segment without its own; the
    rows' `segments` are needed then)."""
    for one in maps:
        if isinstance(one, dict):
            slope, intercept = np.empty(len(probability)), np.empty(len(probability))
            for segment, rows in groups(segments):
                slope[rows], intercept[rows] = one.get(segment, one[ALL])
        else:
            slope, intercept = one
        logit = np.log(probability / (1 - probability))
        probability = np.clip(1.0 / (1.0 + np.exp(-(slope * logit + intercept))), 1e-6, 1 - 1e-6)
    return probability


def _with_defaults(config):
    """A pydantic config unpickled from an older release, with the fields added since at their
    defaults (unpickling restores only the fields it had: reading a newer one would fail)."""
    missing = set(type(config).model_fields) - set(config.__dict__)
    return type(config).model_validate(config.model_dump(by_alias=True)) if missing else config


@dataclass(frozen=True)
class MarginCalibrator:
    """One segment's map from the booster's raw log-odds (its margin) to a calibrated probability:
    the method and the public scikit-learn estimator fitted on the margin as its one feature
    (`IsotonicRegression(out_of_bounds="clip")` for "isotonic", `LogisticRegression` for
    "sigmoid", None for "none": the booster's own probability). See `training.calibration`."""

    method: str
    estimator: object | None = None

    def predict(self, margin: np.ndarray) -> np.ndarray:
        """Calibrated probabilities through scikit-learn's own predict (and its input checks)."""
        margin = np.asarray(margin, dtype=float)
        if self.method == "isotonic":
            return self.estimator.predict(margin)
        if self.method == "sigmoid":
            return self.estimator.predict_proba(margin.reshape(-1, 1))[:, 1]
        return 1.0 / (1.0 + np.exp(-margin))


@dataclass(frozen=True)
class MarginMap:
    """A `MarginCalibrator` as numpy on its estimator's public fitted attributes: `np.interp` on
    the isotonic thresholds (constant beyond them, as `out_of_bounds="clip"`), the logistic of
    `coef_ * margin + intercept_`, or the booster's own logistic. No per-call input checks on the
    request path (they cost more than the map itself for one lead)."""

    method: str
    params: tuple = ()

    @classmethod
    def of(cls, calibrator: MarginCalibrator) -> MarginMap:
        fitted = calibrator.estimator
        if calibrator.method == "isotonic":
            return cls("isotonic", (np.asarray(fitted.X_thresholds_), np.asarray(fitted.y_thresholds_)))
        if calibrator.method == "sigmoid":
            return cls("sigmoid", (float(fitted.coef_[0, 0]), float(fitted.intercept_[0])))
        return cls("none")

    def __call__(self, margin: np.ndarray) -> np.ndarray:
        margin = np.asarray(margin, dtype=float)
        if self.method == "isotonic":
            x, y = self.params
            return np.interp(margin, x, y) if len(x) > 1 else np.full(len(margin), float(y[0]))
        if self.method == "sigmoid":
            slope, intercept = self.params
            return 1.0 / (1.0 + np.exp(-(slope * margin + intercept)))
        return 1.0 / (1.0 + np.exp(-margin))


def calibrator_from_0_1_0(calibrator) -> MarginCalibrator:
    """LEGACY: a calibrator as leadscore 0.1.0 stored it, as a `MarginCalibrator` that scores
    identically. 0.1.0 (the release before the redesign of issue 15) stored a fitted
    `CalibratedClassifierCV(FrozenEstimator(booster), ensemble=False)`, or the bare
    `FrozenEstimator` for "none"; scikit-learn fitted its one calibrator on the booster's margin
    (LightGBM >= 4.7 has `decision_function`). The only code that reads those objects' insides;
    remove it with `LeadModel.__setstate__`'s call once no model registered by 0.1.0 is served
    (the fixtures in tests/fixtures/model_0_1_0* go with it)."""
    if isinstance(calibrator, MarginCalibrator):
        return calibrator
    fitted = getattr(calibrator, "calibrated_classifiers_", None)
    if fitted is None:  # FrozenEstimator: the booster's own probability
        return MarginCalibrator("none")
    if len(fitted) != 1 or len(fitted[0].calibrators) != 1:
        raise LeadscoreError("model: a 0.1.0 calibrator with several fitted maps; re-register the model")
    old = fitted[0].calibrators[0]
    if hasattr(old, "X_thresholds_"):  # IsotonicRegression(out_of_bounds="clip") on the margin, kept as is
        return MarginCalibrator("isotonic", old)
    from sklearn.linear_model import LogisticRegression

    # _SigmoidCalibration: p = 1 / (1 + exp(a * margin + b)), i.e. a logistic regression with
    # coef -a and intercept -b (negation is exact in floating point: the same probabilities)
    platt = LogisticRegression(C=np.inf)
    platt.classes_, platt.n_features_in_ = np.array([0, 1]), 1
    platt.coef_, platt.intercept_ = np.array([[-float(old.a_)]]), np.array([-float(old.b_)])
    return MarginCalibrator("sigmoid", platt)
