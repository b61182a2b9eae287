"""One training run in steps: data -> fit -> evaluate -> log -> gate.

`training_data` reads the folder, labels the hand-overs, builds their point-in-time features and
splits them by time; `fit` fits the `LeadModel`; `assess` evaluates it on the test period against
the rule score and the current champion and takes the gate's decision; `log_run` records the
`TrainingRun` (the parameter object holding all of the above) as an MLflow run: its parameters,
config files, a data fingerprint, the decisions merged from the feedback store, the metrics,
tables and plots, and the served model (`training/refit.py`: the evaluated model refit on the
newest history), registered as a new version and `@challenger`; the gate then moves `@champion`
to it only if the evaluated model is not worse than the current champion on the test hand-overs
the champion never learnt from.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import mlflow
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
from training import registry
from training.evaluate import Evaluation, evaluate
from training.feedback import FeedbackSummary, log_feedback
from training.fit import Period, fit_model
from training.labels import label_outcomes, label_summary
from training.model import LeadModel
from training.notes import training_notes
from training.pyfunc import log_model
from training.refit import Served, refit
from training.settings import TrainingConfig
from training.split import Split, time_split
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


def fingerprint(dataset: Dataset) -> dict[str, str]:
    """Row counts, time range and a content hash of the tables a model was trained on."""
    digest = hashlib.sha256()
    for name in ("leads", "events", "outcomes"):
        frame = getattr(dataset, name)
        digest.update(pd.util.hash_pandas_object(frame.astype(str), index=False).to_numpy().tobytes())
    outcomes = dataset.outcomes
    return {
        "data.leads": str(len(dataset.leads)),
        "data.events": str(len(dataset.events)),
        "data.outcomes": str(len(outcomes)),
        "data.first_handover": str(outcomes["mql_at"].min()),
        "data.last_handover": str(outcomes["mql_at"].max()),
        "data.sha256": digest.hexdigest(),
    }


def _flatten(prefix: str, value) -> dict[str, str]:
    if isinstance(value, dict):
        out = {}
        for key, inner in value.items():
            out.update(_flatten(f"{prefix}.{key}" if prefix else str(key), inner))
        return out
    return {prefix: str(value)[:500]}


# the lead's columns the segment and source are read from
def _with_segment(
    outcomes: pd.DataFrame, leads: pd.DataFrame, config: FeatureConfig, contract: ContractConfig
) -> pd.DataFrame:
    """The outcomes with their lead's segment and source, for the reasons report."""
    rows = outcomes.merge(leads, on="lead_id", how="left")
    columns = [*FIT_CATEGORICAL, *FIT_NUMERIC, *contract.extra_fit_columns, *contract.counter_columns]
    fit = fit_features(to_columns(rows, columns), config, contract)
    return rows.assign(segment=fit["segment"], source=fit["source"])


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
    decision: registry.GateResult
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
    step("fit")
    client = registry.connect(tracking_uri)
    with tempfile.TemporaryDirectory() as tmp:
        assessment = assess(prepared, fitted.model, config, feature_config, client, Path(tmp), rules)
        step("evaluate")
        served = serve(prepared, fitted, config, feature_config, rules)
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
        merged = pd.concat([dataset.outcomes, extra_outcomes], ignore_index=True)
        merged = merged.drop_duplicates(["lead_id", "mql_at"], keep="last")
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
    evaluation = evaluate(model, data.parts["calibrate"], data.parts["test"], report, out / "plots")
    compared = champion_comparison(client, config.model_name, data, feature_config, evaluation.probability)
    if compared is None:
        champion, decision = None, registry.gate({}, None, config.gate)
    elif isinstance(compared, str):
        champion, decision = None, registry.GateResult(False, compared)
    else:
        champion, challenger, where = compared
        decision = registry.gate(challenger, champion, config.gate)
        decision = registry.GateResult(decision.promote, f"{decision.reason}, {where}")
    calibrate = data.parts["calibrate"]
    rule_mql = rule_score(calibrate.features, model.rules).is_mql
    notes = training_notes(
        data.split.kind,
        rule_score(data.features, rules or model.rules).score,
        capacity_fallback(rule_mql, config.thresholds),
    )
    return Assessment(evaluation, champion, decision, notes)


