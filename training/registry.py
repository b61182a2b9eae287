"""MLflow tracking and registry: where runs go, aliases, the promotion gate, promote, rollback.

Default tracking store: `mlflow.db` (SQLite) in the current folder, artifacts in `mlartifacts/`
beside it; `MLFLOW_TRACKING_URI` points elsewhere (a server, a database). Models move between
`@challenger` and `@champion` aliases, never through the deprecated stages.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import mlflow
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from core.errors import LeadscoreError
from training.model import LeadModel
from training.settings import GateConfig

CHAMPION, CHALLENGER = "champion", "challenger"
PREVIOUS = "previous_champion"


def tracking_uri(uri: str | None = None) -> str:
    return uri or os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{Path.cwd() / 'mlflow.db'}"


def connect(uri: str | None = None) -> MlflowClient:
    """Point MLflow at the tracking store and return a client for it."""
    uri = tracking_uri(uri)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def experiment_id(client: MlflowClient, name: str) -> str:
    """The experiment's id, created on first use; a local SQLite store keeps artifacts beside it."""
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    location = None
    uri = client.tracking_uri
    if uri.startswith("sqlite:///"):
        location = (Path(uri.removeprefix("sqlite:///")).parent / "mlartifacts").resolve().as_uri()
    return client.create_experiment(name, artifact_location=location)


def version_of(client: MlflowClient, name: str, alias: str):
    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


def load_model(uri: str, client: MlflowClient | None = None) -> LeadModel:
    """The `LeadModel` inside a logged model (models:/NAME@ALIAS, models:/NAME/VERSION, runs:/...)."""
    try:
        loaded = mlflow.pyfunc.load_model(uri)
    except (MlflowException, OSError) as exc:
        raise LeadscoreError(f"cannot load model {uri}: {str(exc).splitlines()[0]}") from None
    model = loaded.unwrap_python_model().model
    if uri.startswith("models:/") and client is not None:
        name_ref = uri.removeprefix("models:/")
        if "@" in name_ref:
            name, alias = name_ref.split("@", 1)
            found = version_of(client, name, alias)
            if found is not None:
                model.version = f"{name}/{found.version}"
        elif "/" in name_ref:
            model.version = name_ref
    return model


@dataclass(frozen=True)
class GateResult:
    promote: bool
    reason: str


def gate(challenger: dict[str, float], champion: dict[str, float] | None, config: GateConfig) -> GateResult:
    """Promote only if the challenger is not worse than the champion on the newest period."""
    if champion is None:
        return GateResult(True, "no champion yet")
    auc_drop = champion["roc_auc"] - challenger["roc_auc"]
    loss_rise = challenger["log_loss"] - champion["log_loss"]
    if auc_drop > config.max_auc_drop:
        return GateResult(False, f"ROC AUC {challenger['roc_auc']:.4f} vs champion {champion['roc_auc']:.4f}")
    if loss_rise > config.max_log_loss_rise:
        return GateResult(False, f"log-loss {challenger['log_loss']:.4f} vs champion {champion['log_loss']:.4f}")
    return GateResult(
        True,
        f"ROC AUC {challenger['roc_auc']:.4f} (champion {champion['roc_auc']:.4f}), "
        f"log-loss {challenger['log_loss']:.4f} (champion {champion['log_loss']:.4f})",
    )


def promote(client: MlflowClient, name: str, version: str) -> str | None:
    """Make `version` the champion; remember the one it replaces for `rollback`."""
    try:
        client.get_model_version(name, str(version))
    except MlflowException:
        raise LeadscoreError(f"model {name} has no version {version}") from None
    current = version_of(client, name, CHAMPION)
    current_version = str(current.version) if current is not None else None  # an int from some stores
    if current_version == str(version):
        return None
    if current_version is not None:
        client.set_registered_model_tag(name, PREVIOUS, current_version)
    client.set_registered_model_alias(name, CHAMPION, str(version))
    return current_version


def rollback(client: MlflowClient, name: str) -> tuple[str, str]:
    """Move `@champion` back to the version it replaced; returns (from, to)."""
    try:
        registered = client.get_registered_model(name)
    except MlflowException:
        raise LeadscoreError(f"no registered model named {name}") from None
    previous = registered.tags.get(PREVIOUS)
    current = version_of(client, name, CHAMPION)
    if not previous or current is None:
        raise LeadscoreError(f"model {name}: no earlier champion to roll back to")
    client.set_registered_model_alias(name, CHAMPION, previous)
    client.set_registered_model_tag(name, PREVIOUS, str(current.version))
    return str(current.version), previous
