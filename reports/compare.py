"""Model MQLs vs rule MQLs on the same hand-overs: who each would have sent to sales, and what
sales made of them.

One row per hand-over: the model's probability and MQL flag, the rule score and its MQL flag, the
sales decision and reason. From a data folder (history, scored as of each hand-over with the
registered model) or from the service's database (the live score log joined with the sales
decisions posted back). Every table below is computed from that one frame.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import binomtest

from core.schema import ANSWER, Field

GROUPS = ["both", "model only", "rules only", "neither"]


def report_columns(fields: tuple[Field, ...] = ANSWER) -> list[str]:
    """The comparison frame's columns: each hand-over's time and source, the answer's fields
    (`core.schema.ANSWER`) and what sales decided."""
    lead_id, *answer = (f.name for f in fields)
    return [lead_id, "handed_over_at", "source", *answer, "decision", "reason"]


COLUMNS = report_columns()


def from_folder(
    data: Path, model_uri: str, tracking_uri: str | None = None, rules: str | None = None, with_reasons: bool = True
) -> tuple[pd.DataFrame, dict]:
    """Every hand-over of a data folder, scored as of its hand-over by the model, and by its rules
    or by the rule config in the YAML file `rules`; joined with its decision by (lead, hand-over)."""
    from features.contract import TIMESTAMP, load_dataset
    from features.defaults import load_rules
    from training import registry
    from training.score import score_dataset

    model = registry.load_model(model_uri, registry.connect(tracking_uri))
    dataset = load_dataset(data, model.contract)
    rule_config = load_rules(rules) if rules else None
    answer = score_dataset(model, dataset, at_handover=True, reasons=with_reasons, rules=rule_config)
    answer = answer.rename(columns={"as_of": "handed_over_at"}).astype({"handed_over_at": TIMESTAMP})
    handovers = dataset.outcomes[["lead_id", "mql_at", "decision", "reason"]].rename(
        columns={"mql_at": "handed_over_at"}
    )
    handovers = handovers.merge(dataset.leads[["lead_id", "account_id", "source"]], on="lead_id", how="left")
    frame = answer.merge(handovers, on=["lead_id", "handed_over_at"], how="left", validate="one_to_one")
    frame["source"] = frame["source"].fillna("unknown").astype(str)
    frame["segment"] = frame["segment"].astype(str)
    info = {"model_version": model.version, "unseen_from": unseen_from(model_uri, tracking_uri)}
    if info["unseen_from"] is not None:
        # training kept each account in the oldest period it appears in: a hand-over is unseen
        # only if its account's first hand-over is in the test period
        first = frame.groupby("account_id")["handed_over_at"].transform("min")
        frame["trained_on"] = (first < info["unseen_from"]).to_numpy()
    extras = [c for c in ("top_reasons", "trained_on") if c in frame]
    return frame[[*COLUMNS, *extras]], info


def unseen_from(model_uri: str, tracking_uri: str | None = None) -> pd.Timestamp | None:
    """The first hand-over time the model was not trained or calibrated on (its test period),
    when its training run recorded it."""
    from training import registry

    client = registry.connect(tracking_uri)
    run_id = registry.run_id_of(model_uri, client)
    if run_id is None:  # a model outside the registry
        return None
    try:
        tag = client.get_run(run_id).data.tags.get("split.test_from")
    except Exception:  # a run the store no longer has
        return None
    return pd.Timestamp(tag) if tag else None


def from_store(url: str) -> tuple[pd.DataFrame, dict]:
    """Live traffic: each decided lead's last score before its decision (open leads: last score)."""
    from sqlalchemy import make_url, select
    from sqlalchemy.exc import SQLAlchemyError

    from core.errors import LeadscoreError
    from core.store import FeedbackStore, redacted, scores

    try:
        parsed = make_url(url)
    except Exception:
        raise LeadscoreError(f"--db: '{redacted(url)}' is not a database URL (e.g. sqlite:///leadscore.db)") from None
    if parsed.get_backend_name() == "sqlite" and parsed.database and not Path(parsed.database).is_file():
        # connecting would create an empty database file there
        raise LeadscoreError(f"{redacted(url)}: no such SQLite file ({parsed.database})")
    store = FeedbackStore(url)
    try:
        logged = store.read(select(scores))
        decided = store.latest_decisions()  # voided and superseded decisions left out
    except (LeadscoreError, SQLAlchemyError) as exc:
        raise LeadscoreError(f"{redacted(url)}: cannot read the score log ({type(exc).__name__})") from None
    finally:
        store.engine.dispose()
    for frame, column in ((logged, "scored_at"), (decided, "decided_at")):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    logged = logged.sort_values("scored_at")
    last = logged.drop_duplicates("lead_id", keep="last")
    if len(decided):
        decided = decided.sort_values("decided_at").drop_duplicates("lead_id", keep="last")
        before = logged.merge(decided[["lead_id", "decided_at"]], on="lead_id")
        before = before[before["scored_at"] <= before["decided_at"]].drop_duplicates("lead_id", keep="last")
        last = pd.concat([before.drop(columns="decided_at"), last[~last["lead_id"].isin(before["lead_id"])]])
    frame = last.merge(decided[["lead_id", "decision", "reason"]], on="lead_id", how="left")
    frame = frame.rename(columns={"scored_at": "handed_over_at"})
    frame["decision"] = frame["decision"].fillna("open")
    frame["source"] = frame["source"].fillna("unknown") if "source" in frame else "unknown"
    frame["is_mql"] = frame["is_mql"].astype(bool)
    frame["rule_is_mql"] = frame["rule_is_mql"].astype(bool)
    versions = sorted(v for v in frame["model_version"].dropna().unique())
    return frame.reindex(columns=COLUMNS).reset_index(drop=True), {
        "model_version": ", ".join(versions) or None,
        "unseen_from": None,
    }


