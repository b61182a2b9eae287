"""Model MQLs vs rule MQLs on the same hand-overs: who each would have sent to sales, and what
sales made of them.

One row per hand-over (`reports.sources`: history from a data folder, or the live score log):
the model's probability and MQL flag, the rule score and its MQL flag, the sales decision and
reason. Every figure of the report is computed here from that one frame. The leads that change
hands are the ones the two methods disagree on: "model only" (the model would send them, the
rules hold them back) and "rules only" (the reverse). Acceptance is accepted / decided (accepted,
rejected or recycled; open leads are left out), with a 95% Wilson interval; fewer than
`MIN_DECIDED` decided leads are too few to rely on, and under `MIN_SHOWN` too few to say at all.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import binomtest, fisher_exact

from reports.sources import COLUMNS, from_folder, from_store, report_columns, within

__all__ = ["COLUMNS", "GROUPS", "from_folder", "from_store", "report_columns"]

GROUPS = ["both", "model only", "rules only", "neither"]
SENT = GROUPS[:3]  # the groups someone would send to sales
CHANGING = ["model only", "rules only"]
MIN_DECIDED = 30  # fewer decided leads than this: too few to rely on (greyed)
MIN_SHOWN = 10  # fewer than this: "too few to say", no rate shown at all
BLOCKS = (1, 2, 4, 8, 13)  # weeks a row of the weekly table may hold
RATE = ["leads", "decided", "accepted", "rate", "low", "high"]


def prepare(frame: pd.DataFrame, start=None, end=None) -> pd.DataFrame:
    """The period's rows, with the overlap group, the week (starting Monday) and `accepted`
    (1.0 / 0.0, NaN while open)."""
    when = pd.to_datetime(frame["handed_over_at"], utc=True)
    keep = within(when, start, end)
    out, when = frame[keep].copy(), when[keep]
    model, rules = out["is_mql"].astype(bool), out["rule_is_mql"].astype(bool)
    out["group"] = np.select([model & rules, model & ~rules, ~model & rules], GROUPS[:3], GROUPS[3])
    out["week"] = when.dt.tz_localize(None).dt.to_period("W-SUN").dt.start_time
    decided = out["decision"].isin(["accepted", "rejected", "recycled"])
    out["accepted"] = np.where(decided, (out["decision"] == "accepted").astype(float), np.nan)
    return out.reset_index(drop=True)


def dated(frame: pd.DataFrame, source: str = "history") -> bool:
    """False for a flat snapshot (history with every hand-over at one export time): no weekly view
    then. Live traffic is dated, each score at its time, even when a batch scored it all at once."""
    return source == "live" or frame["handed_over_at"].nunique() > 1


def rate(accepted: pd.Series) -> dict:
    """Leads, decided, accepted, acceptance and its 95% Wilson interval (NaN when none decided)."""
    decided = accepted.dropna()
    k, n = int(decided.sum()), len(decided)
    if n == 0:
        return dict(leads=len(accepted), decided=0, accepted=0, rate=np.nan, low=np.nan, high=np.nan)
    ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    return dict(leads=len(accepted), decided=n, accepted=k, rate=k / n, low=ci.low, high=ci.high)


def acceptance(frame: pd.DataFrame, by: list[str] | None = None, groups=GROUPS) -> pd.DataFrame:
    """Acceptance of each group (and of all model MQLs and all rule MQLs when `groups` is GROUPS),
    per value of the `by` columns when given. Columns: *by, who, leads, decided, accepted, rate,
    low, high."""
    pieces = {g: frame["group"] == g for g in groups}
    if list(groups) == GROUPS:
        pieces = {"model MQLs": frame["is_mql"].astype(bool), "rule MQLs": frame["rule_is_mql"].astype(bool), **pieces}
    rows = []
    parts = [((), frame)] if not by else frame.groupby(by, observed=True, sort=True)
    for key, part in parts:
        key = key if isinstance(key, tuple) else (key,)
        for name, mask in pieces.items():
            rows.append(
                {**dict(zip(by or [], key, strict=True)), "who": name, **rate(part.loc[mask[part.index], "accepted"])}
            )
    return pd.DataFrame(rows, columns=[*(by or []), "who", *RATE]).astype(
        {"leads": int, "decided": int, "accepted": int}
    )


def weekly(frame: pd.DataFrame) -> pd.DataFrame:
    """Week by week, for both / model only / rules only: the week's leads and acceptance, and the
    acceptance to date (every week up to this one) with its interval (`*_to_date` columns)."""
    table = acceptance(frame, by=["week"], groups=SENT)
    table = table.sort_values(["who", "week"], kind="stable")
    grouped = table.groupby("who", sort=False)
    table["decided_to_date"] = grouped["decided"].cumsum()
    table["accepted_to_date"] = grouped["accepted"].cumsum()
    intervals = [_wilson(k, n) for k, n in zip(table["accepted_to_date"], table["decided_to_date"], strict=True)]
    table[["rate_to_date", "low_to_date", "high_to_date"]] = intervals
    return table.sort_values(["week", "who"], key=_group_order, kind="stable").reset_index(drop=True)


def block_weeks(weekly: pd.DataFrame) -> int:
    """Weeks per row of the weekly table: the fewest (of `BLOCKS`) at which a row's leads that
    change hands are mostly enough to say (the median model-only and rules-only cell has
    `MIN_DECIDED` decided), but never so many that the table has fewer than four rows."""
    weeks = weekly["week"].nunique()
    allowed = [k for k in BLOCKS if k == 1 or weeks // k >= 4]
    for k in allowed:
        changing = blocks(weekly, k)
        if changing.loc[changing["who"].isin(CHANGING), "decided"].median() >= MIN_DECIDED:
            return k
    return allowed[-1]


def blocks(weekly: pd.DataFrame, k: int) -> pd.DataFrame:
    """`weekly` (one row per week and group) summed over blocks of `k` calendar weeks from the
    first: each block's first week (`week`), how many weeks of it hold hand-overs (`weeks`), then
    who and acceptance with its interval."""
    first = weekly["week"].min()
    block = ((weekly["week"] - first).dt.days // (7 * k)).rename("block")
    sums = {c: (c, "sum") for c in ("leads", "decided", "accepted")}
    summed = weekly.groupby([block, "who"], sort=False).agg(week=("week", "min"), weeks=("week", "nunique"), **sums)
    summed = summed.reset_index().sort_values(["block", "who"], key=_group_order, kind="stable")
    summed[["rate", "low", "high"]] = [
        _wilson(a, n) for a, n in zip(summed["accepted"], summed["decided"], strict=True)
    ]
    return summed[["week", "weeks", "who", *RATE]].reset_index(drop=True)


def _wilson(k: int, n: int) -> tuple[float, float, float]:
    if n == 0:
        return (np.nan, np.nan, np.nan)
    ci = binomtest(int(k), int(n)).proportion_ci(confidence_level=0.95, method="wilson")
    return (k / n, ci.low, ci.high)


def _group_order(column: pd.Series) -> pd.Series:
    return column.map(GROUPS.index) if column.name == "who" else column


def by_source_and_segment(frame: pd.DataFrame) -> pd.DataFrame:
    """Acceptance of the leads that change hands per segment and source; a segment's `source` is
    "all sources" on its total row, and segment "all segments" (when there are several) holds the
    totals per source. Segments and sources with the most changing leads come first."""
    changing = frame[frame["group"].isin(CHANGING)]
    parts = [
        acceptance(changing, ["segment", "source"], CHANGING),
        acceptance(changing, ["segment"], CHANGING).assign(source="all sources"),
    ]
    if changing["segment"].nunique() > 1:
        parts += [
            acceptance(changing, ["source"], CHANGING).assign(segment="all segments"),
            acceptance(changing, None, CHANGING).assign(segment="all segments", source="all sources"),
        ]
    table = pd.concat(parts, ignore_index=True)
    size = {"segment": changing["segment"].value_counts(), "source": changing["source"].value_counts()}
    order = table.assign(
        _seg=-table["segment"].map(size["segment"]).fillna(np.inf),
        _src=-table["source"].map(size["source"]).fillna(np.inf),
        _who=table["who"].map(GROUPS.index),
    )
    order = order.sort_values(["_seg", "segment", "_src", "source", "_who"], kind="stable")
    return order[["segment", "source", "who", *RATE]].reset_index(drop=True)


def rejection_reasons(frame: pd.DataFrame, groups=SENT) -> pd.DataFrame:
    """For each group: how many of its leads sales turned down (rejected or recycled) for each
    reason, and that reason's share of the group's turned-down leads. Columns: reason, who,
    count, share."""
    down = frame[frame["decision"].isin(["rejected", "recycled"]) & frame["group"].isin(groups)]
    counts = pd.crosstab(down["reason"].fillna("no reason given"), down["group"]).reindex(
        columns=list(groups), fill_value=0
    )
    table = counts.reset_index(names="reason").melt(id_vars="reason", var_name="who", value_name="count")
    totals = table.groupby("who")["count"].transform("sum")
    table["share"] = table["count"] / totals.where(totals > 0)
    table["_all"] = table.groupby("reason")["count"].transform("sum")
    return table.sort_values(["_all", "reason"], ascending=[False, True]).drop(columns="_all").reset_index(drop=True)


def capacity(frame: pd.DataFrame, per_week: int | None = None) -> tuple[int, str]:
    """Leads sales can take a week and whose figure it is: `per_week` ("given"), else the rules'
    own weekly MQL volume ("rules"), or the model's when the rules send no one ("model")."""
    if per_week:
        return int(per_week), "given"
    weeks = max(frame["week"].nunique(), 1)
    whose = "rules" if frame["rule_is_mql"].any() else "model"
    sent = frame["rule_is_mql" if whose == "rules" else "is_mql"].sum()
    return max(round(sent / weeks), 1), whose


