"""One training run in steps: data -> fit -> evaluate -> refit -> log -> gate.

`training_data` reads the folder, labels the hand-overs, builds their point-in-time features and
splits them by time; `fit` fits the `LeadModel`; `assess` evaluates it on the test period against
the rule score and the current champion and takes the gate's decision; `log_run` records the
`TrainingRun` (`training/run.py`) as an MLflow run (`training/record.py`): its parameters,
config files, a data fingerprint, the decisions merged from the feedback store, the metrics,
tables and plots, and the served model (`training/refit.py`: the evaluated model refit on the
newest history), registered as a new version and `@challenger`; the gate (`training/gate.py`)
then moves `@champion` to it only if the evaluated model ranks the test period better than
chance, not worse than the rule score, and not worse than the current champion on the test
hand-overs the champion never learnt from.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from mlflow import MlflowClient
from sklearn.metrics import log_loss, roc_auc_score

from core.errors import LeadscoreError
from features.arrays import to_columns
from features.build import build_features, feature_names
from features.contract import FIT_CATEGORICAL, FIT_NUMERIC, ContractConfig, Dataset, folder_config, load_dataset
from features.fit import fit_features
from features.rules import RuleConfig, rule_score
from features.settings import FeatureConfig
from features.spec import FeatureSpec
from training import gate, registry
from training.account_fit import fit_accounts
from training.evaluate import evaluate
from training.feedback import FeedbackSummary, merge_outcomes
from training.fit import Period, best_rounds, fit_model
from training.labels import label_outcomes
from training.model import LeadModel
from training.notes import few_rounds, near_constant, short_calendar, training_notes
from training.record import log_run
from training.refit import Served, refit
from training.run import Assessment, Fitted, TrainingData, TrainingRun, TrainResult
from training.settings import TrainingConfig
from training.split import time_split
from training.thresholds import capacity_fallback

STEPS = ("labels", "features", "fit", "evaluate", "refit", "log", "gate")
MIN_COMPARED = 100  # test hand-overs the champion never learnt from, below which the gate cannot compare
FLAT_NOT_COMPARED = (
    "not compared: without hand-over times (a flat snapshot) the test hand-overs cannot be told apart from "
    "those the champion learnt from (a new snapshot holds the old one's leads), and a model tested on what it "
    "learnt from looks better than it is (promote by hand if you trust the test figures)"
)


def _quiet(_step: str) -> None:
    pass


# the lead's columns the segment and source are read from
def _with_segment(
    outcomes: pd.DataFrame, leads: pd.DataFrame, config: FeatureConfig, contract: ContractConfig
) -> pd.DataFrame:
    """The outcomes with their lead's segment and source, for the reasons report."""
    rows = outcomes.merge(leads, on="lead_id", how="left")
    columns = [*FIT_CATEGORICAL, *FIT_NUMERIC, *contract.extra_fit_columns, *contract.counter_columns]
    fit = fit_features(to_columns(rows, columns), config, contract)
    return rows.assign(segment=fit["segment"], source=fit["source"])