def prepare(frame: pd.DataFrame, start=None, end=None) -> pd.DataFrame:
    """The period's rows, with the overlap group, the week and `accepted` (NaN while open)."""
    when = pd.to_datetime(frame["handed_over_at"], utc=True)
    keep = pd.Series(True, index=frame.index)
    if start is not None:
        keep &= when >= _utc(start)
    if end is not None:
        keep &= when < _utc(end)
    out, when = frame[keep].copy(), when[keep]
    model, rules = out["is_mql"].astype(bool), out["rule_is_mql"].astype(bool)
    out["group"] = np.select([model & rules, model & ~rules, ~model & rules], GROUPS[:3], GROUPS[3])
    out["week"] = when.dt.tz_localize(None).dt.to_period("W-SUN").dt.start_time
    decided = out["decision"].isin(["accepted", "rejected", "recycled"])
    out["accepted"] = np.where(decided, (out["decision"] == "accepted").astype(float), np.nan)
    return out.reset_index(drop=True)


def _utc(value) -> pd.Timestamp:
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tz is None else stamp.tz_convert("UTC")


def has_weeks(frame: pd.DataFrame) -> bool:
    """False for a flat snapshot (every hand-over at one time): no weekly view then."""
    return frame["week"].nunique() > 1


def volume_by_week(frame: pd.DataFrame) -> pd.DataFrame:
    """MQLs per week by the rules and by the model, and how they overlap."""
    table = pd.crosstab(frame["week"], frame["group"]).reindex(columns=GROUPS, fill_value=0)
    table.insert(0, "model MQLs", table["both"] + table["model only"])
    table.insert(0, "rule MQLs", table["both"] + table["rules only"])
    table.index = table.index.strftime("%Y-%m-%d")
    table.index.name = "week of"
    return table


def _rate(accepted: pd.Series) -> pd.Series:
    decided = accepted.dropna()
    k, n = int(decided.sum()), len(decided)
    if n == 0:
        return pd.Series(
            {"leads": len(accepted), "decided": 0, "accepted": 0, "rate": np.nan, "low": np.nan, "high": np.nan}
        )
    ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    return pd.Series(
        {"leads": len(accepted), "decided": n, "accepted": k, "rate": k / n, "low": ci.low, "high": ci.high}
    )


