"""`leadscore monitor`'s figures: read the score log, the logged feature rows and the decisions in
force (or score a data folder's hand-overs), load the model version's reference profile, and
compute per period (week or month) and segment: drift of each feature and of the score, the
rules' fallbacks, MQL volume against the thresholds' promise, realised calibration and ROC AUC
where decisions matured, CBPE's estimate where they did not, and acceptance by IPW.

Times are "as_of throughout": a score-log row's `scored_at` is the time its answer speaks for
(the lead's `as_of` when the request carried one), so a row falls in the period it speaks for.
Every figure is computed on whole columns (one pass per feature and period), never row by row."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from core.decisions import SALES_DECISIONS, placed
from core.schema import LEAD, names
from monitoring.alerts import ALL, SCORE, Figures, Thresholds

# the score log's columns monitoring reads (id, lead_id and scored_at always come), and where a
# rule fallback's reason may be kept
SCORE_COLUMNS = (
    "model_version",
    "probability",
    "grade",
    "is_mql",
    "rule_is_mql",
    "segment",
    "scored_by",
    "explore",
    "propensity",
)
FALLBACK_REASONS = ("fallback_reason", "fallback")
Progress = Callable[[str], None]


@dataclass
class Inputs:
    """What monitoring reads: score-log rows (model answers and rule fallbacks), feature rows, the
    decisions in force, the version monitored and its profile (None, with why, when it has none)."""

    scores: pd.DataFrame
    features: pd.DataFrame
    decisions: pd.DataFrame
    model_version: str | None
    profile: object | None = None
    notes: list[str] = field(default_factory=list)


def period_of(times: pd.Series, by: str) -> pd.Series:
    """The start (UTC midnight) of each time's week (Monday) or month."""
    naive = pd.to_datetime(times, utc=True).dt.tz_convert(None)
    start = naive.dt.to_period("W-SUN" if by == "week" else "M").dt.start_time
    return start.dt.tz_localize("UTC")


def field_of(feature: str, spec) -> str:
    """The lead field a model feature derives from, by the feature spec's concepts: a feature named
    as a lead field is that field; another (size_band) is the one lead field of its concept (size:
    company_size); otherwise the feature's own name."""
    fields = set(names(LEAD))
    if feature in fields or feature not in spec:
        return feature
    concept = spec[feature].concept
    owners = [name for name in spec.names if name in fields and spec[name].concept == concept]
    return owners[0] if len(owners) == 1 else feature


def compute(inputs: Inputs, by: str, limits: Thresholds, progress: Progress = lambda _: None) -> Figures:
    """Every figure table of `Figures` from `inputs`."""
    scores = inputs.scores.assign(period=period_of(inputs.scores["scored_at"], by))
    model = scores[scores["probability"].notna()]
    if inputs.model_version is not None:
        model = model[model["model_version"] == inputs.model_version]
    notes = list(inputs.notes)
    since = scores["period"].min() if len(scores) else None
    progress("fallbacks and volume")
    figures = Figures(fallback=fallbacks(scores), since=since, notes=notes)
    # the profile holds one row per hand-over: a lead the CRM scored again in a period counts once
    # there (its latest answer), so that a CRM re-scoring on every click does not look like drift
    once = model.sort_values(["scored_at", "id"], kind="stable").drop_duplicates(["lead_id", "period"], keep="last")
    figures.volume = volume(once, inputs.profile)
    if inputs.profile is not None:
        progress("drift")
        features = inputs.features.assign(period=period_of(inputs.features["scored_at"], by))
        features = features.sort_values("scored_at", kind="stable").drop_duplicates(["lead_id", "period"], keep="last")
        figures.drift = drift(features, once, inputs, limits)
        if inputs.features.empty:
            notes.append("No feature rows are logged for this version in the window: only the score's drift is shown.")
        if inputs.profile.score_moved:
            notes.append(
                "This version was recalibrated: its scores moved on purpose, so the score's drift is not measured "
                "against its parent's (the features' drift is); the next trained version measures it again."
            )
    from monitoring.calibration import by_segment

    progress("calibration and accuracy")
    mature, young = matured(inputs.decisions)
    if young:
        notes.append(
            f"{young:,} decided hand-over(s) younger than mature_after_days before the newest decision are not "
            "judged yet (quick decisions come first: they would tilt calibration and acceptance)."
        )
    labelled = labels(model, mature)
    figures.calibration = accuracy(model, labelled, inputs.profile)
    figures.grades = by_segment(labelled) if len(labelled) else pd.DataFrame()
    figures.acceptance = acceptance(model, inputs.decisions)
    thin = sorted({day for day, n in model.groupby("period").size().items() if n < limits.min_rows})
    if thin:
        notes.append(
            f"{len(thin)} of {model['period'].nunique()} {by}s hold fewer than {limits.min_rows} model answers: "
            "too few to judge drift or volume there."
        )
    return figures