def log_run(client: MlflowClient, run: TrainingRun, tmp: Path) -> tuple[str, str]:
    """Step 4: the run in the client's store, its model registered as `@challenger`; returns the
    run id and the registered version. The fluent API writes it (see `registry.logging_to`)."""
    with registry.logging_to(client):
        experiment = registry.experiment_id(client, run.config.experiment)
        with mlflow.start_run(experiment_id=experiment) as active:
            _log_inputs(run)
            if run.feedback is not None:
                log_feedback(run.feedback, tmp)
            _log_results(run, tmp)
            version = _log_model(client, run, active.info.run_id)
    return active.info.run_id, version


def _log_inputs(run: TrainingRun) -> None:
    """Parameters, configs and what the model was trained on: data fingerprint, split, labels."""
    data, split = run.data, run.data.split
    params = {"training": run.config.model_dump(mode="json"), "lightgbm": run.fitted.params or {}}
    mlflow.log_params(_flatten("", params))
    mlflow.set_tags({**fingerprint(data.dataset), "split.kind": split.kind, **run.served.tags()})
    if run.assessment.notes:  # what the console warned about, kept with the run
        mlflow.set_tag("notes", "\n".join(run.assessment.notes)[:5000])
        mlflow.log_text("\n\n".join(run.assessment.notes), "notes.txt")
    if split.kind == "time":  # reports compare on hand-overs from here on: the model never saw them
        mlflow.set_tag("split.test_from", pd.Timestamp(split.test_from).isoformat())
    mlflow.log_dict(run.config.model_dump(mode="json"), "config/training.yaml")
    mlflow.log_dict(run.feature_config.model_dump(mode="json"), "config/features.yaml")
    mlflow.log_dict(run.rules.model_dump(mode="json", by_alias=True), "config/rules.yaml")
    mlflow.log_dict(data.contract.model_dump(mode="json"), "config/contract.yaml")
    mlflow.log_metrics({f"split_{k or 'dropped'}_rows": v for k, v in split.sizes().items()})
    mlflow.log_metrics({f"labels_{k}": v for k, v in label_summary(data.dataset.outcomes, data.labelled).items()})


def _log_results(run: TrainingRun, tmp: Path) -> None:
    """Test-period metrics (and the champion's), tables and plots."""
    evaluation, champion = run.assessment.evaluation, run.assessment.champion
    mlflow.log_metrics({k: v for k, v in evaluation.metrics.items() if np.isfinite(v)})
    mlflow.log_metric("best_iteration", float(run.fitted.model.booster.current_iteration()))
    for name, table in evaluation.tables.items():
        if not table.empty:
            path = tmp / f"{name}.csv"
            table.to_csv(path, index=name.startswith("reasons"))
            mlflow.log_artifact(str(path), "tables")
    for plot in evaluation.plots:
        mlflow.log_artifact(str(plot), "plots")
    if champion is not None:
        mlflow.log_metrics({f"champion_{k}": v for k, v in champion.items()})


def _log_model(client: MlflowClient, run: TrainingRun, run_id: str) -> str:
    """The model with its signature and an input example, registered and made `@challenger`;
    the gate's decision as tags. Returns the registered version."""
    model, name, decision = run.served.model, run.config.model_name, run.assessment.decision
    model.version = f"run:{run_id[:8]}"
    version = log_model(model, name, run.data.parts["test"].features)
    client.set_registered_model_alias(name, registry.CHALLENGER, version)
    for key, value in run.served.tags().items():  # what the served model learnt from, on the version
        client.set_model_version_tag(name, version, key, value)
    mlflow.set_tags(
        {"gate.promote": str(decision.promote), "gate.reason": decision.reason, "registered_version": version}
    )
    from training.versions import describe_version

    describe_version(client, name, version, run_id)  # the run's figures, data and gate on the version
    return version