def _figures(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    return {"roc_auc": float(roc_auc_score(y, p)), "log_loss": float(log_loss(y, p, labels=[0, 1]))}


def champion_comparison(
    client: MlflowClient, name: str, data: TrainingData, feature_config: FeatureConfig, challenger_p: np.ndarray
) -> tuple[dict[str, float], dict[str, float], str] | str | None:
    """The current champion's and the challenger's ROC AUC and log-loss on the test hand-overs the
    champion never learnt from (after its `trained_through`), with a sentence saying which; a
    sentence only when too few are left to compare or there are no hand-over times (a random split);
    None when there is no champion."""
    if registry.version_of(client, name, registry.CHAMPION) is None:
        return None
    if data.split.kind != "time":
        return FLAT_NOT_COMPARED
    champion = registry.load_model(f"models:/{name}@{registry.CHAMPION}", client)
    test, mask = data.parts["test"], data.split.mask("test")
    features = test.features
    if champion.feature_config != feature_config or champion.contract != data.contract:
        rows, dataset = data.rows[mask], data.dataset
        features = build_features(
            rows, dataset.events, "mql_at", champion.feature_config, champion.contract, population=dataset.leads
        )
    seen = champion.trained_through
    if seen is None:
        unseen, where = np.ones(len(test.y), dtype=bool), "on the whole test period (the champion's data not recorded)"
    else:
        seen = pd.Timestamp(seen)
        unseen = (data.rows.loc[mask, "mql_at"] > seen).to_numpy()
        where = f"on the {int(unseen.sum()):,} test hand-overs after {seen:%Y-%m-%d}, which the champion never saw"
        if unseen.sum() < MIN_COMPARED or len(np.unique(test.y[unseen])) < 2:
            return (
                f"not compared: the champion learnt from decisions up to {seen:%Y-%m-%d}, so only "
                f"{int(unseen.sum())} test hand-overs are new to it; at least {MIN_COMPARED} with both outcomes "
                "are needed to compare fairly (promote by hand if you trust the test figures)"
            )
    champion_p = champion.probability(features.iloc[np.flatnonzero(unseen)])
    return _figures(test.y[unseen], champion_p), _figures(test.y[unseen], challenger_p[unseen]), where


def train(
    data: Path,
    config: TrainingConfig,
    feature_config: FeatureConfig,
    rules: RuleConfig,
    tracking_uri: str | None = None,
    search: bool = False,
    extra_outcomes: pd.DataFrame | None = None,
    progress: Callable[[str], None] | None = None,
    feedback: FeedbackSummary | None = None,
) -> TrainResult:
    """Train, evaluate, log and register a model from a data folder (plus any new decisions);
    `progress` hears the name of each of `STEPS` as it ends; `feedback` (what `extra_outcomes`
    took from the feedback store) is recorded on the run."""
    step = progress or _quiet
    check_names(config, feature_config, rules, folder_config(data))
    prepared = training_data(data, config, feature_config, extra_outcomes, step)
    fitted = fit(prepared, config, feature_config, rules, search)
    accounts = fit_accounts(prepared, fitted.model, config, rules)
    fitted.model.accounts = accounts.model
    step("fit")
    client = registry.connect(tracking_uri)
    with tempfile.TemporaryDirectory() as tmp:
        assessment = assess(prepared, fitted.model, config, feature_config, client, Path(tmp), rules)
        assessment.evaluation.metrics.update(accounts.metrics)
        assessment.notes.extend(accounts.notes)
        step("evaluate")
        served = serve(prepared, fitted, config, feature_config, rules)
        served.model.accounts = accounts.model  # registered with the served lead model, in its version
        step("refit")
        run = TrainingRun(config, feature_config, rules, prepared, fitted, assessment, served, feedback)
        run_id, version = log_run(client, run, Path(tmp))
    step("log")
    decision = assessment.decision
    if decision.promote:
        registry.promote(client, config.model_name, version)
    step("gate")
    metrics, sizes = assessment.evaluation.metrics, prepared.split.sizes()
    return TrainResult(
        run_id, version, decision.promote, decision.reason, metrics, sizes, assessment.notes, served.sentence()
    )


def serve(
    data: TrainingData, fitted: Fitted, config: TrainingConfig, feature_config: FeatureConfig, rules: RuleConfig
) -> Served:
    """Step 4: the model to register and serve, refit on the newest history (`training/refit.py`)."""
    return refit(
        data.features, data.rows, data.split, fitted.model, config, rules, feature_config, data.contract, fitted.params
    )


def check_names(config: TrainingConfig, feature_config: FeatureConfig, rules: RuleConfig, contract) -> None:
    """Before any work: every feature the rules and the monotone lists name is one the feature
    config makes (`features/spec.py`), else one line naming it."""
    spec = FeatureSpec(feature_config, contract)
    spec.check([rule.feature for rule in rules.rules], "rules: feature")
    spec.monotone(spec.names, config.model.monotone_increasing, config.model.monotone_decreasing)


def _history(data: Path, extra_outcomes: pd.DataFrame | None) -> tuple[ContractConfig, Dataset]:
    """The folder's contract and tables, with new decisions replacing the outcomes they decide."""
    contract = folder_config(data)
    dataset = load_dataset(data, contract)
    if extra_outcomes is not None and len(extra_outcomes):
        merged = merge_outcomes(dataset.outcomes, extra_outcomes)
        dataset = Dataset(leads=dataset.leads, events=dataset.events, outcomes=merged)
    return contract, dataset


def training_data(
    data: Path,
    config: TrainingConfig,
    feature_config: FeatureConfig,
    extra_outcomes: pd.DataFrame | None = None,
    step: Callable[[str], None] = _quiet,
) -> TrainingData:
    """Step 1: the labelled hand-overs of a data folder, their features as of each hand-over, and
    the time split into train, calibrate and test periods (each with both outcomes)."""
    contract, dataset = _history(data, extra_outcomes)
    labelled = label_outcomes(dataset.outcomes, config.labels)
    rows = labelled.merge(dataset.leads, on="lead_id", how="inner").reset_index(drop=True)
    if rows.empty:
        raise LeadscoreError(f"{data}: no decided hand-overs to learn from (outcomes missing or all open)")
    step("labels")
    features = build_features(rows, dataset.events, "mql_at", feature_config, contract, population=dataset.leads)
    step("features")
    y, w = rows["label"].to_numpy(), rows["weight"].to_numpy()
    split = time_split(rows["mql_at"], rows["account_id"], config.split, y)
    parts = {
        p: Period(features[split.mask(p)], y[split.mask(p)], w[split.mask(p)]) for p in ("train", "calibrate", "test")
    }
    for name, part in parts.items():
        if len(np.unique(part.y)) < 2:
            raise LeadscoreError(f"training: the {name} period has only one outcome; more history is needed")
    return TrainingData(contract, dataset, labelled, rows, features, split, parts)


def fit(
    data: TrainingData, config: TrainingConfig, feature_config: FeatureConfig, rules: RuleConfig, search: bool = False
) -> Fitted:
    """Step 2: the model fitted on the training period and calibrated on the calibration period,
    with LightGBM parameters searched first when asked."""
    names = feature_names(feature_config, data.contract)
    train_part, calibrate = data.parts["train"], data.parts["calibrate"]
    params = None
    if search:
        from training.search import search_params

        params = search_params(train_part, calibrate, names, config, rules, feature_config, data.contract)
    model = fit_model(train_part, calibrate, names, config, rules, feature_config, data.contract, params)
    return Fitted(model, params)


def assess(
    data: TrainingData,
    model: LeadModel,
    config: TrainingConfig,
    feature_config: FeatureConfig,
    client: MlflowClient,
    out: Path,
    rules: RuleConfig | None = None,
) -> Assessment:
    """Step 3: the model against the rule score on the test period (plots written under `out`),
    the current champion's figures on the test hand-overs it never learnt from, the gate's
    decision, and the run's notes (`training/notes.py`)."""
    report = _with_segment(data.dataset.outcomes, data.dataset.leads, feature_config, data.contract)
    test = data.parts["test"]
    evaluation = evaluate(model, data.parts["calibrate"], test, report, out / "plots")
    ranked = gate.ranking(test.y, evaluation.probability, rule_score(test.features, model.rules).score)
    evaluation.metrics.update(ranked.metrics())
    compared = champion_comparison(client, config.model_name, data, feature_config, evaluation.probability)
    champion = compared[0] if isinstance(compared, tuple) else None
    decision = gate.decide(ranked, compared, config.gate)
    calibrate = data.parts["calibrate"]
    rule_mql = rule_score(calibrate.features, model.rules).is_mql
    span = (data.rows["mql_at"].max() - data.rows["mql_at"].min()) / pd.Timedelta(days=1)
    notes = training_notes(
        data.split.kind,
        rule_score(data.features, rules or model.rules).score,
        capacity_fallback(rule_mql, config.thresholds),
        short_calendar(data.contract.calendar, span),
        few_rounds(best_rounds(model.booster), config.model.max_rounds, {p: data.parts[p].y for p in data.parts}),
        near_constant(evaluation.probability),
    )
    return Assessment(evaluation, champion, decision, notes)