def fallbacks(scores: pd.DataFrame) -> pd.DataFrame:
    """Per period: answers, the rules' fallbacks (scored_by "rules") and their share, and why
    when the score log keeps a reason."""
    rules = scores["scored_by"].eq("rules")
    out = scores.assign(rules=rules).groupby("period").agg(rows=("rules", "size"), rules=("rules", "sum"))
    out["share"] = out["rules"] / out["rows"]
    reason = next((c for c in FALLBACK_REASONS if c in scores), None)
    if reason is not None:
        why = (
            scores[rules]
            .groupby("period")[reason]
            .agg(lambda s: ", ".join(f"{k} {v}" for k, v in s.value_counts().items()))
        )
        out["why"] = why.reindex(out.index)
    else:
        out["why"] = None
    return out.reset_index()


def _reference(profile, segment: str, key: str) -> float:
    """A figure of the profile's test period for `segment` (`training.profile.Calibration`: ece,
    roc_auc, expected_mql_share); NaN without a profile or the figure."""
    figures = profile.calibration.get(segment) if profile is not None else None
    value = getattr(figures, key, None) if figures is not None else None
    return np.nan if value is None else float(value)


def _by_segment(frame: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """Each segment's rows and then all rows, as (segment, rows)."""
    return [*((str(s), part) for s, part in frame.groupby("segment", sort=True)), (ALL, frame)]


def volume(model: pd.DataFrame, profile) -> pd.DataFrame:
    """Per period and segment: model answers, model MQLs and the MQLs the thresholds promised
    (the profile's expected MQL share of the segment x its answers; NaN without a profile)."""
    rows = []
    for period, part in model.groupby("period"):
        expected_all = 0.0
        for segment, seg in _by_segment(part):
            share = _reference(profile, segment, "expected_mql_share")
            expected = expected_all if segment == ALL else share * len(seg)
            expected_all += 0 if segment == ALL or np.isnan(expected) else expected
            rows.append((period, segment, len(seg), int(seg["is_mql"].astype(bool).sum()), expected))
    return pd.DataFrame(rows, columns=["period", "segment", "leads", "mql", "expected"])


def drift(features: pd.DataFrame, model: pd.DataFrame, inputs: Inputs, limits: Thresholds) -> pd.DataFrame:
    """Per period: each logged feature's drift by segment and the score's on every model answer
    (monitoring.drift.drift_table; p-values adjusted over every test of the run), each feature
    named by the lead field it derives from (`field`). Each column is put in the profile's bins
    once (a distinct category once) and counted per period and segment in one `bincount`."""
    from features.spec import FeatureSpec
    from monitoring.drift import SCORE as PROBABILITY
    from monitoring.drift import drift_table

    profile = inputs.profile
    names = [name for name in profile.features if name in features.columns]
    scores = [] if profile.score_moved else [PROBABILITY]  # a recalibration moves the scores on purpose
    pairs = [*_pairs(profile, features, names), *_pairs(profile, model, scores)]
    if not pairs:
        return pd.DataFrame(columns=["period", "feature", "field", "segment", "rows", "psi", "p_adjusted"])
    options = dict(threshold=limits.drift_psi, alpha=limits.drift_p_adjusted, min_rows=limits.min_rows)
    out = drift_table([pair for _, pair in pairs], **options).rename(columns={"n_cur": "rows"})
    out.insert(0, "period", [period for period, _ in pairs])
    spec = FeatureSpec()
    out["field"] = out["feature"].map(lambda f: SCORE if f == PROBABILITY else field_of(f, spec))
    return out


def _pairs(profile, frame: pd.DataFrame, names: list[str]) -> list[tuple[pd.Timestamp, object]]:
    """(period, monitoring.drift.Pair) for each name, period, then "all" and each of the
    profile's segments with rows in the period (reference counts from the profile)."""
    from monitoring.drift import SCORE as PROBABILITY
    from monitoring.drift import Pair

    if frame.empty or not names:
        return []
    period_code, periods = pd.factorize(frame["period"], sort=True)
    known = [s for s in profile.segments if s != ALL]
    segment_code = pd.Index(known).get_indexer(frame["segment"].astype(str))
    segment_code = np.where(segment_code < 0, len(known), segment_code)  # a segment the profile lacks
    group = period_code * (len(known) + 1) + segment_code
    shape = (len(periods), len(known) + 1)
    rows = np.bincount(group, minlength=shape[0] * shape[1]).reshape(shape)
    out = []
    for name in names:
        bins = profile.score if name == PROBABILITY else profile.inputs[name]
        flat = np.bincount(group * bins.size + bins.slots(frame[name]), minlength=shape[0] * shape[1] * bins.size)
        counts = flat.reshape(*shape, bins.size)
        unseen = -2 if bins.kind == "categorical" else None  # the profile's bins: ..., "unseen", "missing"
        for i, period in enumerate(periods):
            where = [(ALL, counts[i].sum(axis=0))]
            where += [(s, counts[i, j]) for j, s in enumerate(known) if rows[i, j]]
            for segment, current in where:
                reference = profile.reference_counts(name, segment=segment)
                out.append((period, Pair(name, segment, reference, current, unseen)))
    return out


def matured(decisions: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """The decisions on hand-overs old enough to judge (training's maturity rule, the default label
    policy: `mature_after_days` before the newest decision) and how many decided ones are younger."""
    from training.labels import maturity_cutoff
    from training.settings import LabelPolicy

    if decisions.empty:
        return decisions, 0
    at = pd.to_datetime(decisions["mql_at"], utc=True).fillna(pd.to_datetime(decisions["decided_at"], utc=True))
    dated = pd.DataFrame({"mql_at": at, "decided_at": pd.to_datetime(decisions["decided_at"], utc=True)})
    cutoff = maturity_cutoff(dated, LabelPolicy())
    if cutoff is None:
        return decisions, 0
    young = (at > cutoff).to_numpy()
    decided = decisions["decision"].isin(SALES_DECISIONS).to_numpy()
    return decisions[~young], int((young & decided).sum())


def labels(model: pd.DataFrame, decisions: pd.DataFrame, decided_only: bool = True) -> pd.DataFrame:
    """The model answers a hand-over's decision in force sits on (`core.decisions.placed`: the
    lead's latest score at or before mql_at, else decided_at), with `accepted` (1/0; NaN for an
    open decision, left out when `decided_only`)."""
    if decisions.empty or model.empty:
        return model.iloc[:0].assign(accepted=pd.Series(dtype=float))
    decided = decisions[decisions["decision"].isin(SALES_DECISIONS)] if decided_only else decisions
    at = pd.to_datetime(decided["mql_at"], utc=True).fillna(pd.to_datetime(decided["decided_at"], utc=True))
    on = placed(decided["lead_id"], at, model[["id", "lead_id", "scored_at"]], "scored_at")
    found = decided.assign(id=on["id"]).dropna(subset=["id"]).drop_duplicates("id", keep="last")
    outcome = found["decision"].map({"accepted": 1.0, "rejected": 0.0, "recycled": 0.0})
    accepted = outcome.set_axis(found["id"].astype(model["id"].dtype))
    return model[model["id"].isin(accepted.index)].assign(accepted=lambda f: f["id"].map(accepted))


def accuracy(model: pd.DataFrame, labelled: pd.DataFrame, profile) -> pd.DataFrame:
    """Per period and segment: CBPE's estimate on every model answer ("estimated") and the same
    figures realised on the decided ones ("realised"), beside the profile's test-period ECE and
    ROC AUC (monitoring.estimate). A realised row also carries `ece_floor`, the ECE a calibrated
    model shows on those very leads from sampling alone (a hundred decisions measure an ECE of
    0.05-0.08 with nothing wrong), and its ROC AUC speaks for the whole funnel only with the
    exploration hold-out: the decided leads weighted by one over their chance of being sent (the
    leads sent because a threshold said so count once, explored ones 1/share); without explored
    leads among them it is left out (`auc_note`), since the sent leads alone are the top of the
    ranking and their ROC AUC is not comparable with the test period's."""
    from monitoring.estimate import cbpe, expected_ece, realised

    rows = []
    for period, part in model.groupby("period"):
        decided = labelled[labelled["period"] == period]
        for segment, seg in _by_segment(part):
            where = {"period": period, "segment": segment}
            where |= {
                "reference_ece": _reference(profile, segment, "ece"),
                "reference_auc": _reference(profile, segment, "roc_auc"),
            }
            guess = cbpe(seg["probability"].to_numpy(), seg["is_mql"].astype(bool).to_numpy())
            rows.append(where | {"kind": "estimated", **guess})
            real = decided if segment == ALL else decided[decided["segment"] == segment]
            if len(real):
                seen = realised(real["probability"], real["is_mql"].astype(bool), real["accepted"])
                known = real["accepted"].notna()
                seen["ece_floor"] = expected_ece(real.loc[known, "probability"].to_numpy(float))
                seen["roc_auc"], seen["auc_note"] = _funnel_auc(real[known])
                rows.append(where | {"kind": "realised", **seen})
    columns = ["period", "segment", "kind", "n", "ece", "roc_auc", "reference_ece", "reference_auc"]
    frame = pd.DataFrame(rows)
    return frame.reindex(columns=[*columns, *(c for c in frame.columns if c not in columns)])


def _funnel_auc(decided: pd.DataFrame) -> tuple[float, str | None]:
    """The ROC AUC of decided leads weighted by one over their chance of being sent, or NaN and
    why when no explored lead is among them (or one outcome only)."""
    from sklearn.metrics import roc_auc_score

    explored = decided["explore"].fillna(False).astype(bool) if "explore" in decided else None
    if explored is None or not explored.any():
        return float("nan"), "no explored lead decided: the sent leads alone do not measure the ranking"
    if decided["accepted"].nunique() < 2:
        return float("nan"), "one outcome only"
    share = pd.to_numeric(decided["propensity"], errors="coerce")
    weight = np.where(explored, 1.0 / share.where(share > 0, np.nan), 1.0)
    keep = np.isfinite(weight)
    y, p = decided["accepted"].to_numpy(float)[keep], decided["probability"].to_numpy(float)[keep]
    return float(roc_auc_score(y, p, sample_weight=weight[keep])), None


def acceptance(model: pd.DataFrame, decisions: pd.DataFrame) -> pd.DataFrame:
    """Acceptance of model MQLs, rule MQLs and the leads below both thresholds by inverse
    propensity weighting, on the rows `compare` takes too (monitoring.ipw.funnel: one answer per
    lead and period, the one a decision sits on; a group's leads that the CRM's policy never sends
    get propensity 0 and a note)."""
    from monitoring.ipw import GROUPS, funnel
    from monitoring.ipw import acceptance as ipw

    if model.empty:
        return pd.DataFrame()
    placed = labels(model, decisions, decided_only=False).set_index("id")["accepted"]
    return ipw(funnel(model, placed, by="period"), GROUPS, seed=0)


def _window(frame: pd.DataFrame, since, until) -> pd.DataFrame:
    times = frame["scored_at"]
    keep = pd.Series(True, index=frame.index)
    if since is not None:
        keep &= times >= since
    if until is not None:
        keep &= times <= until
    return frame[keep]


def load_profile(version: str | None, client) -> tuple[object | None, str | None]:
    """The version's reference profile, or None and why (a version trained before profiles)."""
    if version is None:
        return None, "no model answered in this window: drift and calibration cannot be measured"
    try:
        from training.profile import Profile

        return Profile.load(f"models:/{version}", client), None
    except Exception as exc:
        number = version.rpartition("/")[2]
        detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        return None, (
            f"version {number} has no reference profile ({detail}; trained before leadscore 0.2?): drift cannot "
            "be measured; retrain to get one"
        )


def read_store(store, since=None, until=None, model_version: str | None = None) -> Inputs:
    """The score log, feature rows and decisions in force of the window; the version monitored is
    `model_version`, else the one that answered last in the window."""
    from core.errors import LeadscoreError
    from core.store import scores as log

    wanted = [c for c in (*SCORE_COLUMNS, *FALLBACK_REASONS) if c in log.c]  # what `compute` reads, no more
    scores = store.read_scores(wanted, since=since, until=until)
    if scores.empty:
        raise LeadscoreError("the score log holds no answers in this window: nothing to monitor")
    answered = scores["model_version"].dropna()
    version = model_version or (str(answered.iloc[-1]) if len(answered) else None)
    features = store.read_feature_rows(since=since, until=until, model_version=version)
    return Inputs(scores, features, store.latest_decisions(), version)


def read_folder(data, model, since=None, until=None) -> Inputs:
    """A data folder's hand-overs scored as of their mql_at by `model` (a LeadModel), in one pass,
    as if the service had logged them: the answers, their feature rows and the folder's decisions
    (for a team that exports its CRM without running the service)."""
    from core.errors import LeadscoreError
    from features.build import build_features, rows_to_score
    from features.contract import load_dataset
    from training.answer import frame

    dataset = load_dataset(data, model.contract)
    rows, when = rows_to_score(dataset, at_handover=True)
    rows = _window(rows.assign(scored_at=pd.to_datetime(rows[when], utc=True)), since, until).drop(columns="scored_at")
    if rows.empty:
        raise LeadscoreError(f"{data}: no hand-overs in this window: nothing to monitor")
    features = build_features(
        rows, dataset.events, when, model.feature_config, model.contract, population=dataset.leads
    )
    # each account's answer from every contact of the folder, as the service reads them
    answers = frame(model, features, model.answers(features), tables=(rows, dataset.leads, dataset.events))
    at = pd.to_datetime(features["as_of"], utc=True).to_numpy()
    scores = answers.assign(id=np.arange(len(answers)), scored_at=at, scored_by="model")
    kept = features.loc[scores.index, model.feature_names].assign(
        lead_id=scores["lead_id"], scored_at=scores["scored_at"], segment=scores["segment"].astype(str)
    )
    decisions = dataset.outcomes.assign(decided_at=dataset.outcomes["mql_at"])
    return Inputs(scores.reset_index(drop=True), kept.reset_index(drop=True), decisions, model.version)
