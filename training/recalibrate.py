"""`leadscore recalibrate`: let the calibration follow the market between retrains.

When the share of leads sales accept moves (a new market, a new sales policy), the ranking of a
model usually still holds but its probabilities do not: "30%" no longer means 30 of 100. Retraining
needs months of matured history; recalibrating needs only recent decisions and seconds. It refits
one map on the model's calibrated log-odds (Platt scaling: `LogisticRegression` on logit(p)) from
decided hand-overs since a date, keeps the booster and the per-segment calibration beneath it,
and registers the result as a new version, moved to `@champion` only if it lowers the log-loss on
the newest slice of those decisions, which the map under test never saw. A segment with enough
decisions of both outcomes (`RecalibrationConfig`: 200 decided, 30 of each by default) gets an
intercept of its own (the slope shared): when acceptance doubles in one segment only, one map for
all cannot follow it, and would move the others; the console and the run report ECE before and
after per segment. The model applies the map by the segment it knows at scoring time.

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

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss

from core.decisions import placed
from core.errors import LeadscoreError
from training.feedback import Counts, counts_of
from training.labels import LABELLED, fates
from training.metrics import expected_calibration_error
from training.model import ALL as EVERY
from training.model import LeadModel, recalibrated
from training.refit import lead_keys
from training.settings import LabelPolicy, RecalibrationConfig

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
    segment: np.ndarray | None = None  # each hand-over's segment (None: one map for all)
    counts: Counts | None = None  # what became of the decisions read (`training.feedback.Counts`)


@dataclass(frozen=True)
class SegmentFit:
    """One segment on the later slice: its rows, ECE as is and after the map fitted on the earlier
    rows, and whether it has a map of its own."""

    segment: str
    rows: int
    later_rows: int
    own: bool
    ece_before: float | None
    ece_after: float | None


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
    own: dict[str, tuple[float, float]] = field(default_factory=dict)  # segment -> its own map (fitted on all)
    segments: tuple[SegmentFit, ...] = ()
    # the later slice, for the profile's calibration: labels, probabilities after the earlier map, segments
    later: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    @property
    def map(self):
        """The map for the model (`training.model.recalibrated`): one (slope, intercept), or per segment."""
        if not self.own:
            return (self.slope, self.intercept)
        return {EVERY: (self.slope, self.intercept), **self.own}

    def tags(self) -> dict[str, str]:
        out = {"recalibration.rows": str(self.rows), "recalibration.later_rows": str(self.later_rows)}
        out["recalibration.later_from"] = self.later_from.isoformat()
        out["recalibration.map"] = f"logit(p') = {self.slope:.4f} * logit(p) + {self.intercept:.4f}"
        for segment, (slope, intercept) in self.own.items():
            out[f"recalibration.map.{segment}"] = f"logit(p') = {slope:.4f} * logit(p) + {intercept:.4f}"
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


def _own_segments(y: np.ndarray, segment: np.ndarray | None, config: RecalibrationConfig) -> list[str]:
    """The segments with enough decided hand-overs of both outcomes for a map of their own."""
    if segment is None or not config.per_segment:
        return []
    out = []
    for name in sorted(set(segment.astype(str))):
        rows = y[segment == name]
        each = min(int((rows == 1).sum()), int((rows == 0).sum()))
        if len(rows) >= config.min_segment_decided and each >= config.min_segment_each:
            out.append(name)
    if out and np.isin(segment, out).all():  # the largest stays the base the others shift from
        out.remove(max(out, key=lambda name: int((segment == name).sum())))
    return out


def _fit_maps(p, y, segment, own: list[str]) -> tuple[tuple[float, float], dict[str, tuple[float, float]]]:
    """Platt scaling with an intercept of its own for each segment of `own`: one
    `LogisticRegression` on logit(p) and an indicator per such segment, so that every segment
    shares the slope (the ranking's spread, which a market shift leaves alone) and a segment whose
    acceptance moved gets its own shift of the log-odds (doubled odds: + log 2). Returns the shared
    map and each own segment's (slope, intercept)."""
    if not own:
        return _platt(p, y), {}
    x = np.column_stack([_logit(p), *((segment == name).astype(float) for name in own)])
    fitted = LogisticRegression(C=np.inf).fit(x, y)
    slope, intercept = float(fitted.coef_[0, 0]), float(fitted.intercept_[0])
    shifts = {name: (slope, intercept + float(fitted.coef_[0, i + 1])) for i, name in enumerate(own)}
    return (slope, intercept), shifts


def _mapped(p, segment, shared, own) -> np.ndarray:
    return recalibrated(p, ({EVERY: shared, **own} if own else shared,), segment)


def _by_segment(y, before, after, segment, all_segments, own) -> tuple[SegmentFit, ...]:
    """ECE as is and after the map, per segment of the later slice."""
    out = []
    for name in sorted(set(all_segments.astype(str))):
        rows = segment == name
        ece = [expected_calibration_error(y[rows], q[rows]) if rows.any() else None for q in (before, after)]
        total = int((all_segments == name).sum())
        out.append(SegmentFit(name, total, int(rows.sum()), name in own, *ece))
    return tuple(out)


def recalibrate(
    decided: Decided, later_fraction: float = 0.3, config: RecalibrationConfig | None = None
) -> Recalibration:
    """Fit the maps on the earlier decisions (one per segment with enough of them, one shared by the
    rest), gate them on the later slice (newest `later_fraction`), and refit them on all of them
    for the model to serve."""
    config = config or RecalibrationConfig()
    # by time; hand-overs at one time (all of a flat snapshot's) in a seeded random order, not the file's
    shuffle = np.random.default_rng(0).random(len(decided.y))
    order = np.lexsort((shuffle, decided.mql_at.to_numpy()))
    p, y, when = decided.probability[order], decided.y[order], decided.mql_at.iloc[order]
    segment = decided.segment[order].astype(str) if decided.segment is not None else np.full(len(y), EVERY)
    config = config if decided.segment is not None else config.model_copy(update={"per_segment": False})
    if len(y) < MIN_ROWS or len(np.unique(y)) < 2:
        counts = f" ({decided.counts.sentence()})" if decided.counts is not None else ""
        raise LeadscoreError(
            f"recalibrate: {len(y)} decided hand-overs new to the model in {decided.source}{counts}; at least "
            f"{MIN_ROWS}, with both outcomes, are needed (give an earlier --since, or a later export holding more "
            "decisions)"
        )
    cut = round(len(y) * (1 - later_fraction))
    later = slice(cut, None)
    if len(y) - cut < MIN_LATER or len(np.unique(y[later])) < 2 or len(np.unique(y[:cut])) < 2:
        raise LeadscoreError(f"recalibrate: too few decisions of both outcomes to test a new calibration on ({len(y)})")
    own = [str(name) for name in _own_segments(y[:cut], segment[:cut], config)]
    shared, maps = _fit_maps(p[:cut], y[:cut], segment[:cut], own)
    after_p = _mapped(p[later], segment[later], shared, maps)
    before = _figures(y[later], p[later])
    after = _figures(y[later], after_p)
    (slope_all, intercept_all), own_all = _fit_maps(p, y, segment, own)
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
        own=own_all,
        segments=_by_segment(y[later], p[later], after_p, segment[later], segment, own),
        later=(y[later], after_p, segment[later]),
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
    new_map = result.map
    thresholds = dict(model.thresholds)
    for segment in result.own:  # a segment with a map of its own keeps the threshold it had, its own from now on
        thresholds.setdefault(segment, thresholds[EVERY])
    if keep_volume:  # each threshold through its segment's map (`EVERY`'s through the shared one)
        moved = recalibrated(np.array(list(thresholds.values()), dtype=float), (new_map,), list(thresholds))
        thresholds = {s: t if t >= 1 else float(m) for (s, t), m in zip(thresholds.items(), moved, strict=True)}
    return replace(
        model,
        recalibration=(*model.recalibration, new_map),
        trained_through=through,
        thresholds=thresholds,
        learnt_leads=learnt,
    )


def labelled(
    outcomes: pd.DataFrame, policy: LabelPolicy, since: pd.Timestamp | None, **given
) -> tuple[pd.DataFrame, Counts]:
    """Decided, mature hand-overs (the label policy's, `training.labels.fates`) at or after `since`
    when given, and the counts of each rule (`given`: the counts of rules applied before)."""
    fate = fates(outcomes, policy)["fate"] if len(outcomes) else pd.Series(dtype=str)
    after = np.ones(len(outcomes), bool) if since is None else (outcomes["mql_at"] >= since).to_numpy()
    counts = counts_of(fate[after], outcomes["mql_at"][after], policy, before_since=int((~after).sum()), **given)
    counts = replace(counts, since=None if since is None else f"{since:%Y-%m-%d}")
    kept = outcomes[after & (fate == LABELLED).to_numpy()]
    return label_rows(kept, policy), counts


def label_rows(rows: pd.DataFrame, policy: LabelPolicy) -> pd.DataFrame:
    """`rows` (all labelled by `fates`) with their `label` and `weight`."""
    fate = fates(rows, policy) if len(rows) else pd.DataFrame({"label": [], "weight": []})
    return rows.assign(label=fate["label"].astype(int), weight=fate["weight"].astype(float))


def _newer(model: LeadModel, rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray | None, str | None]:
    """Which `rows` the model never learnt from (see the module's docstring), their lead keys
    when the model counts leads, and what it learnt through, in words."""
    if model.learnt_leads is not None:  # a flat snapshot's model: new leads, whatever the export time
        keys = lead_keys(rows["lead_id"])
        return ~np.isin(keys, model.learnt_leads), keys, None
    if model.trained_through is not None:  # its probabilities on what it learnt from are no test
        seen = pd.Timestamp(model.trained_through)
        return (rows["mql_at"] > seen).to_numpy(), None, f"{seen:%Y-%m-%d %H:%M}"
    return np.ones(len(rows), bool), None, None


def decisions_from_folder(model: LeadModel, data: Path, policy: LabelPolicy, since: pd.Timestamp | None) -> Decided:
    """The folder's decided hand-overs since `since` that the model never learnt from (see the
    module's docstring), each with the model's probability as of its hand-over (features rebuilt
    point-in-time); a refusal naming the rules when none is left."""
    from features.build import build_features
    from features.contract import folder_config, load_dataset

    dataset = load_dataset(data, folder_config(data))
    outcomes = dataset.outcomes
    rows, counts = labelled(outcomes, policy, since, read=len(outcomes), merged=len(outcomes))
    known = rows["lead_id"].isin(dataset.leads["lead_id"]).to_numpy()
    rows = rows[known].merge(dataset.leads, on="lead_id", how="inner").reset_index(drop=True)
    new, keys, through = _newer(model, rows)
    rows, keys = rows[new].reset_index(drop=True), (keys[new] if keys is not None else None)
    counts = replace(
        counts, unresolved=int((~known).sum()), not_newer=int((~new).sum()), labelled=len(rows), learnt_through=through
    )
    if rows.empty:
        raise LeadscoreError(_nothing_new(model, data, since, counts))
    features = build_features(
        rows, dataset.events, "mql_at", model.feature_config, model.contract, population=dataset.leads
    )
    return Decided(
        rows["mql_at"], model.probability(features), rows["label"].to_numpy(), str(data), keys,
        features["segment"].to_numpy(dtype=str), counts,
    )  # fmt: skip


def _nothing_new(model: LeadModel, data, since: pd.Timestamp | None, counts: Counts) -> str:
    """Why no decision is left to recalibrate on: each rule that left decisions out, with its count,
    and what would let the recalibration run."""
    said = f"recalibrate: {data} holds no decided hand-overs" + (f" since {since:%Y-%m-%d}" if since else "")
    said += f" that can calibrate the model ({counts.merged:,} in force: {'; '.join(counts.reasons()) or 'none'})"
    if model.learnt_leads is not None and counts.not_newer:
        return (
            f"{said}: only decisions of leads the model never saw count. It was trained on a flat snapshot (no "
            f"hand-over times), so only leads outside the {len(model.learnt_leads):,} it learnt from count, "
            "whatever the export time. Give a later export of "
            "the CRM that holds leads decided since (the same mapping will do)"
        )
    if counts.not_newer:
        return f"{said}. Give decisions on hand-overs after {counts.learnt_through} (a later export, or the store)"
    if counts.too_young:
        return f"{said}. Wait until they mature, or set labels.mature_after_days lower in --training-config"
    return f"{said}. Give a folder or store whose outcomes hold decided hand-overs"


def decisions_from_store(model: LeadModel, store, policy: LabelPolicy, since: pd.Timestamp | None) -> Decided:
    """The decisions in force in the service's store since `since` that the model never learnt
    from, each with the probability this model version gave the lead at or before its hand-over
    (its decision time when the CRM sent no hand-over), from the score log; decisions without such
    a score are left out (unresolved)."""
    every = store.decisions()
    outcomes = every[every["status"] == "latest"].reset_index(drop=True)
    outcomes = outcomes.assign(mql_at=outcomes["handover"].fillna(outcomes["decided_at"]))  # placed by the store
    superseded = int((every["status"] == "superseded").sum())
    rows, counts = labelled(outcomes, policy, since, read=len(every), merged=len(outcomes), superseded=superseded)
    new, _, through = _newer(replace(model, learnt_leads=None), rows)  # the store's leads: by time
    rows = rows[new].reset_index(drop=True)
    logged = store.read_scores(["probability", "segment"], model_version=model.version, model_only=True)
    on = placed(rows["lead_id"], rows["mql_at"], logged, "scored_at") if len(logged) else None
    joined = rows.iloc[0:0] if on is None else rows.assign(probability=on["probability"], segment=on["segment"])
    joined = joined.dropna(subset=["probability"])
    counts = replace(
        counts, not_newer=int((~new).sum()), unresolved=len(rows) - len(joined), labelled=len(joined),
        learnt_through=through,
    )  # fmt: skip
    if joined.empty:
        scores = f"; {len(logged):,} scores by {model.version} in the score log"
        raise LeadscoreError(_nothing_new(model, "the store", since, counts) + scores)
    source = f"the store ({len(joined):,} of {len(rows):,} decisions have a score by {model.version})"
    known = joined["segment"].notna().all()  # a score log row without its segment: one map for all
    segment = joined["segment"].astype(str).to_numpy() if known else None
    return Decided(
        joined["mql_at"], joined["probability"].to_numpy(float), joined["label"].to_numpy(), source,
        segment=segment, counts=counts,
    )  # fmt: skip


def _example(client, name: str, number: str) -> pd.DataFrame | None:
    """The input example of registered version `number` (the feature rows it was logged with): the
    recalibrated version takes the same inputs, and logged without an example MLflow warns."""
    import mlflow
    from mlflow.models import Model

    uri = client.get_model_version_download_uri(name, number)
    local = mlflow.artifacts.download_artifacts(artifact_uri=uri, tracking_uri=client.tracking_uri)
    return Model.load(local).load_input_example(local)


def recalibrated_profile(client, name: str, parent: str, model: LeadModel, result: Recalibration):
    """The parent version's reference profile (`training/profile.py`) with the calibration of each
    segment of the later slice recomputed there: the probabilities after the map fitted on the
    earlier decisions only (held out from it), against the decisions; the parent's figures stay for
    segments without later decisions. None when the parent has no profile."""
    from training.profile import ALL, Profile, calibration_of

    try:
        profile = Profile.load(parent, client, name)
    except LeadscoreError:
        return None
    y, p, segment = result.later
    where = f"recalibration: the {result.later_rows:,} newest decisions (from {result.later_from:%Y-%m-%d})"
    threshold = model.threshold(segment)
    figures = {ALL: calibration_of(y, p, None, None, where)}
    figures[ALL].expected_mql_share = float((p >= threshold).mean())
    for one in sorted(set(segment)):
        rows = segment == one
        limit = float(model.threshold([one])[0])
        figures[one] = calibration_of(y[rows], p[rows], limit, p[rows], where)
    return profile.recalibrated(figures)


def register(
    client,
    name: str,
    experiment: str,
    model: LeadModel,
    result: Recalibration,
    source: str,
    since,
    counts: Counts | None = None,
) -> tuple[str, str]:
    """The recalibrated model as an MLflow run and a new registered version (under the name of the
    version it recalibrates), `@challenger`, and `@champion` when the gate passes and the model it
    recalibrates is the champion (the gate compared the new map with that model only). Returns the
    version and what became of it, in words."""
    import mlflow

    from training import registry
    from training.profile import log_profile
    from training.pyfunc import log_model
    from training.versions import describe_version

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
            if counts is not None:  # what became of the decisions read (training/feedback.py)
                mlflow.log_metrics(counts.metrics())
                mlflow.set_tags(counts.tags())
            for fit in result.segments:
                done = {"before": fit.ece_before, "after": fit.ece_after}
                mlflow.log_metrics({f"later_ece_{when}.{fit.segment}": v for when, v in done.items() if v is not None})
            profile = recalibrated_profile(client, name, number, model, result) if number.isdigit() else None
            if profile is not None:
                log_profile(profile)
            example = _example(client, name, number) if number.isdigit() else None
            version = log_model(model, name, example)
            run_id = mlflow.active_run().info.run_id
    describe_version(client, name, version, run_id)
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