def at_equal_volume(frame: pd.DataFrame, per_week: int) -> pd.DataFrame:
    """If sales can take `per_week` leads a week: the top ones by model probability vs by rule
    score, each week, and how many of them sales accepted (index: model, rules)."""
    rows = []
    for _, part in frame.groupby("week"):
        k = min(per_week, len(part))
        for who, column in (("model", "probability"), ("rules", "rule_score")):
            top = part.nlargest(k, column)
            rows.append(
                dict(who=who, sent=k, decided=int(top["accepted"].notna().sum()), accepted=int(top["accepted"].sum()))
            )
    table = (
        pd.DataFrame(rows, columns=["who", "sent", "decided", "accepted"])
        .groupby("who")[["sent", "decided", "accepted"]]
        .sum()
    )
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


def calibration(frame: pd.DataFrame, edges=(0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0)) -> pd.DataFrame:
    """Per band of the model's probability (`from`, `to`): decided leads and how many sales accepted."""
    decided = frame.dropna(subset=["accepted"])
    bands = pd.cut(decided["probability"], list(edges), include_lowest=True)
    rows = [
        {"from": max(band.left, 0.0), "to": band.right, **rate(part["accepted"])}
        for band, part in decided.groupby(bands, observed=True)
    ]
    return pd.DataFrame(rows, columns=["from", "to", *RATE])


