"""Training configuration: label policy, split, model, calibration, thresholds and the gate.

One YAML file (`training/defaults/training.yaml` documents every field and equals these defaults).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Target(BaseModel):
    """The label and sample weight a sales decision becomes."""

    model_config = ConfigDict(extra="forbid")
    label: Literal[0, 1]
    weight: float = Field(default=1.0, gt=0)


class LabelPolicy(BaseModel):
    """How sales decisions become training labels. `exclude` leaves a row out of training."""

    model_config = ConfigDict(extra="forbid")
    accepted: Target | Literal["exclude"] = Target(label=1)
    rejected: Target | Literal["exclude"] = Target(label=0)
    recycled: Target | Literal["exclude"] = Target(label=0, weight=0.5)
    reasons: dict[str, Target | Literal["exclude"]] = Field(
        default={
            "duplicate": "exclude",
            "spam_or_invalid": "exclude",
            "not_now": Target(label=0, weight=0.5),
            "unreachable": Target(label=0, weight=0.5),
        },
        description="Per reason code of a rejected or recycled lead; overrides the decision's target.",
    )
    mature_after_days: int = Field(
        default=14,
        ge=0,
        description="Hand-overs younger than this (before the newest decision) are left out, so that "
        "quick rejections do not outnumber slow acceptances at the end of the history.",
    )


class SplitConfig(BaseModel):
    """Time-ordered split by hand-over time: oldest to train, next to calibrate, newest to test."""

    model_config = ConfigDict(extra="forbid")
    calibrate_fraction: float = Field(default=0.2, gt=0, lt=0.5)
    test_fraction: float = Field(default=0.2, gt=0, lt=0.5)
    random_state: int = Field(default=7, description="Seed of the random split used when there are no times.")


class ModelConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    params: dict[str, float | int | str] = Field(
        default={
            "learning_rate": 0.05,
            "num_leaves": 31,
            "min_child_samples": 40,
            "feature_fraction": 0.8,
            "bagging_fraction": 0.8,
            "bagging_freq": 1,
            "lambda_l2": 1.0,
            "cat_smooth": 20,
            "min_data_per_group": 50,
        },
        description="LightGBM parameters.",
    )
    max_rounds: int = Field(default=2000, ge=1)
    early_stopping_rounds: int = Field(default=100, ge=1)
    monotone_increasing: list[str] | None = Field(
        default=None,
        description="Features whose increase must never lower the score (a trailing * matches a prefix); "
        "default: the feature spec's (features/spec.py): more pricing-page visits, a demo request, more "
        "activity of the lead or its account never make a lead less likely to be accepted. Each entry must "
        "name a feature of the feature configuration.",
    )
    monotone_decreasing: list[str] | None = Field(
        default=None,
        description="Features whose increase must never raise the score; default: the feature spec's "
        "(days since the last pricing-page visit, demo request and activity: older activity counts less).",
    )
    search_trials: int = Field(default=30, ge=1, description="Optuna trials when --search is given.")
    random_state: int = 7


class CalibrationConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    methods: list[Literal["isotonic", "sigmoid", "none"]] = Field(
        default=["isotonic", "sigmoid", "none"],
        description="Candidates, chosen by cross-validated log-loss; 'none' keeps the booster's probabilities.",
    )
    folds: int = Field(default=5, ge=2, description="Cross-validation folds that pick the method by log-loss.")
    per_segment: bool = True
    min_segment_rows: int = Field(default=800, ge=50)
    min_segment_positives: int = Field(default=100, ge=10)


class RecalibrationConfig(BaseModel):
    """`leadscore recalibrate`: where a segment has enough decisions of both outcomes, its map gets
    an intercept of its own (a shift of the log-odds, the slope shared); every other segment shares
    one map."""

    model_config = ConfigDict(extra="forbid")
    per_segment: bool = True
    min_segment_decided: int = Field(default=200, ge=20, description="Decided hand-overs a segment needs.")
    min_segment_each: int = Field(default=30, ge=5, description="Of them accepted, and of them not, at least.")


class ThresholdConfig(BaseModel):
    """How the model's MQL threshold is chosen per segment, on the calibration period."""

    model_config = ConfigDict(extra="forbid")
    mode: Literal["capacity", "target_rate"] = "capacity"
    capacity_per_week: float | None = Field(
        default=None, gt=0, description="Leads per week sales can take (all segments); default: the rule MQL volume."
    )
    target_rate: float = Field(default=0.3, gt=0, lt=1, description="Minimum acceptance rate of model MQLs.")


class GateConfig(BaseModel):
    """A challenger becomes champion only if it is not worse on the newest period."""

    model_config = ConfigDict(extra="forbid")
    max_auc_drop: float = Field(default=0.005, ge=0)
    max_log_loss_rise: float = Field(default=0.005, ge=0)


class AccountConfig(BaseModel):
    """The account answer (`training/account_fit.py`): the window it speaks for and how much history
    its own model needs."""

    model_config = ConfigDict(extra="forbid")
    window_days: int = Field(
        default=30,
        ge=1,
        le=365,
        description="The hand-over window: an account's answer is the probability that sales accepts at least one "
        "of its leads handed over within this many days.",
    )
    min_episodes: int = Field(
        default=200,
        ge=20,
        description="Account windows (of both outcomes) the calibration period needs for the "
        "account model; with fewer, the account answer has no probability (and the run says so).",
    )


class TrainingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    labels: LabelPolicy = LabelPolicy()
    split: SplitConfig = SplitConfig()
    model: ModelConfig = ModelConfig()
    calibration: CalibrationConfig = CalibrationConfig()
    recalibration: RecalibrationConfig = RecalibrationConfig()
    thresholds: ThresholdConfig = ThresholdConfig()
    gate: GateConfig = GateConfig()
    accounts: AccountConfig = AccountConfig()
    experiment: str = "leadscore"
    model_name: str = "leadscore"
    refit: bool = Field(
        default=True,
        description="After the evaluation, serve the model refit on every hand-over but the newest calibration "
        "window and calibrated on that window (training/refit.py); false: serve the evaluated model as it is.",
    )
    grades: dict[str, float] = Field(
        default={"A": 0.6, "B": 0.35, "C": 0.15},
        description="Grade by calibrated probability: the first grade whose minimum the probability reaches; "
        "below every minimum: D.",
    )

    @model_validator(mode="after")
    def _fractions(self) -> TrainingConfig:
        if self.split.calibrate_fraction + self.split.test_fraction >= 0.8:
            raise ValueError("split: calibrate_fraction + test_fraction must leave at least 20% to train on")
        return self