def acceptance(frame: pd.DataFrame, by: str | None = None) -> pd.DataFrame:
    """Acceptance (MQL -> SQL) of the model's MQLs, the rules' MQLs and each overlap group, with
    95% Wilson intervals; per value of `by` (segment, source) when given."""
    pieces = {
        "model MQLs": frame["is_mql"].astype(bool),
        "rule MQLs": frame["rule_is_mql"].astype(bool),
        **{g: frame["group"] == g for g in GROUPS},
    }
    rows = []
    for key, part in [(None, frame)] if by is None else frame.groupby(by, observed=True):
        for name, mask in pieces.items():
            row = _rate(part.loc[mask[part.index], "accepted"])
            rows.append({**({by: key} if by else {}), "who": name, **row})
    out = pd.DataFrame(rows)
    return out.astype({"leads": int, "decided": int, "accepted": int})


def rejection_reasons(frame: pd.DataFrame) -> pd.DataFrame:
    """Share of each rejection reason among the rejected leads of each group."""
    rejected = frame[frame["decision"].isin(["rejected", "recycled"])]
    table = pd.crosstab(rejected["reason"].fillna("none given"), rejected["group"], normalize="columns")
    return table.reindex(columns=[g for g in GROUPS if g in table.columns])


def at_equal_volume(frame: pd.DataFrame, per_week: int) -> pd.DataFrame:
    """If sales can take `per_week` leads a week: the top ones by model probability vs by rule
    score, each week, and how many of them sales accepted."""
    rows = []
    for week, part in frame.groupby("week"):
        k = min(per_week, len(part))
        for who, column in (("model", "probability"), ("rules", "rule_score")):
            top = part.nlargest(k, column)
            rows.append(
                {
                    "week of": week,
                    "who": who,
                    "sent": k,
                    "decided": top["accepted"].notna().sum(),
                    "accepted": int(top["accepted"].sum()),
                }
            )
    table = pd.DataFrame(rows).groupby("who")[["sent", "decided", "accepted"]].sum()
    table["acceptance"] = table["accepted"] / table["decided"].where(table["decided"] > 0)
    return table


def threshold_for_rate(frame: pd.DataFrame, target: float) -> dict:
    """The lowest model threshold whose leads sales accepted at `target` or better, and the
    volume it would send."""
    from training.thresholds import lowest_meeting

    decided = frame.dropna(subset=["accepted"])
    cut = lowest_meeting(decided["probability"].to_numpy(), decided["accepted"].to_numpy(), target)
    sent = frame["probability"] >= cut
    weeks = max(frame["week"].nunique(), 1)
    return {
        "threshold": cut,
        "leads": int(sent.sum()),
        "per_week": sent.sum() / weeks,
        "acceptance": float(frame.loc[sent, "accepted"].mean()),
    }


def calibration_in_words(frame: pd.DataFrame, edges=(0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0)) -> list[str]:
    """'Of leads the model scored 30-40%, 34% were accepted (120 decided)', per score band."""
    decided = frame.dropna(subset=["accepted"])
    bands = pd.cut(decided["probability"], list(edges), include_lowest=True)
    lines = []
    for band, part in decided.groupby(bands, observed=True):
        lines.append(
            f"Of leads the model scored {max(band.left, 0):.0%}-{band.right:.0%}, {part['accepted'].mean():.0%} "
            f"were accepted ({len(part):,} decided)."
        )
    return lines


def changed_hands(frame: pd.DataFrame, n: int = 10, random_state: int = 0) -> dict[str, pd.DataFrame]:
    """A sample of the leads only the model would send and of those only the rules would send."""
    columns = [
        c
        for c in ("lead_id", "segment", "source", "probability", "rule_score", "decision", "reason", "top_reasons")
        if c in frame
    ]
    out = {}
    for group in ("model only", "rules only"):
        part = frame[frame["group"] == group]
        out[group] = part.sample(min(n, len(part)), random_state=random_state)[columns].reset_index(drop=True)
    return out


def summary(frame: pd.DataFrame) -> dict:
    """The headline figures: volumes, overlap and acceptance of each method."""
    rate = acceptance(frame).set_index("who")
    counts = frame["group"].value_counts().reindex(GROUPS, fill_value=0)
    return {
        "hand-overs": len(frame),
        "rule MQLs": int(frame["rule_is_mql"].sum()),
        "model MQLs": int(frame["is_mql"].sum()),
        **{k: int(v) for k, v in counts.items()},
        "rule MQL acceptance": float(rate.loc["rule MQLs", "rate"]),
        "model MQL acceptance": float(rate.loc["model MQLs", "rate"]),
    }
