"""What a training run holds between its steps (`training/train.py`) and records
(`training/record.py`): the data, the fitted and the served model, the assessment, the result."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from features.contract import ContractConfig, Dataset
from features.rules import RuleConfig
from features.settings import FeatureConfig
from training.evaluate import Evaluation
from training.feedback import FeedbackSummary
from training.fit import Period
from training.gate import GateResult
from training.model import LeadModel
from training.refit import Served
from training.settings import TrainingConfig
from training.split import Split


@dataclass
class TrainResult:
    run_id: str
    version: str
    promoted: bool
    gate_reason: str
    metrics: dict[str, float]
    split: dict[str, int]
    notes: list[str]  # warnings for the person who trains (training/notes.py)
    served: str  # what the served model was fitted and calibrated on, in words


@dataclass(frozen=True)
class TrainingData:
    """What a run learns from and is tested on."""

    contract: ContractConfig
    dataset: Dataset  # the folder's tables, with any new decisions merged into the outcomes
    labelled: pd.DataFrame  # the outcomes with their label and weight
    rows: pd.DataFrame  # labelled hand-overs joined with their leads: one per feature row
    features: pd.DataFrame  # their features as of each hand-over, in the same order
    split: Split
    parts: dict[str, Period]  # train, calibrate, test


@dataclass(frozen=True)
class Fitted:
    model: LeadModel
    params: dict | None  # LightGBM parameters found by the search; None: the config's own


@dataclass(frozen=True)
class Assessment:
    evaluation: Evaluation  # the test period: model vs rule score
    champion: dict[str, float] | None  # the current champion's ROC AUC and log-loss there, if any
    decision: GateResult
    notes: list[str]  # training/notes.py


@dataclass(frozen=True)
class TrainingRun:
    """Everything one run records: the parameter object of `log_run`."""

    config: TrainingConfig
    feature_config: FeatureConfig
    rules: RuleConfig
    data: TrainingData
    fitted: Fitted
    assessment: Assessment
    served: Served  # the model registered and served (training/refit.py)
    feedback: FeedbackSummary | None = None  # decisions merged from the feedback store, if any
