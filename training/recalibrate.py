"""`leadscore recalibrate`: let the calibration follow the market between retrains.

When the share of leads sales accept moves (a new market, a new sales policy), the ranking of a
model usually still holds but its probabilities do not: "30%" no longer means 30 of 100. Retraining
needs months of matured history; recalibrating needs only recent decisions and seconds. It refits
one map on the model's calibrated log-odds (Platt scaling: `LogisticRegression` on logit(p)) from
decided hand-overs since a date, keeps the booster and the per-segment calibration beneath it,
and registers the result as a new version, moved to `@champion` only if it lowers the log-loss on
the newest slice of those decisions, which the map under test never saw.

The model's probability for each decided hand-over comes from the data folder (features rebuilt
as of each hand-over, `decisions_from_folder`) or from the service's store (the score the same
model version gave the lead at or before its hand-over, `decisions_from_store`).

Only decisions the model never learnt from count. For a model of a time-ordered history that is
every hand-over after its `trained_through`; for a model of a flat snapshot (no hand-over times:
every hand-over carries the export time) it is every lead the model never saw, by lead id
(`LeadModel.learnt_leads`): a later export of the same CRM, with the leads decided since, can
recalibrate it whatever its export time. A recalibrated model counts the decisions its map learnt
from as seen too, so a second recalibration needs newer ones.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss

from core.decisions import placed
from core.errors import LeadscoreError
from training.labels import label_outcomes
from training.metrics import expected_calibration_error
from training.model import LeadModel, recalibrated
from training.refit import lead_keys
from training.settings import LabelPolicy

MIN_ROWS = 200  # decided hand-overs to recalibrate on
MIN_LATER = 50  # of them in the later slice that gates the new map


@dataclass(frozen=True)
class Decided:
    """Decided hand-overs with the model's probability for each as of its hand-over."""

    mql_at: pd.Series  # UTC
    probability: np.ndarray
    y: np.ndarray
    source: str  # where they came from, in words
    keys: np.ndarray | None = None  # the leads' keys (`training.refit.lead_keys`), when the model counts leads


@dataclass(frozen=True)
class Recalibration:
    """A new map and how it did on the later slice."""

    slope: float
    intercept: float
    rows: int
    later_rows: int
    later_from: pd.Timestamp
    before: dict[str, float]  # log-loss, ECE and acceptance vs mean probability on the later slice, as is
    after: dict[str, float]  # the same, with the map fitted on the earlier rows only
    promote: bool
    keys: np.ndarray | None = None  # the keys of the leads the map learnt from (`Decided.keys`)

    def tags(self) -> dict[str, str]:
        out = {"recalibration.rows": str(self.rows), "recalibration.later_rows": str(self.later_rows)}
        out["recalibration.later_from"] = self.later_from.isoformat()
        out["recalibration.map"] = f"logit(p') = {self.slope:.4f} * logit(p) + {self.intercept:.4f}"
        out["gate.promote"] = str(self.promote)
        out["gate.reason"] = self.reason
        return out

    @property
    def reason(self) -> str:
        change = "lowers" if self.promote else "does not lower"
        return (
            f"the new calibration {change} the log-loss on the {self.later_rows:,} newest decisions "
            f"({self.before['log_loss']:.4f} -> {self.after['log_loss']:.4f})"
        )


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=float), 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p)).reshape(-1, 1)


