"""Alert thresholds (a YAML file, `defaults/alerts.yaml` shipped; `--alerts FILE` overrides any of
its keys), the figure tables `leadscore monitor` computes and judges (`Figures`), and the alerts
that fire on them, one line each, named as the user knows them (lead fields, segments, dates)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, create_model
from pydantic.fields import FieldInfo

from core.config import load_config

DEFAULTS = Path(__file__).resolve().parent / "defaults" / "alerts.yaml"
SCORE = "score"  # the drift table's name for the model's probability
ALL = "all"  # the segment of every lead


class Thresholds(BaseModel):
    """When an alert fires; the values live in `defaults/alerts.yaml` (what each one means is said there)."""

    model_config = ConfigDict(extra="forbid")

    drift_psi: float = Field(gt=0)
    drift_p_adjusted: float = Field(gt=0, le=1)
    ece_rise: float = Field(gt=0, le=1)
    auc_fall: float = Field(gt=0, le=1)
    fallback_share: float = Field(gt=0, le=1)
    volume_factor: float = Field(gt=1)
    min_rows: int = Field(ge=1)
    min_decided: int = Field(ge=1)


def load_thresholds(path: Path | str | None = None) -> Thresholds:
    """The shipped thresholds, with the keys of the YAML file `path` (if any) in their place;
    a bad file or key -> one line naming the file and the key."""
    defaults = yaml.safe_load(DEFAULTS.read_text(encoding="utf-8"))
    if path is None:
        return Thresholds.model_validate(defaults)
    given = load_config(path, _Override).model_dump(exclude_none=True)
    return Thresholds.model_validate(defaults | given)


# a user's file: any of the keys, each checked as strictly as in `Thresholds` (one list of keys)
_Override = create_model(
    "Thresholds",
    __config__=ConfigDict(extra="forbid"),
    **{
        name: (info.annotation | None, FieldInfo.merge_field_infos(info, default=None))
        for name, info in Thresholds.model_fields.items()
    },
)


@dataclass
class Figures:
    """What `monitor` measured, as tables (`period` is the start of a week or month, UTC; NaT: the
    whole window):
    - drift: period, feature (the model's name), field (the name the user knows), segment, rows,
      psi, p_adjusted, missing_ref, missing_cur, unseen_share
    - calibration: period, segment, kind ("realised" or "estimated"), n, ece, reference_ece,
      roc_auc, reference_auc
    - fallback: period, rows, rules, share, why (text)
    - volume: period, segment, leads, mql, expected
    - acceptance: model MQLs, rule MQLs and the leads below both (IPW), as monitoring.ipw gives it
    - grades: observed vs predicted by period, segment and grade with Wilson intervals
    - notes: what the data cannot support, in words."""

    drift: pd.DataFrame = field(default_factory=pd.DataFrame)
    calibration: pd.DataFrame = field(default_factory=pd.DataFrame)
    fallback: pd.DataFrame = field(default_factory=pd.DataFrame)
    volume: pd.DataFrame = field(default_factory=pd.DataFrame)
    acceptance: pd.DataFrame = field(default_factory=pd.DataFrame)
    grades: pd.DataFrame = field(default_factory=pd.DataFrame)  # monitoring.calibration.by_segment
    notes: list[str] = field(default_factory=list)
    since: pd.Timestamp | None = None  # the window's first day


@dataclass(frozen=True)
class Alert:
    """One alert: its kind (drift, calibration, ranking, fallback, volume), its line, the period
    it starts in, and what it names (fields or segments)."""

    kind: str
    line: str
    since: pd.Timestamp | None
    names: tuple[str, ...] = ()
    detail: dict = field(default_factory=dict)

    def __str__(self) -> str:
        return self.line


def day(stamp) -> str:
    return "" if stamp is None or pd.isna(stamp) else f"{pd.Timestamp(stamp):%Y-%m-%d}"


def since_words(stamp) -> str:
    """ " since 2026-02-02" for a period's start, "" when there is none."""
    return f" since {day(stamp)}" if day(stamp) else ""


def evaluate(figures: Figures, limits: Thresholds) -> list[Alert]:
    """Every alert that fires on `figures`, in a fixed order: drift, calibration, ranking,
    fallback, volume."""
    return [
        *_drift(figures.drift, limits),
        *_calibration(figures.calibration, limits, figures.since),
        *_ranking(figures.calibration, limits, figures.since),
        *_fallback(figures.fallback, limits),
        *_volume(figures.volume, limits),
    ]


def drifted(drift: pd.DataFrame, limits: Thresholds) -> pd.DataFrame:
    """The drift rows that count: enough rows, PSI at or above the threshold and (features) the
    adjusted p-value below its threshold; the score by PSI alone."""
    if drift.empty:
        return drift
    p = drift["p_adjusted"]
    tested = p.isna() & (drift["field"] == SCORE) | (p < limits.drift_p_adjusted)
    return drift[(drift["rows"] >= limits.min_rows) & (drift["psi"] >= limits.drift_psi) & tested]


def _drift(drift: pd.DataFrame, limits: Thresholds) -> list[Alert]:
    """One alert naming each drifted field with its largest PSI and where it drifted."""
    hits = drifted(drift, limits)
    if hits.empty:
        return []
    judged = drift[drift["rows"] >= limits.min_rows]
    parts, names = [], []
    for name, rows in hits.groupby("field", sort=False):
        worst = rows.loc[rows["psi"].idxmax()]
        segments = sorted(set(rows["segment"]) - {ALL})
        every = sorted(set(judged.loc[judged["field"] == name, "segment"]) - {ALL})
        where = "in all segments" if segments and segments == every else "in " + ", ".join(segments or [ALL])
        where = "overall" if where == f"in {ALL}" else where
        parts.append((worst["psi"], f"{name} (PSI {worst['psi']:.2f} {where})"))
        names.append(name)
    order = sorted(range(len(parts)), key=lambda i: -parts[i][0])
    since = hits["period"].min()
    line = "ALERT drift: " + ", ".join(parts[i][1] for i in order) + since_words(since)
    return [Alert("drift", line, since, tuple(names[i] for i in order))]


def _calibration(calibration: pd.DataFrame, limits: Thresholds, start) -> list[Alert]:
    """One alert per segment whose realised ECE rose by `ece_rise` or more in a period with enough
    decisions (since the first such period)."""
    if calibration.empty:
        return []
    rows = calibration[(calibration["kind"] == "realised") & (calibration["n"] >= limits.min_decided)]
    # the rise over the reference, or over what sampling alone gives on these leads if that is more
    # (`ece_floor`: a calibrated model's expected ECE on n decisions): noise is not drift
    base = rows["reference_ece"]
    if "ece_floor" in rows:
        base = np.fmax(base, rows["ece_floor"])
    rise = rows["ece"] - base
    rows, rise = rows[rise >= limits.ece_rise], rise[rise >= limits.ece_rise]
    out = []
    for segment, part in rows.groupby("segment", sort=False):
        worst = part.loc[rise[part.index].idxmax()]
        since = part["period"].min() if part["period"].notna().any() else start
        line = (
            f"ALERT calibration: {segment} (ECE {worst['ece']:.2f} from {worst['reference_ece']:.2f}, "
            f"{int(worst['n']):,} decided){since_words(since)}"
        )
        out.append(Alert("calibration", line, since, (segment,), {"ece": worst["ece"], "from": worst["reference_ece"]}))
    return out


def _ranking(calibration: pd.DataFrame, limits: Thresholds, start) -> list[Alert]:
    """The ROC AUC of all leads fell by `auc_fall`: realised where enough decisions, else estimated."""
    if calibration.empty:
        return []
    rows = calibration[(calibration["segment"] == ALL) & calibration["roc_auc"].notna()]
    realised = rows[(rows["kind"] == "realised") & (rows["n"] >= limits.min_decided)]
    rows = realised if not realised.empty else rows[(rows["kind"] == "estimated") & (rows["n"] >= limits.min_rows)]
    rows = rows[rows["reference_auc"] - rows["roc_auc"] >= limits.auc_fall]
    if rows.empty:
        return []
    worst = rows.loc[(rows["reference_auc"] - rows["roc_auc"]).idxmax()]
    since = rows["period"].min() if rows["period"].notna().any() else start
    line = f"ALERT ranking: ROC AUC {worst['roc_auc']:.2f} from {worst['reference_auc']:.2f} ({worst['kind']})"
    detail = {"auc": worst["roc_auc"], "from": worst["reference_auc"], "kind": worst["kind"]}
    return [Alert("ranking", line + since_words(since), since, (ALL,), detail)]


def _fallback(fallback: pd.DataFrame, limits: Thresholds) -> list[Alert]:
    if fallback.empty:
        return []
    rows = fallback[(fallback["rows"] >= limits.min_rows) & (fallback["share"] >= limits.fallback_share)]
    if rows.empty:
        return []
    worst = rows.loc[rows["share"].idxmax()]
    why = f": {worst['why']}" if isinstance(worst.get("why"), str) and worst["why"] else ""
    line = f"ALERT fallback: the rules answered {worst['share']:.0%} of {int(worst['rows']):,} leads{why}"
    since = rows["period"].min()
    return [Alert("fallback", line + since_words(since), since, (), {"share": worst["share"]})]


def _volume(volume: pd.DataFrame, limits: Thresholds) -> list[Alert]:
    """Model MQLs of all leads off the promised volume by `volume_factor` either way."""
    if volume.empty:
        return []
    rows = volume[(volume["segment"] == ALL) & (volume["leads"] >= limits.min_rows) & (volume["expected"] > 0)]
    ratio = rows["mql"] / rows["expected"]
    rows = rows[(ratio >= limits.volume_factor) | (ratio <= 1 / limits.volume_factor)]
    if rows.empty:
        return []
    worst = rows.loc[(rows["mql"] / rows["expected"]).map(lambda r: max(r, 1 / r) if r > 0 else float("inf")).idxmax()]
    factor = worst["mql"] / worst["expected"]
    how = f"{factor:.1f} times" if factor >= 1 else f"{factor:.0%} of"
    line = (
        f"ALERT volume: {int(worst['mql']):,} model MQLs in the {day(worst['period'])} period, {how} the "
        f"{worst['expected']:,.0f} the capacity thresholds promised"
    )
    return [Alert("volume", line, rows["period"].min(), (), {"factor": factor})]
