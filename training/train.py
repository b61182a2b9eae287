"""One training run: labels, point-in-time features, split, fit, evaluation, MLflow, registry.

Every run is an MLflow run with its parameters, config files, a data fingerprint, the metrics
(model and rule score side by side), tables and plots, and the model; each run registers a new
version as `@challenger`, and the gate moves `@champion` to it only if it is not worse than the
current champion on the newest period.
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
from sklearn.metrics import log_loss, roc_auc_score

from core.errors import LeadscoreError
from features.arrays import to_columns
from features.build import build_features, feature_names
from features.contract import ContractConfig, Dataset, folder_config, load_dataset
from features.fit import fit_features
from features.rules import RuleConfig
from features.settings import FeatureConfig
from training import registry
from training.evaluate import Evaluation, evaluate
from training.fit import Period, fit_model
from training.labels import label_outcomes, label_summary
from training.model import LeadModel
from training.pyfunc import LeadscorePyfunc, input_example, requirements, signature
from training.settings import TrainingConfig
from training.split import Split, time_split

STEPS = ("labels", "features", "fit", "evaluate", "log", "gate")


@dataclass
class TrainResult:
    run_id: str
    version: str
    promoted: bool
    gate_reason: str
    metrics: dict[str, float]
    split: dict[str, int]


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


def _with_segment(
    outcomes: pd.DataFrame, leads: pd.DataFrame, config: FeatureConfig, contract: ContractConfig
) -> pd.DataFrame:
    rows = outcomes.merge(leads, on="lead_id", how="left")
    fit = fit_features(
        to_columns(
            rows,
            [
                "company_size",
                "industry",
                "department",
                "region",
                "country",
                "source",
                "seniority",
                "job_title",
                "email_domain",
                *contract.extra_fit_columns,
                *contract.counter_columns,
            ],
        ),
        config,
        contract,
    )
    return rows.assign(segment=fit["segment"], source=fit["source"])


def champion_scores(
    client,
    name: str,
    rows: pd.DataFrame,
    features: pd.DataFrame,
    dataset: Dataset,
    y: np.ndarray,
    feature_config: FeatureConfig,
    contract: ContractConfig,
) -> dict[str, float] | None:
    """The current champion's ROC AUC and log-loss on the given hand-overs, or None."""
    if registry.version_of(client, name, registry.CHAMPION) is None:
        return None
    champion = registry.load_model(f"models:/{name}@{registry.CHAMPION}", client)
    if champion.feature_config != feature_config or champion.contract != contract:
        features = build_features(
            rows, dataset.events, "mql_at", champion.feature_config, champion.contract, population=dataset.leads
        )
    p = champion.probability(features)
    return {"roc_auc": float(roc_auc_score(y, p)), "log_loss": float(log_loss(y, p, labels=[0, 1]))}


def train(
    data: Path,
    config: TrainingConfig,
    feature_config: FeatureConfig,
    rules: RuleConfig,
    tracking_uri: str | None = None,
    search: bool = False,
    extra_outcomes: pd.DataFrame | None = None,
    progress: Callable[[str], None] | None = None,
) -> TrainResult:
    """Train, evaluate, log and register a model from a data folder (plus any new decisions)."""
    step = progress or (lambda _s: None)
    contract = folder_config(data)
    dataset = load_dataset(data, contract)
    if extra_outcomes is not None and len(extra_outcomes):
        merged = pd.concat([dataset.outcomes, extra_outcomes], ignore_index=True)
        merged = merged.drop_duplicates(["lead_id", "mql_at"], keep="last")
        dataset = Dataset(leads=dataset.leads, events=dataset.events, outcomes=merged)
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
    names = feature_names(feature_config, contract)
    params = None
    if search:
        from training.search import search_params

        params = search_params(parts["train"], parts["calibrate"], names, config, rules, feature_config, contract)
    model = fit_model(parts["train"], parts["calibrate"], names, config, rules, feature_config, contract, params)
    step("fit")
    client = registry.connect(tracking_uri)
    with tempfile.TemporaryDirectory() as tmp:
        report = _with_segment(dataset.outcomes, dataset.leads, feature_config, contract)
        evaluation = evaluate(model, parts["calibrate"], parts["test"], report, Path(tmp) / "plots")
        step("evaluate")
        test_rows = rows[split.mask("test")]
        champion = champion_scores(
            client,
            config.model_name,
            test_rows,
            parts["test"].features,
            dataset,
            parts["test"].y,
            feature_config,
            contract,
        )
        result = _log_run(
            client,
            model,
            config,
            feature_config,
            rules,
            contract,
            dataset,
            labelled,
            split,
            evaluation,
            parts,
            params,
            champion,
            Path(tmp),
            step,
        )
    return result