def _platt(p: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    fitted = LogisticRegression(C=np.inf).fit(_logit(p), y)
    return float(fitted.coef_[0, 0]), float(fitted.intercept_[0])


def _figures(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    return {
        "log_loss": float(log_loss(y, p, labels=[0, 1])),
        "ece": expected_calibration_error(y, p),
        "mean_probability": float(np.mean(p)),
        "acceptance": float(np.mean(y)),
    }


def recalibrate(decided: Decided, later_fraction: float = 0.3) -> Recalibration:
    """Fit the map on the earlier decisions, gate it on the later slice (newest `later_fraction`),
    and refit it on all of them for the model to serve."""
    # by time; hand-overs at one time (all of a flat snapshot's) in a seeded random order, not the file's
    shuffle = np.random.default_rng(0).random(len(decided.y))
    order = np.lexsort((shuffle, decided.mql_at.to_numpy()))
    p, y, when = decided.probability[order], decided.y[order], decided.mql_at.iloc[order]
    if len(y) < MIN_ROWS or len(np.unique(y)) < 2:
        raise LeadscoreError(
            f"recalibrate: {len(y)} decided hand-overs new to the model in {decided.source}; at least {MIN_ROWS}, "
            "with both outcomes, are needed (give an earlier --since, or a later export holding more decisions)"
        )
    cut = round(len(y) * (1 - later_fraction))
    later = slice(cut, None)
    if len(y) - cut < MIN_LATER or len(np.unique(y[later])) < 2 or len(np.unique(y[:cut])) < 2:
        raise LeadscoreError(f"recalibrate: too few decisions of both outcomes to test a new calibration on ({len(y)})")
    slope, intercept = _platt(p[:cut], y[:cut])
    before = _figures(y[later], p[later])
    after = _figures(y[later], recalibrated(p[later], ((slope, intercept),)))
    slope_all, intercept_all = _platt(p, y)
    return Recalibration(
        slope_all,
        intercept_all,
        rows=len(y),
        later_rows=len(y) - cut,
        later_from=pd.Timestamp(when.iloc[cut]),
        before=before,
        after=after,
        promote=after["log_loss"] < before["log_loss"],
        keys=decided.keys,
    )


def recalibrated_model(
    model: LeadModel, result: Recalibration, newest: pd.Timestamp, keep_volume: bool = True
) -> LeadModel:
    """`model` with the new map after its existing ones (the booster and calibrators shared). With
    `keep_volume` (thresholds chosen for sales' capacity), each MQL threshold moves through the map
    too, so the same leads stay MQLs: a recalibration changes what a probability says, not how many
    leads sales get a week (a threshold of 1, "send nobody", stays 1)."""
    through = max(t for t in (model.trained_through, newest) if t is not None)
    learnt = model.learnt_leads
    if learnt is not None and result.keys is not None:  # the map's leads are seen from now on
        learnt = np.union1d(learnt, result.keys)
    new_map = (result.slope, result.intercept)
    thresholds = dict(model.thresholds)
    if keep_volume:
        moved = recalibrated(np.array(list(thresholds.values()), dtype=float), (new_map,))
        thresholds = {s: t if t >= 1 else float(m) for (s, t), m in zip(thresholds.items(), moved, strict=True)}
    return replace(
        model,
        recalibration=(*model.recalibration, new_map),
        trained_through=through,
        thresholds=thresholds,
        learnt_leads=learnt,
    )


def labelled(outcomes: pd.DataFrame, policy: LabelPolicy, since: pd.Timestamp | None) -> pd.DataFrame:
    """Decided, mature hand-overs (the label policy's), at or after `since` when given."""
    rows = label_outcomes(outcomes, policy)
    return rows if since is None else rows[rows["mql_at"] >= since]


def decisions_from_folder(model: LeadModel, data: Path, policy: LabelPolicy, since: pd.Timestamp | None) -> Decided:
    """The folder's decided hand-overs since `since` that the model never learnt from (see the
    module's docstring), each with the model's probability as of its hand-over (features rebuilt
    point-in-time); a refusal naming the rule when none is left."""
    from features.build import build_features
    from features.contract import folder_config, load_dataset

    dataset = load_dataset(data, folder_config(data))
    rows = labelled(dataset.outcomes, policy, since).merge(dataset.leads, on="lead_id", how="inner")
    keys = None
    if model.learnt_leads is not None:  # a flat snapshot's model: new leads, whatever the export time
        keys = lead_keys(rows["lead_id"])
        new = ~np.isin(keys, model.learnt_leads)
        rows, keys = rows[new], keys[new]
    elif model.trained_through is not None:  # its probabilities on what it learnt from are no test
        rows = rows[rows["mql_at"] > model.trained_through]
    rows = rows.reset_index(drop=True)
    if rows.empty:
        raise LeadscoreError(_nothing_new(model, data, since))
    features = build_features(
        rows, dataset.events, "mql_at", model.feature_config, model.contract, population=dataset.leads
    )
    return Decided(rows["mql_at"], model.probability(features), rows["label"].to_numpy(), str(data), keys)


def _nothing_new(model: LeadModel, data: Path, since: pd.Timestamp | None) -> str:
    """Why a folder gives no decision to recalibrate on: the rule that counts a decision as new to
    the model, and what would let the recalibration run."""
    said = f"recalibrate: {data} holds no decided hand-overs" + (f" since {since}" if since else "")
    if model.learnt_leads is not None:
        return (
            f"{said} of leads the model never saw: it was trained on a flat snapshot (no hand-over times), so "
            f"only leads outside the {len(model.learnt_leads):,} it learnt from count, whatever the export time. "
            "Give a later export of the CRM that holds leads decided since (the same mapping will do)"
        )
    if model.trained_through is None:
        return f"{said}: give a folder whose outcomes hold decided hand-overs"
    seen = pd.Timestamp(model.trained_through)
    return (
        f"{said} after {seen:%Y-%m-%d %H:%M}, the newest the model learnt from: only hand-overs after it count. "
        "Give a later export holding the decisions on hand-overs since then"
    )


def decisions_from_store(model: LeadModel, store, policy: LabelPolicy, since: pd.Timestamp | None) -> Decided:
    """The decisions in force in the service's store since `since`, each with the probability this
    model version gave the lead at or before its hand-over (its decision time when the CRM sent no
    hand-over), from the score log; decisions without such a score are left out."""
    outcomes = store.latest_decisions()
    outcomes = outcomes.assign(mql_at=outcomes["handover"].fillna(outcomes["decided_at"]))  # placed by the store
    rows = labelled(outcomes, policy, since)
    logged = store.read_scores(["probability"], model_version=model.version, model_only=True)
    if rows.empty or logged.empty:
        raise LeadscoreError(
            f"recalibrate: the store holds {len(rows)} decided hand-overs and {len(logged)} scores by "
            f"{model.version}: both are needed"
        )
    on = placed(rows["lead_id"], rows["mql_at"], logged, "scored_at")
    joined = rows.assign(probability=on["probability"]).dropna(subset=["probability"])
    source = f"the store ({len(joined):,} of {len(rows):,} decisions have a score by {model.version})"
    return Decided(joined["mql_at"], joined["probability"].to_numpy(float), joined["label"].to_numpy(), source)


def _example(client, name: str, number: str) -> pd.DataFrame | None:
    """The input example of registered version `number` (the feature rows it was logged with): the
    recalibrated version takes the same inputs, and logged without an example MLflow warns."""
    import mlflow
    from mlflow.models import Model

    uri = client.get_model_version_download_uri(name, number)
    local = mlflow.artifacts.download_artifacts(artifact_uri=uri, tracking_uri=client.tracking_uri)
    return Model.load(local).load_input_example(local)


def register(
    client, name: str, experiment: str, model: LeadModel, result: Recalibration, source: str, since
) -> tuple[str, str]:
    """The recalibrated model as an MLflow run and a new registered version (under the name of the
    version it recalibrates), `@challenger`, and `@champion` when the gate passes and the model it
    recalibrates is the champion (the gate compared the new map with that model only). Returns the
    version and what became of it, in words."""
    import mlflow

    from training import registry
    from training.pyfunc import log_model

    parent, _, number = model.version.partition("/")  # NAME/VERSION when loaded from the registry
    if number.isdigit():
        name = parent
    champion = registry.version_of(client, name, registry.CHAMPION)
    of_champion = champion is not None and str(champion.version) == number

    with registry.logging_to(client):
        experiment = registry.experiment_id(client, experiment)
        with mlflow.start_run(experiment_id=experiment, run_name="recalibrate"):
            mlflow.set_tags({**result.tags(), "recalibration.of": model.version, "recalibration.source": source[:500]})
            mlflow.set_tag("recalibration.since", str(since) if since is not None else "all")
            for when, figures in (("before", result.before), ("after", result.after)):
                mlflow.log_metrics({f"later_{k}_{when}": v for k, v in figures.items()})
            example = _example(client, name, number) if number.isdigit() else None
            version = log_model(model, name, example)
    client.set_registered_model_alias(name, registry.CHALLENGER, version)
    for key, value in result.tags().items():
        client.set_model_version_tag(name, version, key, value)
    if result.promote and of_champion:
        registry.promote(client, name, version)
        return version, f"promoted to @champion: {result.reason}"
    if result.promote:
        return version, (
            f"left as @challenger: {result.reason}, but {model.version} is not the current @champion, which the "
            f"gate did not compare with (promote by hand: leadscore promote {version})"
        )
    return version, f"left as @challenger: {result.reason}"