def changed_hands(frame: pd.DataFrame, n: int = 10, random_state: int = 0) -> dict[str, pd.DataFrame]:
    """A sample of the leads only the model would send and of those only the rules would send,
    the likeliest first."""
    columns = [
        c
        for c in ("lead_id", "segment", "source", "probability", "rule_score", "decision", "reason", "top_reasons")
        if c in frame
    ]
    out = {}
    for group in CHANGING:
        part = frame[frame["group"] == group]
        sample = part.sample(min(n, len(part)), random_state=random_state)
        out[group] = sample.sort_values("probability", ascending=False)[columns].reset_index(drop=True)
    return out


def headline(frame: pd.DataFrame, per_week: int) -> dict:
    """The page's answer: acceptance of model-only and rules-only leads (and of those both send),
    whether the difference could be chance (Fisher's exact test), and at equal volume how many
    accepted leads a week the model gains or loses against the rules."""
    rates = acceptance(frame, groups=SENT).set_index("who")
    model, rules = rates.loc["model only"], rates.loc["rules only"]
    table = [
        [model["accepted"], model["decided"] - model["accepted"]],
        [rules["accepted"], rules["decided"] - rules["accepted"]],
    ]
    enough = min(model["decided"], rules["decided"]) >= MIN_DECIDED
    p_value = float(fisher_exact(table).pvalue) if model["decided"] and rules["decided"] else np.nan
    volume = at_equal_volume(frame, per_week)
    weeks = max(frame["week"].nunique(), 1)
    return {
        "rates": rates,
        "enough": bool(enough),
        "p_value": p_value,
        "weeks": weeks,
        "per_week": per_week,
        "equal_volume": volume,
        "gained_per_week": float(volume.loc["model", "accepted"] - volume.loc["rules", "accepted"]) / weeks,
        "changing_per_week": float(model["leads"] + rules["leads"]) / weeks,
        "handovers": len(frame),
    }


def summary(frame: pd.DataFrame) -> dict:
    """Volumes, overlap and acceptance of each method, as numbers."""
    rates = acceptance(frame).set_index("who")
    counts = frame["group"].value_counts().reindex(GROUPS, fill_value=0)
    return {
        "hand-overs": len(frame),
        "rule MQLs": int(frame["rule_is_mql"].sum()),
        "model MQLs": int(frame["is_mql"].sum()),
        **{k: int(v) for k, v in counts.items()},
        "rule MQL acceptance": float(rates.loc["rule MQLs", "rate"]),
        "model MQL acceptance": float(rates.loc["model MQLs", "rate"]),
    }