def _log_run(
    client,
    model: LeadModel,
    config: TrainingConfig,
    feature_config: FeatureConfig,
    rules: RuleConfig,
    contract: ContractConfig,
    dataset: Dataset,
    labelled: pd.DataFrame,
    split: Split,
    evaluation: Evaluation,
    parts: dict[str, Period],
    params,
    champion,
    tmp: Path,
    step,
) -> TrainResult:
    challenger = {"roc_auc": evaluation.metrics["model_roc_auc"], "log_loss": evaluation.metrics["model_log_loss"]}
    decision = registry.gate(challenger, champion, config.gate)
    with mlflow.start_run(experiment_id=registry.experiment_id(client, config.experiment)) as run:
        mlflow.log_params(_flatten("", {"training": config.model_dump(mode="json"), "lightgbm": params or {}}))
        mlflow.set_tags({**fingerprint(dataset), "split.kind": split.kind})
        if split.kind == "time":  # reports compare on hand-overs from here on: the model never saw them
            mlflow.set_tag("split.test_from", pd.Timestamp(split.test_from).isoformat())
        mlflow.log_dict(config.model_dump(mode="json"), "config/training.yaml")
        mlflow.log_dict(feature_config.model_dump(mode="json"), "config/features.yaml")
        mlflow.log_dict(rules.model_dump(mode="json", by_alias=True), "config/rules.yaml")
        mlflow.log_dict(contract.model_dump(mode="json"), "config/contract.yaml")
        sizes = split.sizes()
        mlflow.log_metrics({f"split_{k or 'dropped'}_rows": v for k, v in sizes.items()})
        mlflow.log_metrics({f"labels_{k}": v for k, v in label_summary(dataset.outcomes, labelled).items()})
        mlflow.log_metrics({k: v for k, v in evaluation.metrics.items() if np.isfinite(v)})
        mlflow.log_metric("best_iteration", float(model.booster.current_iteration()))
        for name, table in evaluation.tables.items():
            if not table.empty:
                path = tmp / f"{name}.csv"
                table.to_csv(path, index=name.startswith("reasons"))
                mlflow.log_artifact(str(path), "tables")
        for plot in evaluation.plots:
            mlflow.log_artifact(str(plot), "plots")
        if champion is not None:
            mlflow.log_metrics({f"champion_{k}": v for k, v in champion.items()})
        model.version = f"run:{run.info.run_id[:8]}"
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=LeadscorePyfunc(model),
            signature=signature(model),
            input_example=input_example(parts["test"].features),
            pip_requirements=requirements(),
            registered_model_name=config.model_name,
        )
        version = str(info.registered_model_version)
        client.set_registered_model_alias(config.model_name, registry.CHALLENGER, version)
        mlflow.set_tags(
            {"gate.promote": str(decision.promote), "gate.reason": decision.reason, "registered_version": version}
        )
        step("log")
        if decision.promote:
            registry.promote(client, config.model_name, version)
        step("gate")
        return TrainResult(run.info.run_id, version, decision.promote, decision.reason, evaluation.metrics, sizes)
