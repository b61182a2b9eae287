"""Step 5 of a training run: the `TrainingRun` as an MLflow run and a registered version."""

from __future__ import annotations

import hashlib
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow import MlflowClient

from features.contract import Dataset
from training import registry
from training.feedback import log_feedback
from training.labels import label_summary
from training.profile import build_profile, log_profile
from training.pyfunc import log_model
from training.run import TrainingRun
from training.versions import describe_version


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


def log_run(client: MlflowClient, run: TrainingRun, tmp: Path) -> tuple[str, str]:
    """Step 5: the run in the client's store, its model registered as `@challenger`; returns the
    run id and the registered version. The fluent API writes it (see `registry.logging_to`)."""
    with registry.logging_to(client):
        experiment = registry.experiment_id(client, run.config.experiment)
        with mlflow.start_run(experiment_id=experiment) as active:
            _log_inputs(run)
            if run.feedback is not None:
                log_feedback(run.feedback, tmp)
            _log_results(run, tmp)
            _log_profile(run)
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
    accounts = run.fitted.model.accounts
    mlflow.set_tag("accounts.kept", accounts.why if accounts is not None else "no account answer (see the notes)")


def _log_profile(run: TrainingRun) -> None:
    """The reference profile (`training/profile.py`) of the served model on the test period: its
    distributions on every hand-over of the period (`_period_handovers`), its calibration on the
    evaluated model's test part."""
    test = run.data.parts["test"]
    features = _period_handovers(run)
    probability = run.assessment.evaluation.probability
    profile = build_profile(
        run.served.model, test.features, test.y, probability, features["as_of"], population=features
    )
    log_profile(profile)


def _period_handovers(run: TrainingRun) -> pd.DataFrame:
    """The features, as of each hand-over, of every hand-over of the test period (from the time
    split's `test_from`; a flat snapshot: those of the test part's accounts): the population the
    service scores. The test part alone leaves out the accounts first seen earlier (the split
    keeps an account in its oldest part), the hand-overs the label policy excludes (spam,
    duplicates) and the open ones, all of which the service scores too."""
    from features.build import build_features

    data, split = run.data, run.data.split
    outcomes = data.dataset.outcomes
    if split.kind == "time":
        keep = (pd.to_datetime(outcomes["mql_at"], utc=True) >= split.test_from).to_numpy()
    else:
        accounts = set(data.rows.loc[split.mask("test"), "account_id"])
        leads = data.dataset.leads
        keep = outcomes["lead_id"].isin(leads.loc[leads["account_id"].isin(accounts), "lead_id"]).to_numpy()
    rows = outcomes[keep].merge(data.dataset.leads, on="lead_id", how="inner").reset_index(drop=True)
    return build_features(
        rows, data.dataset.events, "mql_at", run.feature_config, data.contract, population=data.dataset.leads
    )


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

    describe_version(client, name, version, run_id)  # the run's figures, data and gate on the version
    return version
